"""The Lambda authorizer: real RS256 keys, a JWKS over HTTP, real tokens, and the attack list."""

import base64
import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.build import WORKSPACES_FILE, write_data
from authorizer.handler import Authorizer, api_arn_of, bearer_token, from_environment
from authorizer.tokens import JwksCache, TokenVerifier
from roles import allows_any, authorizer_rules
from roles.policy_eval import invoke_allowed

from tests.cognito_keys import CLIENT_ID, ISSUER, POOL_ID, Pool, SigningKey
from tests.markers import needs

API_ARN = "arn:aws:execute-api:us-east-1:111111111111:abcde12345/prod"
RULES = authorizer_rules()


@pytest.fixture()
@needs("server")  # the pool's JWKS over HTTP on 127.0.0.1
def pool():
    p = Pool()
    yield p
    p.close()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# Most tests here are about tokens: their groups hold a level in every workspace, as a
# platform team's would. The workspace tests below use team groups (`team-a:reader`).
GLOBAL_GROUPS = {"admins": "admin", "model-approvers": "model-approver",
                 "contributors": "contributor", "readers": "reader"}
WORKSPACES = {"team-a": [], "team-b": ["team-a"], "team-c": []}  # team-b lets team-a read


def make_authorizer(pool, uses=("id",), clock=None, interval=60.0, groups=None,
                    workspaces=None):
    jwks = JwksCache(pool.jwks_url, refetch_interval=interval, clock=clock or FakeClock())
    verifier = TokenVerifier(issuer=ISSUER, client_ids=[CLIENT_ID], jwks=jwks, token_uses=uses,
                             leeway=5)
    return Authorizer(verifier, RULES, GLOBAL_GROUPS if groups is None else groups,
                      WORKSPACES if workspaces is None else workspaces)


def event(token=None, path="/ajax-api/2.0/mlflow/experiments/get", method="GET", header="Authorization",
          prefix="Bearer ", query=None, workspace="team-a"):
    headers = {"Host": "abcde12345.execute-api.us-east-1.amazonaws.com"}
    if token is not None:
        headers[header] = f"{prefix}{token}"
    if workspace is not None:
        headers["X-MLFLOW-WORKSPACE"] = workspace
    return {
        "type": "REQUEST",
        "methodArn": f"{API_ARN}/{method}/{path[1:]}",
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "queryStringParameters": query or {},
        "requestContext": {"httpMethod": method, "path": f"/prod{path}", "stage": "prod"},
    }


def assert_401(authorizer, ev):
    with pytest.raises(Exception) as caught:
        authorizer.authorize(ev)
    assert str(caught.value) == "Unauthorized"


def may(response, method, path):
    return invoke_allowed([response["policyDocument"]], f"{API_ARN}/{method}/{path[1:]}")


def assert_403(response):
    # A Deny for every path: API Gateway answers 403 whatever is asked with this token.
    for method, path in [("GET", "/ajax-api/2.0/mlflow/experiments/get"), ("POST", "/graphql"),
                         ("GET", "/health")]:
        assert not may(response, method, path)


# --- the happy path -------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Authorization", "authorization", "AUTHORIZATION"])
@pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", ""])
def test_a_valid_token_gets_its_levels_grant(pool, header, prefix):
    response = make_authorizer(pool).authorize(event(pool.token(), header=header, prefix=prefix))
    assert response["principalId"] == "alice"
    assert response["context"] == {"username": "alice", "groups": "readers", "levels": "reader",
                                   "workspace": "team-a"}
    assert may(response, "GET", "/ajax-api/2.0/mlflow/experiments/get")
    assert not may(response, "POST", "/ajax-api/2.0/mlflow/experiments/create")


def test_the_policy_is_the_whole_grant_for_any_requested_path(pool):
    authorizer = make_authorizer(pool)
    token = pool.token(groups=["contributors"])
    a = authorizer.authorize(event(token, path="/graphql", method="POST"))
    b = authorizer.authorize(event(token, path="/get-artifact"))
    assert a["policyDocument"] == b["policyDocument"]
    for route in [("POST", "/ajax-api/2.0/mlflow/runs/create"), ("GET", "/get-artifact"),
                  ("POST", "/ajax-api/2.0/mlflow/registered-models/create")]:
        assert may(a, *route) == allows_any(("contributor",), *route)


