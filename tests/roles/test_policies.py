"""The compiled policies decide as the model does, proved by evaluating them."""

import itertools
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roles import (
    CATALOGUE,
    GRANTS,
    INLINE_POLICY_LIMIT,
    LEVELS,
    MANAGED_POLICY_LIMIT,
    allows,
    allows_any,
    authorizer_rules,
    iam_policy,
    managed_policies,
    policy_size,
)
from roles.globs import HOSTILE_GLOBS
from roles.levels import capabilities_of
from roles.mlflow_routes import resolve
from roles.policies import (
    API_ARN_PLACEHOLDER,
    HTTP_METHODS,
    LONGEST_API_ARN,
    anchors_of,
    level_set_key,
)
from roles.policy_eval import DENY, IMPLICIT_DENY, evaluate, invoke_allowed, wildcard_match

from tests.route_samples import SEGMENTS, samples

API_ARN = "arn:aws:execute-api:us-east-1:111111111111:abcde12345/prod"


def authorizer_policy(levels, api_arn, in_team=False):
    """What the Lambda returns for `levels`: its own renderer, on the data the archive ships
    (roles.authorizer_rules(), compiled when it is built)."""
    from authorizer.handler import render_policy

    data = authorizer_rules()["team_rules" if in_team else "rules"]
    return render_policy(data[level_set_key(levels)], api_arn)
CAPABILITY = {(r.method, r.path): r.capability for r in CATALOGUE}
SAMPLES = list(samples(CATALOGUE))
COMBOS = [c for n in range(1, len(LEVELS) + 1) for c in itertools.combinations(LEVELS, n)]


def arn(method, path):
    return f"{API_ARN}/{method}/{path[1:]}"


def is_iam_path(path):
    return path.startswith("/api/")


# --- the evaluator itself -----------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, text, expected",
    [
        ("a*c", "abc", True),
        ("a*c", "a/b/c", True),  # `*` crosses slashes in IAM
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("a*", "a", True),
        ("*b", "ab/", False),
        ("GET/api/x", "GET/api/X", False),  # case-sensitive
        ("*/api/*", "GET/ajax-api/x", False),
        ("a**c", "abbc", True),  # a run of stars is one star
        ("a**c", "ab", False),
        ("a*c", "a\nc", True),  # any character, a newline too
        ("a.c", "abc", False),  # only `*` and `?` are wildcards
        ("a[b]c", "a[b]c", True),
        ("", "", True),
        ("", "a", False),
    ],
)
def test_wildcard_match(pattern, text, expected):
    assert wildcard_match(pattern, text) is expected


