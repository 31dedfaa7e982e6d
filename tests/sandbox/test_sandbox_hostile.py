"""Hostile requests against the live gateway: nothing gets through, nothing makes a 5xx."""

import http.client
import json
import string
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import jwt
import moto
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roles import CATALOGUE, LEVELS, allows
from spec.edge import is_ui_redirect_path

from tests.route_samples import SEGMENTS
from tests.sandbox_clients import assume_central, id_token, role_of

MOTO_KEY = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
IN_TEAM_A = {"X-MLFLOW-WORKSPACE": "team-a"}  # what the UI sends beside its token


def moto_private_key():
    """The key moto ships, with which its Cognito would sign: anyone with moto has it."""
    import gzip

    from jwt.algorithms import RSAAlgorithm
    return RSAAlgorithm.from_jwk(gzip.decompress(MOTO_KEY.read_bytes()).decode())


def signed(sandbox, method, path, creds, body=b"", region="us-east-1", service="execute-api",
           when=None, headers=None):
    url = sandbox["gateway_url"] + path
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                                   creds.get("SessionToken")), service, region)
    request.context["timestamp"] = (when or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signer._inject_signature_to_request(
        request, signer.signature(signer.string_to_sign(request, canonical), request))
    return dict(request.headers)


def send(sandbox, method, path, headers=None, body=b""):
    return requests.request(method, sandbox["gateway_url"] + path, headers=headers or {},
                            data=body, timeout=30)


@pytest.fixture(scope="module")
def contributor(sandbox):
    return assume_central(sandbox, "contributor")


# --- tokens ---------------------------------------------------------------------------------


def test_forged_expired_and_foreign_tokens_are_401(sandbox):
    # (signed with moto's shipped key, which the sandbox no longer uses: these are refused for
    # that too; the authorizer's tests refuse each with the pool's own key, tests/cognito_keys.py)
    pool = sandbox["cognito"]["user_pool_id"]
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool}"
    now = int(time.time())
    claims = {"iss": issuer, "aud": sandbox["cognito"]["client_id"], "token_use": "id",
              "cognito:username": "mallory", "cognito:groups": ["admins"], "iat": now,
              "exp": now + 3600, "sub": "x"}
    key = moto_private_key()
    attacker = jwt.encode(claims, "not-the-key", algorithm="HS256", headers={"kid": "dummy"})
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, algorithm="RS256",
                         headers={"kid": "dummy"})
    foreign_pool = jwt.encode({**claims, "iss": issuer + "x"}, key, algorithm="RS256",
                              headers={"kid": "dummy"})
    foreign_client = jwt.encode({**claims, "aud": "some-other-client"}, key, algorithm="RS256",
                                headers={"kid": "dummy"})
    real = id_token(sandbox, "reader-user")
    header, payload, signature = real.split(".")
    tampered = ".".join([header, payload[:-4] + "AAAA", signature])
    for token in ["garbage", "a.b.c", attacker, expired, foreign_pool, foreign_client, tampered,
                  real[:-10], "Bearer " + real]:
        response = send(sandbox, "GET", "/ajax-api/2.0/mlflow/experiments/search",
                        {"Authorization": f"Bearer {token}", **IN_TEAM_A})
        assert response.status_code == 401, (token[:20], response.status_code)
        assert response.json() == {"error_code": "UNAUTHENTICATED", "message": "Unauthorized"}


def test_a_token_minted_with_motos_shipped_key_is_refused(sandbox):
    """The sandbox signs with a key generated at its start (sandbox/emulation.py): a token
    with every claim right, an admin's groups, signed with the key inside moto, is 401."""
    import gzip

    pool = sandbox["cognito"]["user_pool_id"]
    now = int(time.time())
    claims = {"iss": f"https://cognito-idp.us-east-1.amazonaws.com/{pool}",
              "aud": sandbox["cognito"]["client_id"], "token_use": "id",
              "cognito:username": "mallory", "cognito:groups": ["platform-admins"],
              "iat": now, "exp": now + 600, "auth_time": now, "sub": "x"}
    minted = jwt.encode(claims, moto_private_key(), algorithm="RS256", headers={"kid": "dummy"})
    response = send(sandbox, "GET", "/ajax-api/2.0/mlflow/experiments/search",
                    {"Authorization": f"Bearer {minted}", **IN_TEAM_A})
    assert response.status_code == 401
    served = requests.get(f"{sandbox['aws']['endpoint_url']}/{pool}/.well-known/jwks.json",
                          timeout=10).json()["keys"]
    shipped = json.loads(gzip.decompress(MOTO_KEY.read_bytes()))
    assert [k["kid"] for k in served] == ["dummy"] and served[0]["n"] != shipped["n"]
    # and a real user's token verifies with what is served
    real = id_token(sandbox, "reader-user")
    from jwt.algorithms import RSAAlgorithm
    jwt.decode(real, RSAAlgorithm.from_jwk(json.dumps(served[0])), algorithms=["RS256"],
               audience=sandbox["cognito"]["client_id"])