def test_access_tokens_when_configured(pool):
    authorizer = make_authorizer(pool, uses=("access",))
    response = authorizer.authorize(event(pool.token(use="access", username="bob")))
    assert response["principalId"] == "bob"


def test_several_groups_get_the_union(pool):
    response = make_authorizer(pool).authorize(
        event(pool.token(groups=["readers", "model-approvers", "contributors"]))
    )
    assert response["context"]["levels"] == "reader,contributor,model-approver"
    assert may(response, "POST", "/ajax-api/2.0/mlflow/runs/create")
    assert may(response, "POST", "/ajax-api/2.0/mlflow/model-versions/create")
    assert not may(response, "DELETE", "/ajax-api/2.0/mlflow/registered-models/delete")


@pytest.mark.parametrize("groups", [[], ["interns"], None])
def test_no_group_or_unknown_groups_get_an_explicit_deny(pool, groups):
    assert_403(make_authorizer(pool).authorize(event(pool.token(groups=groups))))


def test_group_mapping_is_configurable(pool):
    authorizer = make_authorizer(pool, groups={"ml-platform": "admin"})
    response = authorizer.authorize(event(pool.token(groups=["ml-platform", "readers"])))
    assert response["context"]["levels"] == "admin"
    with pytest.raises(ValueError, match="unknown levels"):
        make_authorizer(pool, groups={"x": "owner"})


# --- the attack list ------------------------------------------------------------------------


def test_alg_none(pool):
    token = jwt.encode(pool.claims(groups=["admins"]), None, algorithm="none",
                       headers={"kid": "key-1"})
    assert_401(make_authorizer(pool), event(token))


def test_hs256_signed_with_the_rsa_public_key(pool):
    public_pem = pool.keys[0].private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = base64.urlsafe_b64encode(json.dumps(
        {"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(
        pool.claims(groups=["admins"])).encode()).rstrip(b"=")
    import hashlib
    import hmac
    signature = base64.urlsafe_b64encode(
        hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()).rstrip(b"=")
    assert_401(make_authorizer(pool), event((header + b"." + payload + b"." + signature).decode()))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1_000_000},  # expired long ago
        {"nbf": 4_000_000_000},  # not yet valid
        {"iat": 4_000_000_000},  # issued in the future
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"},
        {"iss": ISSUER + "/"},
        {"aud": "another-client"},
        {"token_use": "refresh"},
        {"exp": None},
    ],
    ids=["expired", "not-yet-valid", "iat-future", "foreign-issuer", "issuer-suffix",
         "wrong-audience", "wrong-use", "no-exp"],
)
def test_bad_claims(pool, claims):
    assert_401(make_authorizer(pool), event(pool.token(**claims)))


def test_wrong_client_of_an_access_token(pool):
    authorizer = make_authorizer(pool, uses=("access",))
    assert_401(authorizer, event(pool.token(use="access", client_id="another-client")))


def test_access_token_where_id_is_required_and_the_reverse(pool):
    assert_401(make_authorizer(pool, uses=("id",)), event(pool.token(use="access")))
    assert_401(make_authorizer(pool, uses=("access",)), event(pool.token(use="id")))


def test_unknown_kid(pool):
    stranger = SigningKey("key-unknown")
    assert_401(make_authorizer(pool), event(pool.token(key=stranger)))


def test_a_key_of_another_pool_with_a_known_kid(pool):
    impostor = SigningKey("key-1")  # same kid, different key
    assert_401(make_authorizer(pool), event(pool.token(key=impostor, groups=["admins"])))