def test_explicit_deny_wins_and_silence_denies():
    doc = {"Statement": [
        {"Effect": "Allow", "Action": "execute-api:*", "Resource": f"{API_ARN}/*"},
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": f"{API_ARN}/DELETE/*"},
    ]}
    assert invoke_allowed([doc], arn("GET", "/api/x"))
    assert evaluate([doc], "execute-api:Invoke", arn("DELETE", "/api/x")) == DENY
    assert evaluate([], "execute-api:Invoke", arn("GET", "/api/x")) == IMPLICIT_DENY


def test_not_resource_and_unknown_conditions():
    doc = {"Statement": {"Effect": "Allow", "Action": "*", "NotResource": f"{API_ARN}/POST/*"}}
    assert invoke_allowed([doc], arn("GET", "/api/x"))
    assert not invoke_allowed([doc], arn("POST", "/api/x"))
    odd = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                          "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020"}}}]}
    with pytest.raises(ValueError, match="not supported"):
        invoke_allowed([odd], arn("GET", "/api/x"))


# --- IAM policies of the central access roles (the /api/* methods) -------------------------


@pytest.mark.slow  # every route of the catalogue, every sample path
@pytest.mark.parametrize("level", LEVELS)
def test_iam_policy_decides_every_api_route_as_allows(level):
    single = [iam_policy(level, API_ARN)]
    managed = managed_policies(level, API_ARN)
    checked = 0
    for route, path in SAMPLES:
        resource = arn(route.method, path)
        if is_iam_path(path):
            expected = allows(level, route.method, path)
            assert invoke_allowed(single, resource) == expected, (route.method, path)
            assert invoke_allowed(managed, resource) == expected, (route.method, path)
            checked += 1
        else:
            # Browser routes never reach AWS_IAM methods; the identity policy grants none.
            assert not invoke_allowed(single, resource) or level == "admin"
    assert checked > 400


@pytest.mark.parametrize("level", LEVELS)
def test_policies_fit_iams_limits(level):
    documents = managed_policies(level, API_ARN)
    sizes = [policy_size(d) for d in documents]
    assert all(size <= MANAGED_POLICY_LIMIT for size in sizes), sizes
    # A role takes 10 managed policies by default; leave room for the S3 and KMS ones.
    assert len(documents) <= 4
    if level != "contributor":
        # Small enough to go inline too (the inline limit is per role, all policies together).
        assert policy_size(iam_policy(level, API_ARN)) <= INLINE_POLICY_LIMIT


def test_policy_size_ignores_whitespace():
    doc = {"Statement": [{"Effect": "Allow"}]}
    assert policy_size(doc) == len(json.dumps(doc).replace(" ", ""))


def test_admin_may_invoke_the_whole_api_but_hostile_shapes():
    doc = iam_policy("admin", API_ARN)
    assert invoke_allowed([doc], arn("DELETE", "/api/2.0/mlflow/registered-models/delete"))
    assert invoke_allowed([doc], arn("GET", "/api/9.0/mlflow/not-yet-classified"))
    assert not invoke_allowed([doc], arn("GET", "/api/2.0/mlflow/../x"))


@pytest.mark.parametrize("bad", ["abc123/prod", "arn:aws:s3:::bucket", "arn:aws:execute-api:x"])
def test_a_malformed_api_arn_is_refused(bad):
    with pytest.raises(ValueError, match="api_arn must look like"):
        iam_policy("reader", bad)


# --- the Lambda authorizer's policies (every other path) -----------------------------------


# Combinations of levels with the same capabilities (contributor and contributor+reader) get the
# same data (below): the route-by-route proof runs once per distinct grant.
_GRANTS = {}
for _in_team in (False, True):
    for _combo in COMBOS:
        _GRANTS.setdefault((_in_team, capabilities_of(_combo)), (_in_team, _combo))
GRANT_COMBOS = list(_GRANTS.values())


def test_combinations_of_the_same_capabilities_get_the_same_authorizer_policy():
    data = authorizer_rules()
    for in_team in (False, True):
        rules = data["team_rules" if in_team else "rules"]
        assert set(rules) == {level_set_key(c) for c in COMBOS}
        for combo in COMBOS:
            twin = next(c for t, c in GRANT_COMBOS
                        if t == in_team and capabilities_of(c) == capabilities_of(combo))
            assert rules[level_set_key(combo)] == rules[level_set_key(twin)], combo
    assert len(GRANT_COMBOS) == 10  # 5 grants, each held through a team or a platform group


@pytest.mark.parametrize("in_team, combo", GRANT_COMBOS,
                         ids=lambda v: ",".join(v) if isinstance(v, tuple) else
                         ("team" if v else "platform"))
def test_authorizer_policy_decides_every_browser_route_as_allows(in_team, combo):
    api_arn = LONGEST_API_ARN if in_team else API_ARN
    doc = [authorizer_policy(combo, api_arn, in_team)]
    checked = 0
    for route, path in SAMPLES:
        if not is_iam_path(path):
            resource = f"{api_arn}/{route.method}/{path[1:]}"
            assert invoke_allowed(doc, resource) == allows_any(
                combo, route.method, path, in_team), (combo, route.method, path)
            checked += 1
    assert checked > 700


def test_authorizer_policy_covers_the_whole_grant_not_one_path():
    # API Gateway caches the policy per token and reuses it for every path.
    doc = [authorizer_policy(("reader",), API_ARN)]
    assert invoke_allowed(doc, arn("GET", "/ajax-api/2.0/mlflow/experiments/get"))
    assert invoke_allowed(doc, arn("POST", "/graphql"))
    assert invoke_allowed(doc, arn("GET", "/get-artifact"))
    assert not invoke_allowed(doc, arn("POST", "/ajax-api/2.0/mlflow/runs/create"))


@pytest.mark.parametrize("in_team", [False, True], ids=["platform", "team"])
def test_every_authorizer_policy_fits_iams_inline_policy_size_with_the_longest_arn(in_team):
    """The whole grant of every combination of levels (tests/test_authorizer.py checks what
    the authorizer returns for every combination of groups)."""
    sizes = {level_set_key(c): policy_size(authorizer_policy(c, LONGEST_API_ARN, in_team))
             for c in COMBOS}
    assert max(sizes.values()) <= INLINE_POLICY_LIMIT, sizes
    # 8.3 K for a reader and 19.3 K for contributor+approver with the whole ARN on every route
    assert sizes["reader"] < 5_000 and sizes["contributor,model-approver"] < 10_000, sizes


def test_a_compact_policy_names_no_other_api_and_drops_the_arn_only_with_an_anchor():
    for key, rules in authorizer_rules()["team_rules"].items():
        anchors = anchors_of(rules)
        for resource in rules["allow"] + rules["deny"]:
            if resource in HOSTILE_GLOBS:
                continue  # no ARN holds one (roles.policies.compact_resources)
            if resource.startswith("*/"):
                # the route drops the ARN: its family's anchor refuses its text in a path
                assert any(resource[1:].startswith(a) for a in anchors), (key, resource)
            else:
                assert resource.startswith(API_ARN_PLACEHOLDER + "/"), (key, resource)
        for anchor in anchors:
            # /<METHOD>/<first segment>...: a method, then a literal segment of MLflow's
            method, first = anchor.split("/")[1:3]
            assert method in HTTP_METHODS and first and "*" not in anchor, anchor
    assert anchors_of(authorizer_rules()["team_rules"]["contributor"])  # the form is in use


def compact_widenings(rules):
    """Requests a compact resource `*/M/path` reaches besides its own route: its text after an
    ARN-like prefix in the path of a route the holder may not call (a delete of artifacts)."""
    for resource in rules["allow"]:
        if resource.startswith("*/"):
            text = resource[2:].replace("*", "x")
            yield "DELETE", f"/ajax-api/2.0/mlflow-artifacts/artifacts/a:abcde12345/prod/{text}"
            yield "GET", f"/x/{text}"


@pytest.mark.parametrize("combo", [("reader",), ("contributor",), ("model-approver",)],
                         ids=",".join)
def test_a_compact_routes_text_later_in_a_path_is_refused(combo):
    doc = [authorizer_policy(combo, API_ARN, in_team=True)]
    rules = authorizer_rules()["team_rules"][level_set_key(combo)]
    widenings = list(compact_widenings(rules))
    assert len(widenings) > 50
    for method, path in widenings:
        assert not allows_any(combo, method, path, in_team=True), path
        assert not invoke_allowed(doc, arn(method, path)), path
    # what the anchors cost: a path the model allows (an artifact under a folder spelled
    # GET/ajax-api) is refused too; refused, never allowed
    odd = "/ajax-api/2.0/mlflow-artifacts/artifacts/logs/GET/ajax-api/x.json"
    assert allows_any(combo, "GET", odd, in_team=True)
    assert not invoke_allowed(doc, arn("GET", odd))


# --- random and hostile paths ---------------------------------------------------------------

TRICKS = ["", ".", "..", "%2F", "%2f", "%2E%2E", "%5C", "API", "Api", "mlflow-artifacts",
          "mlflow", "mlflow-", "*", "?", "x" * 40]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "get", "OPTIONS", "HEAD"]


@st.composite
def hostile_paths(draw):
    route = draw(st.sampled_from(CATALOGUE))
    parts = route.path.replace("{", "").replace("}", "").split("/")
    mutation = draw(st.sampled_from(["append", "insert", "replace", "trailing", "random", "case"]))
    seg = st.sampled_from(SEGMENTS + TRICKS) | st.text(string.ascii_letters + "-._~%/", max_size=8)
    if mutation == "append":
        parts.append(draw(seg))
    elif mutation == "insert" and len(parts) > 1:
        parts.insert(draw(st.integers(1, len(parts) - 1)), draw(seg))
    elif mutation == "replace" and len(parts) > 1:
        parts[draw(st.integers(1, len(parts) - 1))] = draw(seg)
    elif mutation == "trailing":
        parts.append("")
    elif mutation == "case":
        parts = [p.upper() if draw(st.booleans()) else p for p in parts]
    else:
        parts = [""] + draw(st.lists(seg, min_size=1, max_size=7))
    path = "/".join(parts)
    if draw(st.booleans()):  # prefix tricks: the neighbour form of a route
        path = path.replace("/mlflow/", "/mlflow-artifacts/", 1)
    return draw(st.sampled_from(METHODS + [route.method] * 4)), path or "/"


NON_ADMIN = LEVELS[:-1]


def anchored(path, anchors):
    """Whether a request's subject holds one of a compact policy's anchors after its first
    character (roles.policies.compact_resources: refused whatever the model says)."""
    return any(a in path for a in anchors)


@st.composite
def anchored_paths(draw):
    """A hostile path, or a route's path with an anchor's text put into it."""
    method, path = draw(hostile_paths())
    if draw(st.booleans()):
        anchor = draw(st.sampled_from(["/GET/ajax-api/", "/POST/ajax-api/", "/DELETE/ajax-api/",
                                       "/PATCH/ajax-api/", "/PUT/ajax-api/", "/POST/gateway/"]))
        route = draw(st.sampled_from(CATALOGUE))
        tail = route.path.replace("{", "").replace("}", "").lstrip("/")
        cut = draw(st.integers(0, len(path)))
        path = path[:cut] + anchor.rstrip("/") + draw(st.sampled_from(["/", "/" + tail]))
    return method, path if path.startswith("/") else "/" + path


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=anchored_paths(), combo=st.sampled_from(COMBOS), in_team=st.booleans())
def test_a_compact_authorizer_policy_decides_as_the_model_or_refuses_an_anchor(
        request, combo, in_team):
    """Every combination of levels, on hostile paths and paths with an anchor's text: the policy
    never allows what the model refuses, and decides as the model wherever no anchor is."""
    method, path = request
    if is_iam_path(path):
        return  # AWS_IAM's: the authorizer's policy never judges it
    rules = authorizer_rules()["team_rules" if in_team else "rules"][level_set_key(combo)]
    allowed = invoke_allowed([authorizer_policy(combo, LONGEST_API_ARN, in_team)],
                             f"{LONGEST_API_ARN}/{method}/{path[1:]}")
    model = allows_any(combo, method, path, in_team)
    if anchored(f"{method}{path}", anchors_of(rules)):
        assert not allowed, (method, path)
    else:
        assert allowed == model, (method, path)