def test_a_token_in_the_query_string_is_not_a_token(sandbox):
    real = id_token(sandbox, "admin-user")
    response = send(sandbox, "GET", f"/ajax-api/2.0/mlflow/experiments/search?token={real}",
                    IN_TEAM_A)
    assert response.status_code == 401


# --- signatures -----------------------------------------------------------------------------


def test_a_good_signature_passes(sandbox, contributor):
    path = "/team-a/api/2.0/mlflow/experiments/search?max_results=1"
    response = send(sandbox, "GET", path, signed(sandbox, "GET", path, contributor))
    assert response.status_code == 200
    # The same call outside the team's base path (MLflow's `default` workspace) is not the
    # team role's to make; team-b's workspace, shared with team-a, it may read, not write; and
    # team-b's contributor may not even read team-a's (sharing is one way).
    other = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert send(sandbox, "GET", other, signed(sandbox, "GET", other, contributor)).status_code == 403
    shared = "/team-b/api/2.0/mlflow/experiments/search?max_results=1"
    assert send(sandbox, "GET", shared, signed(sandbox, "GET", shared, contributor)).status_code == 200
    create, body = "/team-b/api/2.0/mlflow/experiments/create", b'{"name": "into-team-b"}'
    response = send(sandbox, "POST", create, signed(sandbox, "POST", create, contributor, body), body)
    assert response.status_code == 403
    team_b = assume_central(sandbox, "contributor", "team-b")
    assert send(sandbox, "GET", path, signed(sandbox, "GET", path, team_b)).status_code == 403


@pytest.mark.parametrize("workspace", ["team-c", "default", "team-a-x", "Team-A",
                                       "api2", "t" * 32])
def test_a_workspace_no_team_has_is_refused_at_the_edge(sandbox, contributor, workspace):
    """Every team shares one `/{workspace}/{proxy+}` resource: the workspace is the path's
    first segment, and the IAM policies decide which a role reaches (the ARN carries the
    path). A name that is no team's (or `default`, the platform's) is allowed to no team role:
    refused by the gateway, before MLflow, as when each team had a resource of its own."""
    path = f"/{workspace}/api/2.0/mlflow/experiments/search?max_results=1"
    response = send(sandbox, "GET", path, signed(sandbox, "GET", path, contributor))
    assert response.status_code == 403, response.text
    assert response.headers.get("x-amzn-ErrorType") == "AccessDeniedException"


@pytest.mark.parametrize("case", ["tampered-body", "replayed", "future", "wrong-region",
                                  "wrong-service", "unknown-key", "no-session-token",
                                  "other-path", "unsigned"])
def test_bad_signatures_are_403(sandbox, contributor, case):
    path, body = "/team-a/api/2.0/mlflow/runs/search", b'{"experiment_ids": ["0"]}'
    creds, kwargs = dict(contributor), {}
    if case == "replayed":
        kwargs["when"] = datetime.now(timezone.utc) - timedelta(minutes=6)
    elif case == "future":
        kwargs["when"] = datetime.now(timezone.utc) + timedelta(minutes=6)
    elif case == "wrong-region":
        kwargs["region"] = "eu-west-1"
    elif case == "wrong-service":
        kwargs["service"] = "s3"
    elif case == "unknown-key":
        creds["AccessKeyId"] = "ASIAUNKNOWNKEY000000"
    elif case == "no-session-token":
        creds.pop("SessionToken")
    headers = signed(sandbox, "POST", path, creds, body, **kwargs)
    if case == "tampered-body":
        body = b'{"experiment_ids": ["1"]}'
    elif case == "other-path":
        path = "/team-a/api/2.0/mlflow/runs/delete"
    elif case == "unsigned":
        headers = {}
    response = send(sandbox, "POST", path, headers, body)
    assert response.status_code == 403, response.text
    if case == "unsigned":
        assert response.json() == {"error_code": "UNAUTHENTICATED",
                                   "message": "Missing Authentication Token"}