def test_tampered_payload(pool):
    header, payload, signature = pool.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["admins"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_401(make_authorizer(pool), event(f"{header}.{forged}.{signature}"))


@pytest.mark.parametrize("header", [
    {"crit": ["exp"]},  # a parameter the verifier must understand or refuse (RFC 7515 4.1.11)
    {"b64": False},  # an unencoded payload (RFC 7797): read as base64url it would be misread
    {"jku": "https://evil.example/jwks.json"},  # keys from elsewhere are never fetched
])
def test_a_signed_token_whose_header_changes_how_it_is_read_is_refused(pool, header):
    assert_401(make_authorizer(pool), event(pool.token(headers=header, groups=["admins"])))


@pytest.mark.parametrize("mangle", [
    lambda t: t + "=",  # padding is not base64url in a JWS
    lambda t: t.replace("-", "+").replace("_", "/"),  # base64, not base64url
    lambda t: t + ".x",  # four segments
    lambda t: "." + t.split(".", 1)[1],  # no header
    lambda t: t.replace(".", "..", 1),  # an empty segment
], ids=["padding", "plain-base64", "four-segments", "no-header", "empty-segment"])
def test_a_token_that_is_not_compact_base64url_is_refused(pool, mangle):
    token = pool.token(groups=["admins"])
    while "-" not in token and "_" not in token:  # so that plain base64 differs from it
        token = pool.token(groups=["admins"])
    assert_401(make_authorizer(pool), event(mangle(token)))


@pytest.mark.parametrize("cut", [10, 100, -5])
def test_truncated_token(pool, cut):
    assert_401(make_authorizer(pool), event(pool.token()[:cut]))


def test_token_in_the_query_string_instead_of_the_header(pool):
    assert_401(make_authorizer(pool), event(None, query={"token": pool.token(),
                                                         "Authorization": pool.token()}))


def test_groups_as_a_string_are_no_groups(pool):
    assert_403(make_authorizer(pool).authorize(event(pool.token(groups="admins"))))


def test_an_admin_group_in_another_claim_is_ignored(pool):
    token = pool.token(groups=["readers"], extra={"custom:groups": ["admins"], "groups": ["admins"],
                                                  "cognito:roles": ["admins"]})
    response = make_authorizer(pool).authorize(event(token))
    assert response["context"]["levels"] == "reader"
    assert not may(response, "GET", "/ajax-api/2.0/mlflow/webhooks")


def test_an_oversized_header(pool):
    assert_401(make_authorizer(pool), event(pool.token() + "A" * 10_000))
    assert_401(make_authorizer(pool), event("x" * 100_000))


def test_two_authorization_headers_in_different_cases(pool):
    ev = event(pool.token(groups=["readers"]))
    ev["headers"]["authorization"] = "Bearer " + pool.token(groups=["admins"])
    assert_401(make_authorizer(pool), ev)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=15), inner, max_size=4), max_leaves=20))
def test_no_input_makes_anything_but_a_decision_or_a_401(garbage):
    # A module-level JWKS that is never reachable: the shape of the input is what is tested.
    verifier = TokenVerifier(issuer=ISSUER, client_ids=[CLIENT_ID],
                             jwks=JwksCache("http://127.0.0.1:9/none", fetch=_unreachable))
    authorizer = Authorizer(verifier, RULES, GLOBAL_GROUPS)
    for ev in (garbage, {"methodArn": f"{API_ARN}/GET/x", "headers": garbage},
               {"methodArn": garbage, "headers": {"Authorization": "Bearer a.b.c"}}):
        try:
            response = authorizer.authorize(ev)
        except Exception as e:
            assert str(e) == "Unauthorized"
        else:
            raise AssertionError(f"allowed garbage: {response}")


def _unreachable(url):
    raise OSError("unreachable")


# --- JWKS caching and key rotation ----------------------------------------------------------


def test_jwks_is_fetched_once_and_cached(pool):
    authorizer = make_authorizer(pool)
    for _ in range(20):
        authorizer.authorize(event(pool.token()))
    assert pool.fetches == 1


def test_key_rotation_is_accepted_after_one_refetch(pool):
    clock = FakeClock()
    authorizer = make_authorizer(pool, clock=clock, interval=60)
    authorizer.authorize(event(pool.token()))
    new_key = SigningKey("key-2")
    pool.keys.append(new_key)
    clock.now += 61
    response = authorizer.authorize(event(pool.token(key=new_key)))
    assert response["principalId"] == "alice"
    assert pool.fetches == 2


