"""Compile the model into the policies API Gateway enforces.

- `iam_policy(level, api_arn)`: the identity policy of the central access roles, for the
  `/api/*` methods (AWS_IAM). `managed_policies` cuts it into documents that each fit IAM's
  managed-policy limit, to attach side by side; together they decide exactly as it does.
- `authorizer_rules()`: the data the Lambda authorizer ships with, one Allow/Deny list per
  combination of levels, for every other path; `authorizer_policy` renders one of them.

Policies are sized as IAM counts them: characters of the JSON, whitespace excluded.
"""

import json
from itertools import combinations

from .levels import LEVELS, capabilities_of
from .model import rules_for

ACTION = "execute-api:Invoke"
INLINE_POLICY_LIMIT = 10_240  # all inline policies of one role together
MANAGED_POLICY_LIMIT = 6_144  # one managed policy


def policy_size(document: dict) -> int:
    text = json.dumps(document, separators=(",", ":"))
    return sum(1 for c in text if not c.isspace())


def _in_iam_scope(glob: str) -> bool:
    """Whether a glob concerns the `/api/*` methods (AWS_IAM); `*...` globs concern both."""
    return glob.startswith("*") or glob.split("/", 2)[1:2] == ["api"]


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


def _iam_globs(level: str):
    rules = rules_for(capabilities_of((level,)))
    allow = [g for g in rules.allow if _in_iam_scope(g)]
    deny = [g for g in rules.deny if _in_iam_scope(g)]
    return allow, deny


def iam_policy(level: str, api_arn: str) -> dict:
    """The identity policy for `level`: `execute-api:Invoke` on the `/api/*` routes it may call."""
    _check_api_arn(api_arn)
    allow, deny = _iam_globs(level)
    statements = [_statement("Deny", "DenyOutsideGrant", api_arn, deny)] if deny else []
    statements.append(_statement("Allow", "InvokeGrantedRoutes", api_arn, allow))
    return _document(statements)


def managed_policies(level: str, api_arn: str, limit: int = MANAGED_POLICY_LIMIT) -> list:
    """`iam_policy` cut into documents of at most `limit` characters, to attach together.

    The Deny statement goes into the first document: IAM applies an explicit Deny from any
    attached policy to the whole request, so one copy is enough.
    """
    whole = iam_policy(level, api_arn)
    deny = [s for s in whole["Statement"] if s["Effect"] == "Deny"]
    resources = next(s for s in whole["Statement"] if s["Effect"] == "Allow")["Resource"]
    documents, current = [], []

    def build(chunk, with_deny):
        allow = {"Sid": f"InvokeGrantedRoutes{len(documents) + 1}", "Effect": "Allow",
                 "Action": ACTION, "Resource": chunk}
        return _document((deny if with_deny else []) + [allow])

    for resource in resources:
        candidate = build(current + [resource], not documents)
        if current and policy_size(candidate) > limit:
            documents.append(build(current, not documents))
            current = [resource]
        else:
            current.append(resource)
    documents.append(build(current, not documents))
    for document in documents:
        if policy_size(document) > limit:
            raise ValueError(f"a policy for {level} exceeds {limit} characters even alone")
    return documents


def level_set_key(levels) -> str:
    """The key of a combination of levels in the authorizer's data: sorted, comma-separated."""
    return ",".join(sorted(set(levels)))


def authorizer_rules() -> dict:
    """Allow and Deny globs for every non-empty combination of levels, outside `/api/*`.

    The Lambda authorizer ships this (it imports neither this package nor MLflow) and renders
    the policy for a user's groups by prefixing each glob with the API's ARN.
    """
    data = {}
    for size in range(1, len(LEVELS) + 1):
        for combo in combinations(LEVELS, size):
            rules = rules_for(capabilities_of(combo))
            # Browser routes are everything AWS_IAM does not take; `*` globs apply to both.
            data[level_set_key(combo)] = {
                "allow": [g for g in rules.allow if g.startswith("*") or not _in_iam_scope(g)],
                "deny": [g for g in rules.deny if g.startswith("*") or not _in_iam_scope(g)],
            }
    return {"version": 1, "levels": list(LEVELS), "rules": data}


def render_authorizer_policy(rules: dict, api_arn: str) -> dict:
    statements = []
    if rules["deny"]:
        statements.append(_statement("Deny", "DenyOutsideGrant", api_arn, rules["deny"]))
    statements.append(_statement("Allow", "InvokeGrantedRoutes", api_arn, rules["allow"]))
    return _document(statements)


def authorizer_policy(levels, api_arn: str) -> dict:
    """The policy the Lambda authorizer returns for a user holding `levels`."""
    _check_api_arn(api_arn)
    return render_authorizer_policy(authorizer_rules()["rules"][level_set_key(levels)], api_arn)
