"""The SDK client: assume, sign, refresh, artifacts, and signatures checked independently."""

import hashlib
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

from .moto_server import MotoServer

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/mlflow-team-a-contributor"


@pytest.fixture(scope="module")
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