def test_refetch_is_rate_limited_under_a_flood_of_unknown_kids(pool):
    clock = FakeClock()
    authorizer = make_authorizer(pool, clock=clock, interval=60)
    authorizer.authorize(event(pool.token()))
    for i in range(200):
        assert_401(authorizer, event(pool.token(key=SigningKey(f"made-up-{i % 3}"))
                                     if i < 3 else pool.token(headers={"kid": f"made-up-{i}"})))
        clock.now += 0.1
    assert pool.fetches == 1  # 20 s of flood, inside the 60 s interval: no refetch at all
    clock.now += 60
    assert_401(authorizer, event(pool.token(headers={"kid": "made-up-late"})))
    assert pool.fetches == 2


def test_cached_keys_keep_working_when_the_jwks_endpoint_is_down(pool):
    clock = FakeClock()
    authorizer = make_authorizer(pool, clock=clock)
    authorizer.authorize(event(pool.token()))
    pool.down = True
    clock.now += 3600
    assert authorizer.authorize(event(pool.token()))["principalId"] == "alice"
    assert_401(authorizer, event(pool.token(key=SigningKey("key-3"))))


def test_a_cold_start_with_the_endpoint_down_refuses(pool):
    pool.down = True
    assert_401(make_authorizer(pool), event(pool.token()))


# --- logging, configuration, helpers --------------------------------------------------------


def test_one_structured_log_line_per_decision_and_never_the_token(pool, caplog):
    caplog.set_level(logging.INFO, logger="authorizer")
    authorizer = make_authorizer(pool)
    good, bad = pool.token(), pool.token(exp=1_000_000)
    authorizer.authorize(event(good))
    with pytest.raises(Exception):
        authorizer.authorize(event(bad))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "authorizer"]
    assert [(line["user"], line["decision"]) for line in lines] == [
        ("alice", "allow"), (None, "unauthorized")]
    assert lines[0]["levels"] == ["reader"]
    assert good not in caplog.text and bad not in caplog.text
    assert good.split(".")[2] not in caplog.text


def _failures(caplog):
    """The lines the stack's alarm counts: those with a `failure` field
    (components/monitoring.py's metric filter, `{ $.failure = "*" }`)."""
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "authorizer"]
    return [line for line in lines if "failure" in line]


def test_only_the_authorizers_own_failures_are_marked_for_the_alarm(pool, caplog,
                                                                    monkeypatch):
    from components.monitoring import AUTHORIZER_FAILURE_PATTERN

    assert AUTHORIZER_FAILURE_PATTERN == '{ $.failure = "*" }'
    caplog.set_level(logging.INFO, logger="authorizer")
    authorizer = make_authorizer(pool)
    for token in (pool.token(exp=1_000_000), "not.a.token", pool.token(aud="someone-else")):
        with pytest.raises(Exception, match="Unauthorized"):
            authorizer.authorize(event(token))
    assert _failures(caplog) == []  # refused tokens: the callers' doing
    # the user pool's keys unreachable: one failure line, and the token refused
    pool.down = True
    with pytest.raises(Exception, match="Unauthorized"):
        make_authorizer(pool).authorize(event(pool.token()))
    [jwks] = _failures(caplog)
    assert jwks["failure"] == "jwks" and "signing keys unavailable" in jwks["reason"]
    # a configuration error at cold start, and an internal error
    import authorizer.handler as handler_module
    monkeypatch.setattr(handler_module, "_authorizer", None)
    monkeypatch.delenv("USER_POOL_ID", raising=False)
    with pytest.raises(Exception, match="Unauthorized"):
        handler_module.handler(event(pool.token()))
    # an event API Gateway never sends (no methodArn): the authorizer's wiring is wrong
    with pytest.raises(Exception, match="Unauthorized"):
        authorizer.authorize({"headers": {"Authorization": f"Bearer {pool.token()}"}})
    assert [line["failure"] for line in _failures(caplog)] == ["jwks", "configuration",
                                                               "internal"]
    assert _failures(caplog)[-1]["reason"] == "error: ValueError"


