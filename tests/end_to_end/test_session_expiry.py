"""Credentials that refresh on their own, against a sandbox whose STS sessions expire as on
AWS: a session of the central role is accepted until its Expiration and refused after, at the
gateway (403, API Gateway's EXPIRED_TOKEN) and at S3 (400 ExpiredToken); this repo's client
keeps working across an expiry, where a caller holding fixed credentials is refused; and the
sessions the state file hands out are renewed before they expire.

Nobody waits 15 minutes: the sandbox's sessions live by its STS clock (sandbox/emulation.py's
`sts_now`: the wall clock, moved on by the seconds in `sts-clock-offset` beside the state
file), which these tests move past an Expiration and put back after. The sessions other tests
hold last an hour or more, and are issued to last as long again while the clock is moved, so
moving it by a 900-second session's remaining life leaves theirs good.
"""

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth as BotocoreSigV4
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from mlflow_landing_zone_client import CentralRoleCredentials, SigV4Auth
from mlflow_landing_zone_client.credentials import _Provider
from sandbox.aws import RENEW_AHEAD_SECONDS
from sandbox.emulation import STS_CLOCK_FILE

from tests.sandbox_clients import role_of, team_of

REGION = "us-east-1"
SECONDS = 900  # AWS's shortest session
EXPIRED = "The security token included in the request is expired"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


