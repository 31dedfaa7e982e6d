"""Compile the model into the policies API Gateway enforces.

- `iam_policy(level, api_arn, workspace)`: the identity policy of a team's central access role,
  for the team's own SigV4 resource `/<workspace>/*`: every route an SDK calls (all but the
  browser's `/ajax-api`), under the team's base path, and nothing outside it. Without a
  workspace: the `/api/*` methods (the platform's SigV4 door to the `default` workspace).
  `managed_policies` cuts it into documents that each fit IAM's managed-policy limit, to attach
  side by side; together they decide exactly as it does.
- `authorizer_rules()`: the data the Lambda authorizer ships with: for every combination of
  levels, the Deny and Allow resources of its policy for every other path, compiled here to
  fit IAM's inline-policy size (`compact_resources`), with the API's ARN left as a
  placeholder the authorizer fills in.

Policies are sized as IAM counts them: characters of the JSON, whitespace excluded.
"""

import copy
import functools
import json
import os
import re
from itertools import combinations

from .catalogue import BROWSER_PREFIX, SDK_PREFIX
from .globs import HOSTILE_GLOBS
from .levels import LEVELS, capabilities_of
from .model import rules_for

ACTION = "execute-api:Invoke"
INLINE_POLICY_LIMIT = 10_240  # all inline policies of one role together
MANAGED_POLICY_LIMIT = 6_144  # one managed policy


_WHITESPACE = re.compile(r"\s")  # what str.isspace() holds, as IAM leaves it out of the count


def policy_size(document: dict) -> int:
    return len(_WHITESPACE.sub("", json.dumps(document, separators=(",", ":"))))


def _first_segment(glob: str) -> str:
    """`/api` of `GET/api/2.0/...` (a glob is the method, then the path)."""
    return "/" + "".join(glob.split("/", 2)[1:2])


def _in_iam_scope(glob: str) -> bool:
    """Whether a glob concerns the SDK prefix's methods (`/api/*`, AWS_IAM); `*...` globs
    concern both."""
    return glob.startswith("*") or _first_segment(glob) == SDK_PREFIX


def _in_sdk_scope(glob: str) -> bool:
    """Whether a glob concerns what an SDK calls under a team's base path: everything but the
    browser's own spelling of the handlers (`/ajax-api`)."""
    return glob.startswith("*") or _first_segment(glob) != BROWSER_PREFIX


# Every HTTP method a route can have: admin's "everything" becomes one glob per method under the
# team's path, never `*/<team>/*` (whose leading `*` would also reach `/<other team>/x/<team>/y`).
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def in_workspace(glob: str, workspace: str) -> list:
    """A model glob (`METHOD/path`) moved under a team's base path: `METHOD/<team>/path`.
    Hostile shapes (`*...`) stay as they are: they are refused everywhere."""
    if glob == "*":
        return [f"{method}/{workspace}/*" for method in HTTP_METHODS]
    if glob.startswith("*"):
        return [glob]
    method, _, path = glob.partition("/")
    return [f"{method}/{workspace}/{path}"]


def _statement(effect: str, sid: str, api_arn: str, globs) -> dict:
    return {
        "Sid": sid,
        "Effect": effect,
        "Action": ACTION,
        "Resource": [f"{api_arn}/{g}" for g in globs],
    }