def test_configuration_from_the_environment_and_the_archives_data(pool, tmp_path):
    # the data files as the archive holds them, written by the archive's own builder
    data = write_data(RULES, {"team-a": [], "team-b": ["team-a"]}, tmp_path / "data")
    env = {"AWS_REGION": "us-east-1", "USER_POOL_ID": POOL_ID, "APP_CLIENT_IDS": f" {CLIENT_ID} ",
           "JWKS_URL": pool.jwks_url, "GROUP_LEVELS": json.dumps({"readers": "reader"})}
    authorizer = from_environment(env, data)
    assert authorizer.authorize(event(pool.token()))["context"]["levels"] == "reader"
    team_b_user = pool.token(groups=["team-b:contributor"])
    assert authorizer.authorize(event(team_b_user, workspace="team-b"))["context"]["levels"] == \
        "contributor"
    assert authorizer.authorize(event(team_b_user))["context"]["levels"] == ""  # not shared
    # the teams come from the archive, never from the environment (4 KB in all)
    stale = {**env, "WORKSPACES": json.dumps({"team-a": [], "team-c": []})}
    assert set(from_environment(stale, data).workspaces) == {"team-a", "team-b"}
    (data / WORKSPACES_FILE).write_text(json.dumps({"team-a": ["team-x"]}))
    with pytest.raises(ValueError, match="WORKSPACES names unknown or reserved teams"):
        from_environment(env, data)
    (data / WORKSPACES_FILE).write_text(json.dumps(["team-a"]))
    with pytest.raises(ValueError, match="JSON object of teams"):
        from_environment(env, data)
    (data / WORKSPACES_FILE).unlink()
    with pytest.raises(FileNotFoundError):
        from_environment(env, data)
    data = write_data(RULES, {"team-a": []}, tmp_path / "data")
    for name in ("APP_CLIENT_IDS", "GROUP_LEVELS"):  # the stack always sets both
        with pytest.raises(ValueError, match=f"environment variable {name} is required"):
            from_environment({k: v for k, v in env.items() if k != name}, data)
    with pytest.raises(ValueError, match="token_uses"):
        from_environment({**env, "TOKEN_USE": "refresh"}, data)
    old = {**RULES, "api_arn_placeholder": None}  # the globs of an older archive's format
    with pytest.raises(ValueError, match="rebuild the archive"):
        from_environment(env, write_data(old, {"team-a": []}, tmp_path / "old"))


def test_a_cold_start_with_bad_data_refuses_everyone_with_a_401(pool, tmp_path, monkeypatch):
    from authorizer import handler

    env = {"AWS_REGION": "us-east-1", "USER_POOL_ID": POOL_ID, "APP_CLIENT_IDS": CLIENT_ID,
           "JWKS_URL": pool.jwks_url, "GROUP_LEVELS": json.dumps(GLOBAL_GROUPS)}
    monkeypatch.setattr(handler, "_authorizer", None)
    # the Lambda's environment, and a data folder without the data files
    monkeypatch.setattr(handler.from_environment, "__defaults__", (env, tmp_path))
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler.handler(event(pool.token()))
    write_data(RULES, WORKSPACES, tmp_path)
    response = handler.handler(event(pool.token(groups=["team-a:reader"])))
    assert response["context"]["levels"] == "reader"


def test_issuer_and_jwks_url_derive_from_region_and_pool():
    from authorizer.tokens import cognito_issuer, cognito_jwks_url
    assert cognito_issuer("eu-west-1", "eu-west-1_Abc") == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc")
    assert cognito_jwks_url("eu-west-1", "eu-west-1_Abc").endswith(
        "eu-west-1_Abc/.well-known/jwks.json")


def test_helpers():
    assert api_arn_of(f"{API_ARN}/GET/ajax-api/x") == API_ARN
    with pytest.raises(ValueError):
        api_arn_of("arn:aws:s3:::bucket/x/y")
    # An API's ARN the compact policies can be put on: no method or path text in it (a stage
    # named like a method would let `*/GET/...` match at the stage; roles.compact_resources)
    for bad in ("arn:aws:execute-api:us-east-1:111111111111:abcde12345/GET/GET/x",
                "arn:aws:execute-api:us-east-1:111111111111:abc//prod/GET/x",
                "arn:aws:execute-api:us-east-1:111111111111:abc%2F/prod/GET/x",
                "arn:aws:execute-api:us-east-1:11111:abcde12345/prod/GET/x",
                "arn:aws:execute-api:us-east-1:111111111111:a.b/prod/GET/x"):
        with pytest.raises(ValueError):
            api_arn_of(bad)
    assert api_arn_of("arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:a1b2c3d4e5/v2_x-y"
                      "/POST/ajax-api") == ("arn:aws-us-gov:execute-api:us-gov-west-1:"
                                            "123456789012:a1b2c3d4e5/v2_x-y")
    assert bearer_token({"headers": {"aUtHoRiZaTiOn": "Bearer  abc "}}) == "abc"
    assert bearer_token({"headers": None}) is None