@pytest.mark.slow  # 1,500 hostile paths
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=hostile_paths(), level=st.sampled_from(NON_ADMIN))
def test_no_policy_allows_what_the_model_denies(request, level):
    method, path = request
    resource = arn(method, path)
    model = allows(level, method, path)
    if is_iam_path(path):
        assert invoke_allowed([iam_policy(level, API_ARN)], resource) == model
    else:
        assert invoke_allowed([authorizer_policy((level,), API_ARN)], resource) == model
    if model:
        # What the model lets through reaches only handlers of capabilities the level holds.
        resolved = resolve(method, path)
        assert resolved is None or CAPABILITY[(method, resolved)] in GRANTS[level], resolved


# --- a team's role: its own workspace's base path, nothing else -----------------------------

LONGEST_TEAM = "t" + "e" * 30 + "m"  # 32 characters, the longest name the config accepts


def is_sdk_path(path):
    return not path.startswith("/ajax-api/")


@pytest.mark.slow  # every route of the catalogue, every sample path
@pytest.mark.parametrize("level", LEVELS)
def test_a_team_policy_decides_every_sdk_route_under_its_base_path_as_the_model(level):
    managed = managed_policies(level, API_ARN, "team-a")
    checked = 0
    for route, path in SAMPLES:
        if not is_sdk_path(path):
            # The browser's spelling of a handler is no signed call's: refused for every
            # level, admin too (one rule for the channel, whatever the level)
            assert not invoke_allowed(managed, arn(route.method, "/team-a" + path)), path
            continue
        expected = allows_any((level,), route.method, path, in_team=True)
        assert invoke_allowed(managed, arn(route.method, "/team-a" + path)) == expected, (
            route.method, path)
        # another team's base path, MLflow's own paths (the default workspace), a prefix of
        # the name: never, whatever the route
        for other in ("/team-b" + path, path, "/team-ab" + path, "/team-" + path):
            assert not invoke_allowed(managed, arn(route.method, other)), other
        checked += 1
    assert checked > 250


