"""The SDK client: assume, sign, refresh, artifacts, and signatures checked independently."""

import hashlib
import json
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.session
import pytest
import requests

from mlflow_landing_zone_client import CentralRoleCredentials, LandingZoneAuthError, SigV4Auth
from mlflow_landing_zone_client.credentials import install_as_default_boto3_session, resolve_region
from mlflow_landing_zone_client.signing import canonical_query
from sandbox.sigv4 import SignatureError, verify

from tests.markers import needs
from tests.moto_server import MotoServer

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/mlflow-team-a-contributor"


@pytest.fixture(scope="module")
@needs("server")  # moto's server on 127.0.0.1
def moto():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture()
def aws_env(moto, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIAAMBIENTEXAMPLE1", "AWS_SECRET_ACCESS_KEY": "s",
                        "AWS_REGION": REGION, "AWS_ENDPOINT_URL_STS": moto.url,
                        "AWS_ENDPOINT_URL_S3": moto.url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto


class FakeClock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self):
        return self.now


# --- credentials --------------------------------------------------------------------------


def test_assumes_the_central_role_once_and_reuses_it(aws_env):
    source = CentralRoleCredentials(ROLE, REGION, session=botocore.session.get_session())
    keys = {source.frozen().access_key for _ in range(1000)}
    assert len(keys) == 1 and source.sts_calls == 1
    assert source.frozen().token


def test_refreshes_before_expiry_with_one_sts_call_per_lifetime(aws_env):
    clock = FakeClock()
    session = botocore.session.get_session()

    def expire_by_the_fake_clock(parsed, **kwargs):
        # moto stamps Expiration by the real clock; the session lives on the fake one.
        parsed["Credentials"]["Expiration"] = clock.now + timedelta(seconds=900)

    session.register("after-call.sts.AssumeRole", expire_by_the_fake_clock)
    source = CentralRoleCredentials(ROLE, REGION, session=session, clock=clock,
                                    duration_seconds=900)
    first = source.frozen()
    for _ in range(300):
        source.frozen()
    assert source.sts_calls == 1
    clock.now += timedelta(seconds=900 - 200)  # inside the refresh margin (a quarter: 225 s)
    second = source.frozen()
    assert source.sts_calls == 2 and second.access_key != first.access_key
    for _ in range(300):
        source.frozen()
    assert source.sts_calls == 2
    # Over a long job: one call per lifetime, never an expired credential.
    for _ in range(20):
        clock.now += timedelta(seconds=700)
        source.frozen()
    assert source.sts_calls == 22


def test_ambient_credentials_without_a_role(aws_env):
    source = CentralRoleCredentials(None, REGION, session=botocore.session.get_session())
    assert source.frozen().access_key == "AKIAAMBIENTEXAMPLE1" and source.sts_calls == 0


def test_artifacts_go_to_s3_with_the_assumed_credentials(aws_env):
    source = CentralRoleCredentials(ROLE, REGION, session=botocore.session.get_session())
    assert install_as_default_boto3_session(source)
    try:
        identity = boto3.client("sts").get_caller_identity()
        assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/"
                                          "mlflow-team-a-contributor/")
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="central-artifacts")
        s3.put_object(Bucket="central-artifacts", Key="1/abc/artifacts/model.pkl", Body=b"x" * 10)
        assert s3.get_object(Bucket="central-artifacts",
                             Key="1/abc/artifacts/model.pkl")["Body"].read() == b"x" * 10
        assert source.sts_calls == 1
    finally:
        boto3.setup_default_session()