class WallClock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now):
        self.now = float(now)

    def __call__(self):
        return self.now


def timed_authorizer(pool, clock, min_remaining):
    jwks = JwksCache(pool.jwks_url, clock=FakeClock())
    verifier = TokenVerifier(issuer=ISSUER, client_ids=[CLIENT_ID], jwks=jwks, leeway=5,
                             min_remaining=min_remaining, clock=clock)
    return Authorizer(verifier, RULES, GLOBAL_GROUPS)


def test_a_token_is_good_until_its_expiry_plus_the_leeway_and_no_longer(pool):
    token = pool.token(iat=1_000_000, exp=1_000_600)  # a ten-minute token
    clock = WallClock(1_000_000)
    authorizer = timed_authorizer(pool, clock, min_remaining=0)
    for now in (1_000_000, 1_000_600, 1_000_605):
        clock.now = now
        assert authorizer.authorize(event(token))["context"]["username"] == "alice"
    clock.now = 1_000_605.5
    assert_401(authorizer, event(token))
    clock.now = 999_990  # issued (by the token) in the future, beyond the leeway
    assert_401(authorizer, event(token))


def test_with_a_cache_a_token_must_outlive_its_cached_policy(pool):
    """API Gateway reuses the answer for the TTL: a token that would expire before the cached
    policy does is refused, so no cached policy outlives its token."""
    token = pool.token(iat=1_000_000, exp=1_000_600)
    clock = WallClock(1_000_000)
    authorizer = timed_authorizer(pool, clock, min_remaining=60)
    clock.now = 1_000_540  # 60 s left: the cached policy ends with the token
    assert authorizer.authorize(event(token))["context"]["username"] == "alice"
    clock.now = 1_000_540.5  # 59.5 s left
    assert_401(authorizer, event(token))


def test_the_cache_ttl_reaches_the_authorizer_from_its_environment(pool, tmp_path):
    rules_file = write_data(RULES, WORKSPACES, tmp_path)  # the data folder
    env = {"AWS_REGION": "us-east-1", "USER_POOL_ID": POOL_ID, "APP_CLIENT_IDS": CLIENT_ID,
           "JWKS_URL": pool.jwks_url, "CACHE_TTL_SECONDS": "60", "LEEWAY_SECONDS": "5",
           "GROUP_LEVELS": json.dumps(GLOBAL_GROUPS)}
    verifier = from_environment(env, rules_file).verifier
    assert (verifier.min_remaining, verifier.leeway) == (60.0, 5.0)
    now = int(time.time())
    authorizer = from_environment(env, rules_file)
    assert_401(authorizer, event(pool.token(iat=now - 600, exp=now + 59)))
    assert authorizer.authorize(event(pool.token(iat=now, exp=now + 600)))["principalId"] == "alice"


# --- workspaces: a level is held per team ----------------------------------------------------

TEAM_GROUPS_ONLY = {"platform-admins": "admin"}


def levels_in(pool, groups, workspace, **event_args):
    authorizer = make_authorizer(pool, groups=TEAM_GROUPS_ONLY)
    response = authorizer.authorize(event(pool.token(groups=groups), workspace=workspace,
                                          **event_args))
    return response