class StsClock:
    """The sandbox's STS clock, moved by writing its offset; `now` reads it as the sandbox
    does (a client given it as its clock lives on the same time as the sessions)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0.0

    def now(self):
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset)

    def set(self, offset: float):
        self.offset = offset
        self.path.write_text(str(offset))

    def move_to(self, expiration: datetime, seconds: float):
        """To `seconds` after `expiration` (negative: before it)."""
        self.set((expiration - datetime.now(timezone.utc)).total_seconds() + seconds)


@pytest.fixture()
def sts_clock(sandbox):
    clock = StsClock(Path(sandbox["_state_file"]).with_name(STS_CLOCK_FILE))
    yield clock
    clock.path.unlink(missing_ok=True)  # back on the wall clock for the tests after


def sagemaker_keys(sandbox, level="reader"):
    """The session a job of team-a's gets from SageMaker (the state file's, for 12 hours)."""
    c = role_of(sandbox, level)["credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def keys_of(credentials: dict) -> dict:
    return {"aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"]}


def signed_get(url, access_key, secret_key, token):
    """A GET signed with fixed credentials, as any SDK signs one (no refresh, no retry)."""
    request = AWSRequest(method="GET", url=url)
    BotocoreSigV4(Credentials(access_key, secret_key, token), "execute-api",
                  REGION).add_auth(request)
    return requests.get(url, headers=dict(request.headers.items()), timeout=30)


def s3_client(sandbox, **keys):
    return boto3.client("s3", region_name=REGION, endpoint_url=sandbox["aws"]["endpoint_url"],
                        **keys)


def own_prefix(sandbox):
    bucket, _, prefix = team_of(sandbox)["artifact_prefix"].removeprefix("s3://").partition("/")
    return bucket, prefix


def test_a_session_is_accepted_until_its_expiration_and_refused_after(sandbox, sts_clock):
    sts = boto3.client("sts", region_name=REGION, endpoint_url=sandbox["aws"]["endpoint_url"],
                       **sagemaker_keys(sandbox))
    asked = datetime.now(timezone.utc)
    c = sts.assume_role(RoleArn=role_of(sandbox, "reader")["central_role_arn"],
                        RoleSessionName="expiring", DurationSeconds=SECONDS)["Credentials"]
    answered = datetime.now(timezone.utc)
    # its Expiration is DurationSeconds after the call (moto's clock, to the second)
    assert asked + timedelta(seconds=SECONDS - 1) <= c["Expiration"] <= answered + timedelta(
        seconds=SECONDS + 1)
    url = f"{team_of(sandbox)['tracking_uri']}{SEARCH}"
    bucket, prefix = own_prefix(sandbox)
    s3 = s3_client(sandbox, **keys_of(c))

    def answers():
        gateway = signed_get(url, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        try:
            s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
            storage = 200
        except ClientError as e:
            storage = (e.response["ResponseMetadata"]["HTTPStatusCode"],
                       e.response["Error"]["Code"], e.response["Error"]["Message"])
        return gateway.status_code, gateway.json() if gateway.status_code != 200 else None, \
            storage

    assert answers() == (200, None, 200)
    sts_clock.move_to(c["Expiration"], -60)  # a minute before it expires
    assert answers() == (200, None, 200)
    sts_clock.move_to(c["Expiration"], +1)
    assert answers() == (403, {"error_code": "UNAUTHENTICATED", "message": EXPIRED},
                         (400, "ExpiredToken", "The provided token has expired."))


@pytest.mark.parametrize("clock", ["the sessions'", "its own"])
def test_the_client_keeps_working_across_an_expiry_where_fixed_credentials_are_refused(
        sandbox, sts_clock, monkeypatch, clock):
    """As a SageMaker job runs it: the job's session in the environment, the central role
    assumed from it (here for 900 s), requests to the team's URL and artifacts to S3. On the
    sessions' clock the client refreshes before the expiry (no request refused); on a clock
    of its own that does not see it coming (the sandbox's clock moved, not the job's), the
    edge's EXPIRED_TOKEN makes it fetch fresh credentials and send the request again. Either
    way it keeps working; a caller holding the credentials it had is refused at the gateway
    and at S3."""
    for name, value in sagemaker_keys(sandbox).items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox["aws"]["endpoint_url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_CONFIG_FILE", raising=False)
    session = botocore.session.Session()
    expirations = []  # of the central role's sessions, as STS answered them
    session.register("after-call.sts.AssumeRole", lambda parsed, **_: expirations.append(
        parsed["Credentials"]["Expiration"]))
    source = CentralRoleCredentials(
        role_of(sandbox, "reader")["central_role_arn"], REGION, session=session,
        duration_seconds=SECONDS,
        **({"clock": sts_clock.now} if clock == "the sessions'" else {}))
    auth = SigV4Auth(source, REGION)
    # artifacts: boto3's S3 client holding the client's credentials object, as MLflow's does
    # (install_as_default_boto3_session, without making it this test process's default)
    s3_session = botocore.session.Session()
    s3_session.get_component("credential_provider").insert_before("env", _Provider(source))
    s3 = boto3.Session(botocore_session=s3_session).client(
        "s3", region_name=REGION, endpoint_url=sandbox["aws"]["endpoint_url"])
    url = f"{team_of(sandbox)['tracking_uri']}{SEARCH}"
    bucket, prefix = own_prefix(sandbox)
    key = f"{prefix}expiry-{uuid.uuid4().hex[:8]}/never-written"

    first = requests.get(url, auth=auth, timeout=30)
    assert first.status_code == 200 and source.sts_calls == 1
    s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    held = source.frozen()

    sts_clock.move_to(expirations[0], +1)
    again = requests.get(url, auth=auth, timeout=30)
    assert again.status_code == 200, again.text
    assert source.sts_calls == 2 and source.frozen().access_key != held.access_key
    assert expirations[1] > expirations[0]
    if clock == "the sessions'":
        assert again.history == []  # refreshed before: nothing was refused
    else:
        assert [(r.status_code, r.json()["message"]) for r in again.history] == [
            (403, EXPIRED)]
    # the same credentials object: S3 follows without a refusal of its own
    s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    with pytest.raises(ClientError, match="NoSuchKey"):  # read, refused by S3 only as absent
        s3.get_object(Bucket=bucket, Key=key)
    assert source.sts_calls == 2

    # a caller that kept the credentials it had
    refused = signed_get(url, held.access_key, held.secret_key, held.token)
    assert (refused.status_code, refused.json()) == (
        403, {"error_code": "UNAUTHENTICATED", "message": EXPIRED})
    with pytest.raises(ClientError) as e:
        s3_client(sandbox, aws_access_key_id=held.access_key,
                  aws_secret_access_key=held.secret_key,
                  aws_session_token=held.token).list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"],
            e.value.response["Error"]["Code"]) == (400, "ExpiredToken")


def test_the_teams_sessions_are_renewed_before_they_expire(sandbox, sts_clock):
    """As SageMaker hands a job new credentials before its old ones expire: the sessions the
    state file (and so the AWS profiles' credential_process) hands out are renewed an hour
    before they expire, so a sandbox left running for days keeps its profiles good. The old
    session holds until its own Expiration, and is refused after it."""
    state_file = Path(sandbox["_state_file"])
    old = role_of(json.loads(state_file.read_text()), "reader")["credentials"]
    expiration = datetime.fromisoformat(old["Expiration"])
    sts_clock.move_to(expiration, -(RENEW_AHEAD_SECONDS - 60))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = role_of(json.loads(state_file.read_text()), "reader")["credentials"]
        if new["AccessKeyId"] != old["AccessKeyId"]:
            break
        time.sleep(0.5)
    assert new["AccessKeyId"] != old["AccessKeyId"], "not renewed within a minute"
    assert datetime.fromisoformat(new["Expiration"]) > expiration

    def caller(credentials):
        sts = boto3.client("sts", region_name=REGION,
                           endpoint_url=sandbox["aws"]["endpoint_url"], **keys_of(credentials))
        try:
            return sts.get_caller_identity()["Arn"]
        except ClientError as e:
            return e.response["Error"]["Code"]

    session = caller(new)
    assert session.endswith(":assumed-role/mlflow-team-a-reader-sagemaker/sagemaker-reader"), \
        session
    assert caller(old) == session  # both hold until the old one's Expiration
    sts_clock.move_to(expiration, +1)
    assert (caller(old), caller(new)) == ("ExpiredToken", session)