def _document(statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _check_api_arn(api_arn: str) -> None:
    parts = api_arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", parts[1], "execute-api"] or "/" not in parts[5]:
        raise ValueError(
            f"api_arn must look like arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE, "
            f"got {api_arn!r}"
        )


def _iam_globs(level: str, workspace: str = None):
    rules = rules_for(capabilities_of((level,)), in_team=workspace is not None)
    if workspace is None:
        return ([g for g in rules.allow if _in_iam_scope(g)],
                [g for g in rules.deny if _in_iam_scope(g)])
    allow = [w for g in rules.allow if _in_sdk_scope(g) for w in in_workspace(g, workspace)]
    # Every Deny, the browser's spelling too: admin's Allow reaches `/<team>/ajax-api/...` as
    # well, and MLflow serves the same handlers there.
    deny = [w for g in rules.deny for w in in_workspace(g, workspace)]
    # And the browser's spelling is not a signed call's, whatever the level: one Deny of it in
    # every level's policy (admin's `<METHOD>/<team>/*` would reach it; the others' Allows
    # never name it), so a signed `/<team>/ajax-api/...` is refused alike for every level.
    deny += browser_spelling_denied(workspace)
    return allow, deny


def browser_spelling_denied(workspace: str) -> list:
    """The globs of the browser's spelling of MLflow's API under a team's base path, every
    method: `GET/<team>/ajax-api/*`, ..."""
    return [f"{method}/{workspace}{BROWSER_PREFIX}/*" for method in HTTP_METHODS]


def iam_policy(level: str, api_arn: str, workspace: str = None) -> dict:
    """The identity policy for `level` in a team's workspace: `execute-api:Invoke` on the
    routes it may call under `/<workspace>/` (without a workspace: under `/api`)."""
    _check_api_arn(api_arn)
    allow, deny = _iam_globs(level, workspace)
    statements = [_statement("Deny", "DenyOutsideGrant", api_arn, deny)] if deny else []
    statements.append(_statement("Allow", "InvokeGrantedRoutes", api_arn, allow))
    return _document(statements)


def managed_policies(level: str, api_arn: str, workspace: str = None,
                     limit: int = MANAGED_POLICY_LIMIT) -> list:
    """`iam_policy` cut into documents of at most `limit` characters, to attach together.

    Deny resources come first, then Allow ones, packed in order: IAM applies an explicit Deny
    from any attached policy to the whole request, and an Allow from any, so the documents
    together decide as the whole does, however the resources fall between them.
    """
    # packing measures each candidate document (about 70 ms a call): compiled once per
    # arguments, handed out as copies
    return copy.deepcopy(_managed_policies(level, api_arn, workspace, limit))


@functools.lru_cache(maxsize=256)
def _managed_policies(level, api_arn, workspace, limit) -> list:
    whole = iam_policy(level, api_arn, workspace)
    items = [(s["Effect"], r) for s in whole["Statement"] for r in s["Resource"]]
    documents, current = [], []

    def build(chunk):
        statements = []
        for effect, sid in (("Deny", "DenyOutsideGrant"), ("Allow", "InvokeGrantedRoutes")):
            resources = [r for e, r in chunk if e == effect]
            if resources:
                statements.append({"Sid": f"{sid}{len(documents) + 1}", "Effect": effect,
                                   "Action": ACTION, "Resource": resources})
        return _document(statements)

    for item in items:
        if current and policy_size(build(current + [item])) > limit:
            documents.append(build(current))
            current = [item]
        else:
            current.append(item)
    documents.append(build(current))
    for document in documents:
        if policy_size(document) > limit:
            raise ValueError(f"a policy for {level} exceeds {limit} characters even alone")
    return documents


def workspace_scope(api_arn: str, own: str, readable=(), *, team_key: str) -> dict:
    """The Deny that keeps an access role inside its own workspace (every method) and the
    workspaces shared with it (the reader's methods): `execute-api:Invoke` on anything else is
    refused, whatever an attached policy allows. It lets the Allows be shared by every role:
    its own level's by `${aws:PrincipalTag/team}`, the reader's of shared workspaces by the
    names' length (`?` per character: one segment, never `*`, which crosses `/`). Methods are
    spelled out: `*/<team>/*` would also exclude `GET/<other>/x/<team>/y` from the Deny.
    Grows by one line per method and workspace: an inline policy of its role. And it refuses
    everything unless the condition key `team_key` (the role's team tag) names `own`: a role
    that lost its tag, or got another team's, reaches nothing, though the trust already
    refuses session tags."""
    _check_api_arn(api_arn)
    reader_methods = sorted({g.partition("/")[0] for g in _iam_globs("reader", "w")[0]})
    not_resources = ([f"{api_arn}/{m}/{own}/*" for m in HTTP_METHODS]
                     + [f"{api_arn}/{m}/{w}/*" for w in readable for m in reader_methods])
    return _document([{"Sid": "OnlyOwnAndSharedWorkspaces", "Effect": "Deny", "Action": ACTION,
                       "NotResource": not_resources},
                      {"Sid": "OnlyAsItsOwnTeam", "Effect": "Deny", "Action": ACTION,
                       "Resource": "*", "Condition": {"StringNotEquals": {team_key: own}}}])


def level_set_key(levels) -> str:
    """The key of a combination of levels in the authorizer's data: sorted, comma-separated."""
    return ",".join(sorted(set(levels)))


# The authorizer's data names the API by this placeholder; the authorizer puts in the ARN of
# the API that called it (`arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE`).
API_ARN_PLACEHOLDER = "<api-arn>"
# The longest ARN an API of a stack can have (GovCloud's partition and region, a real API id
# and account): the authorizer's policies are sized, and their form chosen, for it.
LONGEST_API_ARN = "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abcde12345/prod"


def _family(glob: str):
    """(method, first path segment) of a route glob, or None for a glob that is not one route's
    (`*`, the hostile shapes) or whose family would be the root's (`GET/`)."""
    method, _, path = glob.partition("/")
    first = path.split("/", 1)[0]
    if not method or "*" in method or not first or "*" in first:
        return None
    return method, first


def _entry_size(resource: str) -> int:
    return len(resource) + 3  # its quotes and the comma between entries


def compact_resources(allow, deny, reference_arn: str = LONGEST_API_ARN) -> dict:
    """The Deny and Allow resources of an authorizer policy that decides as the model's
    `allow`/`deny` globs do, at most about half their size. Every resource is a template:
    API_ARN_PLACEHOLDER stands for the API's ARN.

    A resource is normally `<api-arn>/<glob>`: the ARN (up to 70 characters) then costs more
    than the route itself, for each of the ~190 routes of a contributor. So the routes of one
    family (one method, one first path segment: `GET/ajax-api/...`) may drop it instead and
    start with `*/` (`*/GET/ajax-api/2.0/mlflow/runs/get`), whenever that is shorter. A leading
    `*` could match the family's text later in a path too (`POST /x/GET/ajax-api/...`), so
    each such family comes with one Deny, its anchor: `<api-arn>/*/GET/ajax-api/*`, every
    request whose path contains `/GET/ajax-api/` after its first character. The policy then
    decides every request exactly as the model's globs do, except one whose path contains an
    anchor (a path segment spelled as an HTTP method followed by the family's first segment,
    e.g. an artifact file `GET/ajax-api/x`), which it refuses: no route is widened, and what
    changes is refused, never allowed. Why it is exact: `*/GET/ajax-api/...` matches
    `<api-arn>/<method>/<path>` only where `/GET/ajax-api/` occurs, that is at the method (the
    full resource's match), in the path (the anchor's), or in the ARN (never: its stage is no
    method; the authorizer checks).

    The hostile shapes (`*//*`, `*%2F*`, ...) need no ARN: no API's ARN contains one, so a bare
    `*//*` matches exactly the requests `<api-arn>/*//*` does.
    """
    families = {}
    for glob in (*allow, *deny):
        key = _family(glob)
        if key is not None:
            families.setdefault(key, []).append(glob)
    anchors = {}
    for key, globs in families.items():
        anchor = os.path.commonprefix(globs).split("*", 1)[0]  # the family's literal start
        full = sum(_entry_size(f"{reference_arn}/{g}") for g in globs)
        compact = (sum(_entry_size(f"*/{g}") for g in globs)
                   + _entry_size(f"{reference_arn}/*/{anchor}*"))
        if compact < full:
            anchors[key] = anchor

    def resource(glob):
        if glob in HOSTILE_GLOBS:
            return glob
        if _family(glob) in anchors:
            return f"*/{glob}"
        return f"{API_ARN_PLACEHOLDER}/{glob}"

    deny = ([resource(g) for g in deny if g in HOSTILE_GLOBS]
            + [f"{API_ARN_PLACEHOLDER}/*/{a}*" for a in anchors.values()]
            + [resource(g) for g in deny if g not in HOSTILE_GLOBS])
    return {"deny": list(dict.fromkeys(deny)), "allow": [resource(g) for g in allow]}


def anchors_of(resources: dict) -> list:
    """The anchors of a compacted policy: the path texts (`/GET/ajax-api/`) it refuses
    wherever they occur after a request's first character."""
    prefix = f"{API_ARN_PLACEHOLDER}/*"
    return [r[len(prefix):-1] for r in resources["deny"] if r.startswith(prefix + "/")]


def authorizer_rules() -> dict:
    """The Deny and Allow resources for every non-empty combination of levels, outside
    `/api/*` (`compact_resources`).

    The Lambda authorizer ships this (it imports neither this package nor MLflow) and renders
    the policy for a user's groups by putting the API's ARN in place of API_ARN_PLACEHOLDER.
    """
    return copy.deepcopy(_authorizer_rules())


@functools.lru_cache(maxsize=1)
def _authorizer_rules() -> dict:
    data, team = {}, {}
    for size in range(1, len(LEVELS) + 1):
        for combo in combinations(LEVELS, size):
            for out, in_team in ((data, False), (team, True)):
                rules = rules_for(capabilities_of(combo), in_team)
                # Browser routes are everything AWS_IAM does not take; `*` globs apply to both.
                out[level_set_key(combo)] = compact_resources(
                    [g for g in rules.allow if g.startswith("*") or not _in_iam_scope(g)],
                    [g for g in rules.deny if g.startswith("*") or not _in_iam_scope(g)])
    # "rules": a platform group's levels; "team_rules": levels held in a team's workspace.
    return {"version": 2, "levels": list(LEVELS), "api_arn_placeholder": API_ARN_PLACEHOLDER,
            "rules": data, "team_rules": team}