@pytest.mark.parametrize("groups, workspace, expected", [
    (["team-a:contributor"], "team-a", "contributor"),
    (["team-a:contributor"], "team-c", ""),  # another team's workspace: nothing
    (["team-a:contributor"], "team-b", "reader"),  # team-b shares with team-a: reader at most
    (["team-a:admin"], "team-b", "reader"),
    (["team-b:contributor"], "team-a", ""),  # sharing is one way
    (["team-a:reader", "team-b:contributor"], "team-b", "reader,contributor"),
    (["team-a:contributor", "team-a:model-approver"], "team-a", "contributor,model-approver"),
    (["team-a:contributor"], "default", ""),  # MLflow's default: platform admins only
    (["platform-admins"], "default", "admin"),
    (["platform-admins"], "team-c", "admin"),
    (["team-a:owner", "team-a:", ":reader", "team-a:reader:x"], "team-a", ""),
    (["team-x:reader"], "team-x", ""),  # not a configured workspace
])
def test_a_level_is_held_per_workspace(pool, groups, workspace, expected):
    response = levels_in(pool, groups, workspace)
    assert response["context"]["levels"] == expected
    assert response["context"]["workspace"] == (workspace if expected else "")
    if expected:
        levels = tuple(expected.split(","))
        for method, path in [("GET", "/ajax-api/2.0/mlflow/experiments/get"),
                             ("POST", "/ajax-api/2.0/mlflow/experiments/create"),
                             ("POST", "/ajax-api/2.0/mlflow/registered-models/delete")]:
            assert may(response, method, path) == allows_any(levels, method, path)
    else:
        assert_403(response)


@pytest.mark.parametrize("workspace", [
    None, "", "Team-A", "team-a ", " team-a", "team-a,team-b", "team-a/../team-b", "team-a/",
    "../default", "DEFAULT", "team-a\x00", "%74eam-a"])
def test_a_workspace_header_that_names_no_single_workspace_exactly_is_refused(pool, workspace):
    response = levels_in(pool, ["team-a:contributor", "team-b:contributor"], workspace)
    assert response["context"]["workspace"] == ""
    assert_403(response)


def test_a_workspace_sent_twice_is_refused_even_when_both_are_yours(pool):
    ev = event(pool.token(groups=["team-a:contributor"]), workspace="team-a")
    ev["multiValueHeaders"] = {"X-MLFLOW-WORKSPACE": ["team-a", "team-a"]}
    assert_403(make_authorizer(pool, groups=TEAM_GROUPS_ONLY).authorize(ev))
    ev["headers"]["x-mlflow-workspace"] = "team-a"  # the same header in two spellings
    ev["multiValueHeaders"] = None
    assert_403(make_authorizer(pool, groups=TEAM_GROUPS_ONLY).authorize(ev))


def test_workspaces_of_lists_a_users_workspaces_and_levels(pool):
    authorizer = make_authorizer(pool, groups=TEAM_GROUPS_ONLY)
    assert authorizer.workspaces_of({"cognito:groups": ["team-a:reader", "team-b:contributor"]}) \
        == {"team-a": ("reader",), "team-b": ("reader", "contributor")}
    assert set(authorizer.workspaces_of({"cognito:groups": ["platform-admins"]})) == {
        "default", "team-a", "team-b", "team-c"}
    assert authorizer.workspaces_of({"cognito:groups": []}) == {}


GROUP_SETS = [[], ["team-a:reader"], ["team-a:contributor", "team-a:model-approver"],
              ["team-a:reader", "team-b:contributor"], ["team-b:admin"], ["team-c:reader"],
              ["platform-admins"], ["platform-admins", "team-b:reader"], ["team-a:owner"],
              ["team-x:reader", ":reader", "team-a:"], ["team-c:contributor", "team-a:admin"]]


@pytest.mark.node  # ui/shell/session.js under `node`
def test_the_uis_workspaces_are_the_authorizers(pool):
    """The sign-in shell shows (and its worker names) the workspaces ui/shell/session.js
    computes from the groups; they must be the ones the authorizer grants, level for level."""
    import subprocess
    from pathlib import Path

    shell = Path(__file__).resolve().parents[2] / "ui" / "shell"
    script = (shell / "spec.js").read_text() + (shell / "session.js").read_text()
    program = ("globalThis.self = globalThis;\n" + script + "\n" +
               "const [groups, levels, workspaces] = JSON.parse(process.argv[1]);\n"
               "console.log(JSON.stringify(groups.map(g => "
               "self.LZSession.workspacesOf(g, levels, workspaces))));")
    arguments = json.dumps([GROUP_SETS, TEAM_GROUPS_ONLY, WORKSPACES])
    out = subprocess.run(["node", "-e", program, arguments], capture_output=True, text=True,
                         check=True).stdout
    authorizer = make_authorizer(pool, groups=TEAM_GROUPS_ONLY)
    expected = [{w: list(levels) for w, levels in
                 authorizer.workspaces_of({"cognito:groups": groups}).items()}
                for groups in GROUP_SETS]
    assert json.loads(out) == expected
    assert expected[3] == {"team-a": ["reader"], "team-b": ["reader", "contributor"]}