def test_no_credentials_is_a_one_line_error_naming_the_fix(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = botocore.session.get_session()
    with pytest.raises(LandingZoneAuthError, match="no AWS credentials found.*AWS_PROFILE") as e:
        CentralRoleCredentials(None, REGION, session=session).frozen()
    assert "\n" not in str(e.value)
    with pytest.raises(LandingZoneAuthError, match="no AWS credentials found"):
        CentralRoleCredentials(ROLE, REGION, session=session).frozen()


def test_assume_role_denied_names_the_fix():
    session = botocore.session.get_session()
    from botocore.stub import Stubber
    source = CentralRoleCredentials(ROLE, REGION, session=session)
    client = session.create_client("sts", region_name=REGION, aws_access_key_id="a",
                                   aws_secret_access_key="b")
    stubber = Stubber(client)
    stubber.add_client_error("assume_role", service_error_code="AccessDenied",
                             service_message="not authorized", http_status_code=403)
    stubber.activate()
    session.create_client = lambda *a, **k: client
    with pytest.raises(LandingZoneAuthError, match="AssumeRole of .* was denied: run with the "
                                                   "team's mlflow-<team>-<level>-sagemaker role"):
        source.frozen()


def test_a_malformed_role_arn_is_refused():
    with pytest.raises(LandingZoneAuthError, match="must be an IAM role ARN"):
        CentralRoleCredentials("mlflow-team-a-reader", REGION)


def test_region_from_the_execute_api_host_first_then_the_environment():
    assert resolve_region("x", {"AWS_REGION": "eu-west-1"}) == "eu-west-1"
    assert resolve_region("abcde12345.execute-api.ap-south-1.amazonaws.com", {}) == "ap-south-1"
    # A team in another region than the central API: API Gateway checks for its own region.
    assert resolve_region("abcde12345.execute-api.ap-south-1.amazonaws.com",
                          {"AWS_REGION": "eu-west-1"}) == "ap-south-1"
    assert resolve_region("abcde12345.execute-api.cn-north-1.amazonaws.com.cn", {}) == "cn-north-1"
    with pytest.raises(LandingZoneAuthError, match="no AWS region: set AWS_REGION"):
        resolve_region("127.0.0.1", {}, profile_region=lambda: None)
    # last, the AWS profile's region (the sandbox's profiles carry one)
    assert resolve_region("127.0.0.1", {}, profile_region=lambda: "eu-north-1") == "eu-north-1"
    assert resolve_region("127.0.0.1", {"AWS_REGION": "eu-west-1"},
                          profile_region=lambda: "eu-north-1") == "eu-west-1"


def test_the_region_of_the_aws_profile_in_use(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile team]\nregion = sa-east-1\n")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "team")
    assert resolve_region("127.0.0.1", {}) == "sa-east-1"


# --- signatures, checked by an independent verifier ----------------------------------------


class StaticCredentials:
    def __init__(self, key="AKIDEXAMPLE", secret="secret", token="session-token"):
        from botocore.credentials import Credentials
        self.creds = Credentials(key, secret, token)

    def frozen(self):
        return self.creds.get_frozen_credentials()


@pytest.fixture(scope="module")
@needs("server")
def echo_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            received.append((self.command, path, query,
                             {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def lookup(key):
    return ("secret", "session-token", "arn:aws:sts::1:assumed-role/r/s") if key == "AKIDEXAMPLE" \
        else None


def send_and_verify(echo_server, method, path, **kwargs):
    url, received = echo_server
    auth = SigV4Auth(StaticCredentials(), REGION)
    response = requests.request(method, url + path, auth=auth, **kwargs)
    assert response.status_code == 200
    m, raw_path, raw_query, headers, body = received[-1]
    return verify(m, raw_path, raw_query, headers, body, lookup, REGION), (m, raw_path,
                                                                           raw_query, headers, body)


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/api/2.0/mlflow/experiments/get", {"params": {"experiment_id": "1"}}),
    ("GET", "/api/2.0/mlflow/runs/search", {}),
    ("POST", "/api/2.0/mlflow/runs/log-metric",
     {"json": {"run_id": "r", "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}}),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name",
     {"params": {"experiment_name": "my exp + more/x=y&z"}}),
    ("GET", "/api/2.0/mlflow/artifacts/list", {"params": {"path": "a b", "run_id": "1+2"}}),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete", {"json": {"name": "m"}}),
])
def test_signatures_verify_independently(echo_server, method, path, kwargs):
    principal, _ = send_and_verify(echo_server, method, path, **kwargs)
    assert principal.startswith("arn:aws:sts::1:assumed-role/")


def test_a_streamed_file_body_is_signed_over_its_bytes(echo_server, tmp_path):
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(bytes(range(256)) * 4096)  # 1 MiB, not loaded by the signer
    with open(artifact, "rb") as f:
        principal, (_, _, _, headers, body) = send_and_verify(
            echo_server, "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/model.bin",
            data=f)
    assert hashlib.sha256(body).digest() == hashlib.sha256(artifact.read_bytes()).digest()


def test_plus_and_space_in_queries_are_canonical():
    assert canonical_query("name=a+b&x=1%2B2&e=") == "name=a%20b&x=1%2B2&e="
    assert canonical_query("q=%7Euser.name-_") == "q=~user.name-_"


def test_the_verifier_refuses_tampering(echo_server):
    _, (m, path, query, headers, body) = send_and_verify(
        echo_server, "POST", "/api/2.0/mlflow/runs/create", json={"experiment_id": "1"})
    with pytest.raises(SignatureError, match="does not match"):
        verify(m, path, query, headers, body + b" ", lookup, REGION)
    with pytest.raises(SignatureError, match="does not match"):
        verify(m, "/api/2.0/mlflow/runs/delete", query, headers, body, lookup, REGION)
    with pytest.raises(SignatureError, match="region should be 'eu-west-1'"):
        verify(m, path, query, headers, body, lookup, "eu-west-1")
    with pytest.raises(SignatureError, match="security token"):
        verify(m, path, query, {**headers, "x-amz-security-token": "other"}, body, lookup, REGION)
    later = datetime.now(timezone.utc) + timedelta(minutes=6)
    with pytest.raises(SignatureError, match="Signature expired"):
        verify(m, path, query, headers, body, lookup, REGION, now=later)
    with pytest.raises(SignatureError, match="Missing Authentication Token"):
        verify(m, path, query, {k: v for k, v in headers.items() if k != "authorization"},
               body, lookup, REGION)


def test_a_job_in_another_region_signs_for_the_apis_region():
    """The provider passes the job's region (AWS_REGION); the signature must still be scoped to
    the region in the tracking URI's host, or API Gateway refuses it."""
    import requests
    from botocore.credentials import Credentials

    from mlflow_landing_zone_client import SigV4Auth

    class Fixed:
        def frozen(self):
            return Credentials("AKIDEXAMPLE", "secret").get_frozen_credentials()

    auth = SigV4Auth(Fixed(), region="eu-west-1")
    request = requests.Request(
        "GET", "https://abcde12345.execute-api.us-east-1.amazonaws.com/prod/team-a/version").prepare()
    assert "/us-east-1/execute-api/aws4_request" in auth(request).headers["Authorization"]
    other = requests.Request("GET", "http://127.0.0.1:8080/team-a/version").prepare()
    assert "/eu-west-1/execute-api/aws4_request" in auth(other).headers["Authorization"]


# --- a token the edge no longer knows (the sandbox restarted): fetched again, sent again -------

INVALID_TOKEN = "The security token included in the request is invalid"


class RotatingCredentials:
    """Keys key-1, key-2, ...: each invalidate() makes the next signature use the next."""

    def __init__(self):
        self.generation, self.invalidations = 1, 0

    def frozen(self):
        from botocore.credentials import Credentials
        return Credentials(f"AKIDKEY{self.generation}", "secret", "token").get_frozen_credentials()

    def invalidate(self):
        self.invalidations += 1
        self.generation += 1


@pytest.fixture()
@needs("server")
def edge_knowing(request):
    """A stand-in edge that answers 200 to keys it knows and API Gateway's 403 (in MLflow's
    error shape, as the gateway responses render it) to the others; records each request."""
    known, seen = set(), []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers["Authorization"].split("Credential=")[1].split("/")[0]
            seen.append((self.command, self.path, key, body))
            status, data = (200, b"{}") if key in known else (403, json.dumps(
                {"error_code": "UNAUTHENTICATED", "message": INVALID_TOKEN}).encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", known, seen
    server.shutdown()


def test_a_refused_security_token_is_fetched_again_once_and_the_request_sent_again(
        edge_knowing, tmp_path):
    url, known, seen = edge_knowing
    known.add("AKIDKEY2")
    source = RotatingCredentials()
    auth = SigV4Auth(source, REGION)
    response = requests.post(url + "/team-a/api/2.0/mlflow/runs/create", auth=auth,
                             json={"experiment_id": "1"})
    assert response.status_code == 200 and source.invalidations == 1
    assert [(m, p, k) for m, p, k, _ in seen] == [
        ("POST", "/team-a/api/2.0/mlflow/runs/create", "AKIDKEY1"),
        ("POST", "/team-a/api/2.0/mlflow/runs/create", "AKIDKEY2")]
    assert seen[0][3] == seen[1][3] == b'{"experiment_id": "1"}'
    # the next request signs with the fresh key at once
    assert requests.get(url + "/team-a/version", auth=auth).status_code == 200
    assert seen[-1][2] == "AKIDKEY2" and source.invalidations == 1
    # a file body is sent again whole
    known.add("AKIDKEY3")
    known.discard("AKIDKEY2")
    artifact = tmp_path / "a.bin"
    artifact.write_bytes(b"0123456789" * 1000)
    with open(artifact, "rb") as f:
        assert requests.put(url + "/team-a/x", data=f, auth=auth).status_code == 200
    assert [(k, b) for _, _, k, b in seen[-2:]] == [("AKIDKEY2", artifact.read_bytes()),
                                                    ("AKIDKEY3", artifact.read_bytes())]


def test_a_token_still_refused_after_a_fresh_fetch_says_to_start_again_and_is_not_retried_more(
        edge_knowing):
    url, _, seen = edge_knowing
    source = RotatingCredentials()
    response = requests.get(url + "/team-a/version", auth=SigV4Auth(source, REGION))
    assert response.status_code == 403 and source.invalidations == 1 and len(seen) == 2
    assert response.json() == {
        "error_code": "UNAUTHENTICATED",
        "message": INVALID_TOKEN + ": this process's AWS credentials are unknown to the MLflow "
                   "landing zone: they expired or belong to an earlier session. Start the "
                   "process again with fresh ones; from `python -m sandbox`, paste the lines it "
                   "printed at its last start (its AWS profiles fetch fresh credentials for "
                   "every new process)"}


def test_other_refusals_are_not_retried(edge_knowing):
    from mlflow_landing_zone_client.signing import stale_token_refusal

    def answer(status, body):
        response = requests.Response()
        response.status_code, response._content = status, json.dumps(body).encode()
        return response

    assert stale_token_refusal(answer(403, {"message": INVALID_TOKEN}))
    assert stale_token_refusal(answer(403, {"message": "The security token included in the "
                                                       "request is expired"}))
    assert stale_token_refusal(answer(401, {"message": INVALID_TOKEN}))
    assert not stale_token_refusal(answer(403, {"message": "Missing Authentication Token"}))
    assert not stale_token_refusal(answer(403, {"message": "The request signature we "
                                                           "calculated does not match"}))
    assert not stale_token_refusal(answer(200, {"message": INVALID_TOKEN}))
    assert not stale_token_refusal(answer(500, {"message": INVALID_TOKEN}))


def test_invalidate_fetches_the_ambient_credentials_again_and_assumes_again(
        aws_env, tmp_path, monkeypatch):
    """The AWS profile's credential_process answers anew (the sandbox's profiles ask the
    running sandbox); the assumed session is replaced in the same credentials object, which
    boto3's S3 clients hold."""
    counter = tmp_path / "count"
    counter.write_text("0")
    process = tmp_path / "credential_process.py"
    process.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1\n"
        "p.write_text(str(n))\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'AKIAPROCESS{n}', "
        "'SecretAccessKey': 's', 'SessionToken': 't'}))\n")
    config = tmp_path / "config"
    config.write_text(f"[profile sandbox]\ncredential_process = {sys.executable} {process}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "sandbox")

    ambient = CentralRoleCredentials(None, REGION, session=botocore.session.get_session())
    assert ambient.frozen().access_key == "AKIAPROCESS1"
    assert ambient.frozen().access_key == "AKIAPROCESS1"
    ambient.invalidate()
    assert ambient.frozen().access_key == "AKIAPROCESS2"

    role = CentralRoleCredentials(ROLE, REGION, session=botocore.session.get_session())
    held = role.credentials()
    first = role.frozen().access_key
    assert counter.read_text() == "3" and role.sts_calls == 1
    role.invalidate()
    second = role.frozen().access_key
    assert second != first and role.credentials() is held and held.access_key == second
    assert counter.read_text() == "4" and role.sts_calls == 2
    for _ in range(100):  # refreshed once, not at every signature after
        role.frozen()
    assert role.sts_calls == 2


# --- the workspace: the URL picks it, the header cannot ------------------------------------------

@pytest.mark.parametrize("tracking_uri, workspace", [
    ("http://127.0.0.1:8080/team-a", "team-a"),
    ("http://127.0.0.1:8080/team-a/", "team-a"),
    ("http://127.0.0.1:8080", "default"),
    ("https://abcde12345.execute-api.us-east-1.amazonaws.com/prod/team-b", "team-b"),
    ("https://abcde12345.execute-api.us-east-1.amazonaws.com/prod", "default"),
])
def test_the_workspace_a_tracking_uri_reaches(tracking_uri, workspace):
    from mlflow_landing_zone_client.workspaces import url_workspace
    assert url_workspace(tracking_uri) == workspace


def test_a_workspace_other_than_the_urls_is_refused_before_the_request_leaves(echo_server):
    from mlflow_landing_zone_client.workspaces import check_workspace

    url, received = echo_server
    tracking_uri = url + "/team-a"
    auth = SigV4Auth(StaticCredentials(), REGION,
                     check=lambda request: check_workspace(request, tracking_uri))
    before = len(received)
    with pytest.raises(LandingZoneAuthError) as e:
        requests.get(tracking_uri + "/api/2.0/mlflow/experiments/search", auth=auth,
                     headers={"X-MLFLOW-WORKSPACE": "team-b"})
    assert str(e.value) == (
        f"MLFLOW_WORKSPACE (or the X-MLFLOW-WORKSPACE header) asks for workspace 'team-b', "
        f"but the tracking URI {tracking_uri} reaches team team-a's workspace: the landing "
        f"zone picks the workspace by the URL alone. For team-b, set MLFLOW_TRACKING_URI to "
        f"<apiUrl>/team-b; else unset MLFLOW_WORKSPACE")
    assert len(received) == before  # nothing left
    for headers in ({"X-MLFLOW-WORKSPACE": "team-a"}, {}):
        assert requests.get(tracking_uri + "/api/2.0/mlflow/experiments/search", auth=auth,
                            headers=headers).status_code == 200
    with pytest.raises(LandingZoneAuthError, match=r"reaches the default workspace \(it names "
                                                   r"no team\)"):
        check_workspace(requests.Request("GET", url + "/api/2.0/mlflow/x", headers={
            "X-MLFLOW-WORKSPACE": "team-a"}).prepare(), url)


def test_mlflow_itself_is_refused_a_workspace_other_than_the_urls(monkeypatch, echo_server):
    """Through MLflow's own request path: MLFLOW_WORKSPACE=team-b with team-a's URL."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from mlflow_landing_zone_client.provider import LandingZoneAuthProvider

    url, received = echo_server
    for name, value in {"MLFLOW_TRACKING_URI": url + "/team-a", "MLFLOW_WORKSPACE": "team-b",
                        "MLFLOW_TRACKING_AUTH": "landing-zone", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                        "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": REGION,
                        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLFLOW_LANDING_ZONE_ROLE_ARN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    LandingZoneAuthProvider.reset()
    try:
        before = len(received)
        with pytest.raises(MlflowException, match=r"asks for workspace 'team-b', but the "
                                                  r"tracking URI .*/team-a reaches team team-a's"):
            mlflow.MlflowClient().search_experiments()
        assert len(received) == before
    finally:
        LandingZoneAuthProvider.reset()
        boto3.setup_default_session()


def test_a_forgotten_mlflow_tracking_auth_is_named_before_the_first_unsigned_call(
        monkeypatch, caplog):
    from mlflow_landing_zone_client.header_provider import MissingAuthHint
    from mlflow_landing_zone_client.workspaces import landing_zone_without_auth

    api = "https://abcde12345.execute-api.us-east-1.amazonaws.com/prod/team-a"
    assert landing_zone_without_auth(api, {})
    assert landing_zone_without_auth("http://127.0.0.1:8080/team-a",
                                     {"MLFLOW_LANDING_ZONE_ROLE_ARN": ROLE})
    assert not landing_zone_without_auth(api, {"MLFLOW_TRACKING_AUTH": "landing-zone"})
    assert not landing_zone_without_auth("http://127.0.0.1:5000", {})  # a plain MLflow server

    monkeypatch.setenv("MLFLOW_TRACKING_URI", api)
    monkeypatch.delenv("MLFLOW_TRACKING_AUTH", raising=False)
    monkeypatch.setattr(MissingAuthHint, "_said", False)
    hint = MissingAuthHint()
    assert hint.in_context() and hint.request_headers() == {}
    assert [r.getMessage() for r in caplog.records] == [
        f"MLFLOW_TRACKING_URI {api} is an MLflow landing zone's, whose API takes only signed "
        f"calls, and MLFLOW_TRACKING_AUTH is not set: API Gateway will answer 'Missing "
        f"Authentication Token'. Set MLFLOW_TRACKING_AUTH=landing-zone (the signer of the "
        f"mlflow-landing-zone-client package)"]
    assert not hint.in_context()  # once a process


def test_the_client_package_declares_the_hint_as_an_mlflow_plugin():
    import tomllib
    from pathlib import Path

    from mlflow.tracking.request_header.abstract_request_header_provider import (
        RequestHeaderProvider,
    )

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "client" / "pyproject.toml")
                            .read_text())["project"]
    target = project["entry-points"]["mlflow.request_header_provider"]["landing-zone-hint"]
    assert target == "mlflow_landing_zone_client.header_provider:MissingAuthHint"
    from mlflow_landing_zone_client.header_provider import MissingAuthHint
    assert issubclass(MissingAuthHint, RequestHeaderProvider)