def test_a_caller_from_another_account_is_refused_by_the_resource_policy(sandbox):
    # The team's own SageMaker session, without assuming the central role.
    session = role_of(sandbox, "admin")["credentials"]
    path = "/team-a/api/2.0/mlflow/experiments/search"
    response = send(sandbox, "GET", path, signed(sandbox, "GET", path, session))
    assert response.status_code == 403
    assert "explicit deny" in response.text


# --- identity and isolation -----------------------------------------------------------------


def test_team_isolation_at_the_role_level(sandbox):
    def sts_for(level, team="team-a"):
        c = role_of(sandbox, level, team)["credentials"]
        return boto3.client("sts", region_name="us-east-1",
                            endpoint_url=sandbox["aws"]["endpoint_url"],
                            aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"])

    team_b_reader = role_of(sandbox, "reader", "team-b")["central_role_arn"]
    team_a_admin = role_of(sandbox, "admin")["central_role_arn"]
    with pytest.raises(ClientError, match="AccessDenied"):
        sts_for("reader").assume_role(RoleArn=team_b_reader, RoleSessionName="steal")
    with pytest.raises(ClientError, match="AccessDenied"):
        sts_for("reader").assume_role(RoleArn=team_a_admin, RoleSessionName="escalate")
    with pytest.raises(ClientError, match="AccessDenied"):
        sts_for("reader", "team-b").assume_role(RoleArn=role_of(sandbox, "reader")[
            "central_role_arn"], RoleSessionName="steal")
    assert sts_for("reader").assume_role(RoleArn=role_of(sandbox, "reader")["central_role_arn"],
                                         RoleSessionName="own")["Credentials"]


# --- path tricks ------------------------------------------------------------------------------

TRICKS = ["", ".", "..", "%2F", "%2e%2e", "API", "mlflow-artifacts", "mlflow", "x"]
FIXED = [
    ("GET", "/api/2.0/mlflow//experiments/search"),
    ("GET", "//api/2.0/mlflow/experiments/search"),
    ("GET", "/api/2.0/mlflow/experiments/search/"),
    ("POST", "/api/2.0/mlflow/runs/../registered-models/delete"),
    ("POST", "/api/2.0/mlflow/runs/%2E%2E/registered-models/create"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/..%2F..%2Fsecrets"),
    ("GET", "/API/2.0/mlflow/experiments/search"),
    ("GET", "/api/2.0/mlflow/gateway/secrets/list"),
    ("GET", "/ajax-api/3.0/mlflow/gateway/secrets/list"),
    ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/x"),
    ("GET", "/api/2.0/mlflowx/experiments/search"),
]


class RawResponse:
    def __init__(self, status, headers, text):
        self.status_code, self.headers, self.text = status, headers, text


def raw_request(sandbox, method, path, headers, body=b"{}"):
    """Send the path exactly as written: `requests` would remove dot segments first."""
    host, port = sandbox["gateway_url"].removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return RawResponse(response.status, {k: v for k, v in response.getheaders()},
                           response.read().decode(errors="replace"))
    finally:
        connection.close()


def check(sandbox, level, method, path, auth):
    """`auth`: (headers for a request path, the base path it adds: a team's for SigV4)."""
    headers_for, base = auth
    response = raw_request(sandbox, method, base + path, headers_for(method, base + path))
    # The gateway itself never answers 5xx. MLflow may, for a request the model lets through
    # (503 for /api/2.0/mlflow-artifacts/*: artifact serving is off, bytes go to S3 directly).
    # The edge's own redirect to the UI (`GET /<one segment>/`, a team base path's resource,
    # which serves every name) is the gateway's answer too: nothing reached MLflow.
    gateway_answer = "x-amzn-ErrorType" in response.headers or (
        method == "GET" and response.status_code == 302
        and response.headers.get("Location") == sandbox["ui_url"] + "/"
        and is_ui_redirect_path(base + path))
    assert not (gateway_answer and response.status_code >= 500), (level, method, path,
                                                                   response.text)
    if response.status_code < 300 or not gateway_answer:
        assert allows(level, method, path), (level, method, path, response.status_code)


@pytest.fixture(scope="module")
def authenticators(sandbox):
    out = {}
    for level in LEVELS[:-1]:
        token = id_token(sandbox, f"{level}-user")
        creds = assume_central(sandbox, level)
        out[level] = ((lambda m, p, t=token: {"Authorization": f"Bearer {t}", **IN_TEAM_A}, ""),
                      (lambda m, p, c=creds: signed(sandbox, m, p, c, b"{}"), "/team-a"))
    return out


@pytest.mark.parametrize("method, path", FIXED)
def test_fixed_path_tricks(sandbox, authenticators, method, path):
    for level, (token, sigv4) in authenticators.items():
        check(sandbox, level, method, path, token)
        check(sandbox, level, method, path, sigv4)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(CATALOGUE), extra=st.sampled_from(SEGMENTS + TRICKS),
       where=st.integers(0, 8), level=st.sampled_from(LEVELS[:-1]), channel=st.booleans(),
       noise=st.text(string.ascii_letters + "-._%", max_size=5))
def test_random_path_tricks(sandbox, authenticators, route, extra, where, level, channel, noise):
    parts = route.path.replace("{", "").replace("}", "").split("/")
    parts.insert(min(len(parts), where + 1), extra + noise)
    path = "/".join(parts)
    token, sigv4 = authenticators[level]
    check(sandbox, level, route.method, path, sigv4 if channel else token)


# --- another site's requests (the web ACL's rules), on both channels ------------------------


@pytest.mark.parametrize("browser_headers, rule", [
    ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, "OtherSiteRequest"),
    ({"Sec-Fetch-Site": "same-site"}, "OtherSiteRequest"),
    ({"Origin": "https://evil.example"}, "ForeignOrigin"),
    ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, "ForeignOrigin"),
], ids=["cross-site", "same-site", "foreign-origin", "null-origin"])
def test_a_request_another_site_made_is_refused_on_both_channels(sandbox, contributor,
                                                                 browser_headers, rule):
    """Valid credentials on either channel do not carry a request another site started: the
    edge refuses it before the authorizer, the signature check and MLflow."""
    from spec.edge import cross_site_body

    body = b'{"name": "made-from-another-site"}'
    token = id_token(sandbox, "contributor-user")
    sigv4_path = "/team-a/api/2.0/mlflow/experiments/create"
    token_path = "/ajax-api/2.0/mlflow/experiments/create"
    attempts = {
        "sigv4": (sigv4_path, {**signed(sandbox, "POST", sigv4_path, contributor, body=body),
                               **browser_headers}),
        "token": (token_path, {"Authorization": f"Bearer {token}", **IN_TEAM_A,
                               **browser_headers}),
    }
    for channel, (path, headers) in attempts.items():
        response = send(sandbox, "POST", path, headers, body)
        assert (response.status_code, response.json()) == (
            403, cross_site_body(rule, sandbox["ui_url"])), channel
    # The same credentials, from the UI's own page (same origin) or an SDK (no such headers),
    # are let through to the level's decision.
    ui_headers = {"Origin": sandbox["ui_url"], "Sec-Fetch-Site": "same-origin"}
    search = b'{"max_results": 1}'
    for path, headers in (
            ("/team-a/api/2.0/mlflow/experiments/search",
             signed(sandbox, "POST", "/team-a/api/2.0/mlflow/experiments/search", contributor,
                    body=search)),
            ("/ajax-api/2.0/mlflow/experiments/search",
             {"Authorization": f"Bearer {token}", **IN_TEAM_A, **ui_headers})):
        headers = {**headers, "Content-Type": "application/json"}
        assert send(sandbox, "POST", path, headers, search).status_code == 200, path
    assert requests.post(sandbox["mlflow_url"] + "/api/2.0/mlflow/experiments/search",
                         json={"filter": "name = 'made-from-another-site'"}, headers=IN_TEAM_A,
                         timeout=30).json().get("experiments") is None