# --- every policy the authorizer can return fits IAM's inline-policy size -------------------

LONGEST_TEAM = "t" + "e" * 30 + "m"  # 32 characters, the longest name the config accepts


def test_every_policy_for_every_combination_of_groups_fits_and_decides_as_the_model(pool):
    """Any subset of a team's level groups, shared with one of the user's other teams or not,
    with any subset of platform groups (one per level), in the team's workspace and in
    `default`, on the longest API ARN: at most 10,240 characters (IAM's inline-policy size),
    and the grant of the levels the context names."""
    import itertools

    from roles import INLINE_POLICY_LIMIT, LEVELS, policy_size
    from roles.policies import LONGEST_API_ARN
    from roles.policy_eval import invoke_allowed as allowed

    platform_groups = {f"platform-{level}": level for level in LEVELS}
    workspaces = {LONGEST_TEAM: ["other-team"], "other-team": []}
    jwks = JwksCache(pool.jwks_url, clock=FakeClock())
    authorizer = Authorizer(TokenVerifier(issuer=ISSUER, client_ids=[CLIENT_ID], jwks=jwks),
                            RULES, platform_groups, workspaces)
    subsets = [c for n in range(len(LEVELS) + 1) for c in itertools.combinations(LEVELS, n)]
    largest, seen = 0, set()
    for team_levels, platform_levels, shared, workspace in itertools.product(
            subsets, subsets, (False, True), (LONGEST_TEAM, "default")):
        groups = ([f"{LONGEST_TEAM}:{level}" for level in team_levels]
                  + [f"platform-{level}" for level in platform_levels]
                  + (["other-team:reader"] if shared else []))
        ev = {"methodArn": f"{LONGEST_API_ARN}/GET/ajax-api/2.0/mlflow/runs/get",
              "headers": {"Authorization": f"Bearer {pool.token(groups=groups)}",
                          "X-MLFLOW-WORKSPACE": workspace}}
        response = authorizer.authorize(ev)
        document = response["policyDocument"]
        size = policy_size(document)
        assert size <= INLINE_POLICY_LIMIT, (groups, workspace, size)
        largest = max(largest, size)
        levels = tuple(filter(None, response["context"]["levels"].split(",")))
        expected = set(platform_levels) | (
            (set(team_levels) | ({"reader"} if shared else set()))
            if workspace != "default" else set())
        assert set(levels) == expected, (groups, workspace)
        in_team = not platform_levels
        if levels and (in_team, levels) not in seen:  # its decisions, once per grant
            seen.add((in_team, levels))
            for method, path in [("GET", "/ajax-api/2.0/mlflow/runs/get"),
                                 ("POST", "/ajax-api/2.0/mlflow/runs/create"),
                                 ("POST", "/ajax-api/2.0/mlflow/registered-models/alias"),
                                 ("DELETE", "/ajax-api/2.0/mlflow/registered-models/delete"),
                                 ("GET", "/ajax-api/3.0/mlflow/gateway/secrets/list"),
                                 ("GET", "/ajax-api/9.9/mlflow/unclassified")]:
                assert allowed([document], f"{LONGEST_API_ARN}/{method}/{path[1:]}") == \
                    allows_any(levels, method, path, in_team), (levels, in_team, method, path)
    # every combination of levels, held through a team and through a platform group
    assert len(seen) == 2 * (2 ** len(LEVELS) - 1)
    assert largest > 9_000  # contributor+approver: the largest grant, measured


def test_the_authorizer_reads_the_longest_api_arn_roles_plans_for():
    """The data's names (placeholder, files, methods) come to the authorizer in its generated
    _spec.py (python -m spec.generate --check holds it current)."""
    from authorizer import handler
    from roles import policies

    assert handler.api_arn_of(f"{policies.LONGEST_API_ARN}/GET/x") == policies.LONGEST_API_ARN