def test_a_team_admins_everything_stays_inside_its_base_path():
    managed = managed_policies("admin", API_ARN, "team-a")
    for method in ("GET", "POST", "DELETE", "PATCH", "PUT"):
        assert invoke_allowed(managed, arn(method, "/team-a/api/2.0/mlflow/anything/new"))
        # a `*` in front of the team would reach this path of another team's; no glob has one
        assert not invoke_allowed(managed, arn(method, "/team-b/gateway/proxy/x/team-a/y"))
    assert not invoke_allowed(managed, arn("DELETE", "/team-a/api/3.0/mlflow/workspaces/team-b"))


@pytest.mark.parametrize("level", LEVELS)
def test_team_policies_fit_iams_limits_with_the_longest_team_name(level):
    long_arn = "arn:aws:execute-api:ap-southeast-2:111111111111:abcde12345/prod"
    documents = managed_policies(level, long_arn, LONGEST_TEAM)
    sizes = [policy_size(d) for d in documents]
    assert all(size <= MANAGED_POLICY_LIMIT for size in sizes), sizes
    # Own level plus reader in one shared workspace: within IAM's 10 managed policies a role
    # takes by default (the config refuses more sharing than fits).
    reader = managed_policies("reader", long_arn, LONGEST_TEAM)
    assert len(documents) + len(reader) <= 10, (len(documents), len(reader))


# --- an access role as deployed: shared managed policies, scoped by its inline Deny ---------

def role_documents(team, level, readable):
    """Every policy of the access role `team`/`level` reading `readable`, as the stacks and the
    sandbox attach them (spec.accounts), and its tags as IAM's context."""
    from spec.accounts import access_role_scope, invoke_policy_documents, invoke_policy_keys

    documents = [d for key in invoke_policy_keys(team, level, readable)
                 for d in invoke_policy_documents(key, API_ARN)]
    return documents + [access_role_scope(API_ARN, team, readable)], {
        "aws:PrincipalTag/team": team, "aws:PrincipalTag/level": level}


def role_model(team, level, readable, method, path):
    """The model's decision for one role: its level under its own base path, reader's under a
    shared one, nothing elsewhere."""
    first, _, rest = path[1:].partition("/")
    rest = "/" + rest
    if first == team:
        return allows_any((level,), method, rest, in_team=True)
    return first in readable and allows_any(("reader",), method, rest, in_team=True)


# own team of 6 characters, shared ones of 4 (a shared `?` set), 6 and 9 (2 or more longer than
# the shortest: reader's policies of their own)
MIXED = ("team-a", ("tm-c", "team-b", "team-long"))


@pytest.mark.slow  # every route of the catalogue under 8 base paths, for every level
@pytest.mark.parametrize("level", LEVELS)
def test_an_access_role_decides_every_sdk_route_of_every_workspace_as_the_model(level):
    from spec.accounts import invoke_policy_keys

    team, readable = MIXED
    # the shortest name scoped is 4: `?` runs of 4 and 5 only (6 could span `tm-c/x`)
    assert invoke_policy_keys(team, level, readable) == [
        ("own", level), ("shared", 4), ("workspace", "team-b"), ("workspace", "team-long")]
    documents, context = role_documents(team, level, readable)
    checked, per_route = 0, {}
    for route, path in SAMPLES:
        per_route[route] = per_route.get(route, 0) + 1
        if not is_sdk_path(path) or per_route[route] > 3:  # 3 samples a route: time
            continue
        # its own, each shared one, one not shared of the same length, a prefix of a name,
        # a segment put after a shared name (a `?` run or a `*` could span it), two segments
        for first in (team, *readable, "team-z", "tm-", "tm-c/x", "tm-c/ab", "team-b/x",
                      "team-a/x/y", "team-long/x"):
            full = f"/{first}{path}"
            assert invoke_allowed(documents, arn(route.method, full), context) == role_model(
                team, level, readable, route.method, full), (level, full)
            checked += 1
        # MLflow's own paths (the default workspace): never
        assert not invoke_allowed(documents, arn(route.method, path), context)
    assert checked > 250 * 11, checked


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("team", ["team-a", "${aws:PrincipalTag/team}"])
def test_the_browsers_spelling_is_denied_on_the_signed_channel_for_every_level(level, team):
    """One rule for `/<team>/ajax-api/...` signed, whatever the level: an explicit Deny in
    every level's policy (admin's everything included), every method; `/api` beside it and
    another segment holding the text are not touched by it."""
    context = {"aws:PrincipalTag/team": "team-a"}
    managed = managed_policies(level, API_ARN, team)
    for method in HTTP_METHODS:
        assert evaluate(managed, "execute-api:Invoke",
                        arn(method, "/team-a/ajax-api/2.0/mlflow/experiments/search"),
                        context) == DENY, method
    assert evaluate(managed, "execute-api:Invoke",
                    arn("GET", "/team-a/api/2.0/mlflow/experiments/search"), context) != DENY
    # an artifact whose path holds the text is judged by the level's grant, not this rule
    artifact = arn("GET", "/team-a/get-artifact/x/team-a/ajax-api/y")
    assert evaluate(managed, "execute-api:Invoke", artifact, context) != DENY
