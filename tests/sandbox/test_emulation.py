"""The sandbox's moto mends (sandbox/emulation.py): written for one moto, and loud when moto
changes under them."""

import json
import subprocess
import sys

import pytest

from sandbox import emulation


def test_the_installed_moto_is_the_one_the_mends_were_written_for():
    emulation.check_moto()  # raises MotoChanged naming each difference


def test_a_changed_moto_signature_stops_the_sandbox_with_its_name(monkeypatch):
    from moto.cognitoidp.models import CognitoIdpBackend

    def initiate_auth(self, client_id, auth_flow, auth_parameters, session=None):
        """what a later moto might have"""

    monkeypatch.setattr(CognitoIdpBackend, "initiate_auth", initiate_auth)
    with pytest.raises(emulation.MotoChanged, match=r"moto\.cognitoidp\.models\.CognitoIdpBackend"
                                                    r"\.initiate_auth is now \(self, client_id, "
                                                    r"auth_flow, auth_parameters, session=None\)"):
        emulation.check_moto()


def test_a_moved_internal_or_another_version_is_named(monkeypatch):
    import moto.sts.models

    monkeypatch.delattr(moto.sts.models, "sts_backends")
    monkeypatch.setattr(emulation, "version", lambda package: "9.9.9")
    with pytest.raises(emulation.MotoChanged) as e:
        emulation.check_moto()
    assert "moto 9.9.9 is installed; the sandbox is proved on 5.2.5" in str(e.value)
    assert "moto.sts.models.sts_backends is gone" in str(e.value)


def test_requirements_pin_the_moto_of_the_mends():
    from pathlib import Path

    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    assert f"moto[server]=={emulation.MOTO_VERSION}" in requirements.split()


@pytest.mark.slow  # a fresh interpreter imports the sandbox
def test_importing_the_sandbox_changes_nothing_in_moto_or_the_environment():
    """Only start_aws (through emulation.install) mends moto; importing any sandbox module
    leaves moto and os.environ as they were."""
    probe = """
import os, inspect
before = dict(os.environ)
import moto.iam.models, moto.cognitoidp.models
from moto.cognitoidp.models import CognitoIdpBackend
from moto.iam.access_control import S3IAMRequest
originals = (moto.iam.models.DEFAULT_ACCOUNT_ID, CognitoIdpBackend.initiate_auth,
             S3IAMRequest.check_action_permitted,
             moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp)
import sandbox.aws, sandbox.emulation, sandbox.landing_zone, sandbox.gateway
after = (moto.iam.models.DEFAULT_ACCOUNT_ID, CognitoIdpBackend.initiate_auth,
         S3IAMRequest.check_action_permitted,
         moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp)
assert originals == after, "an import mended moto"
assert dict(os.environ) == before, "an import changed the environment"
sandbox.emulation.install("111111111111")
assert moto.iam.models.DEFAULT_ACCOUNT_ID == "111111111111"
assert moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp() is True
assert CognitoIdpBackend.initiate_auth.__wrapped_by_sandbox__ is originals[1]
sandbox.emulation.install("111111111111")  # once per process
assert CognitoIdpBackend.initiate_auth.__wrapped_by_sandbox__ is originals[1]
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    assert run.stdout.strip() == "ok", run.stderr


def test_a_callers_role_tags_are_its_principal_tags_and_the_gateway_judges_by_them():
    """moto keeps a role's tags but puts none in any request's context; the access roles'
    shared policies name their team by `${aws:PrincipalTag/team}`. The sandbox's context
    (emulation.principal_context, which the gateway and the S3 judge use) holds the role's tags,
    a session's tag winning over the role's as in IAM; with it the gateway's evaluation of the
    role's seeded policies allows the role's own team, and refuses it when the role is untagged
    or tagged with another team, as AWS would."""
    import json

    import boto3
    from moto import mock_aws

    from roles.policy_eval import ALLOW, evaluate
    from spec.accounts import (
        access_role_inline_policies,
        access_role_tags,
        invoke_policy_documents,
        invoke_policy_keys,
    )

    api = "arn:aws:execute-api:us-east-1:123456789012:abcde12345/prod"
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        arns = {}
        for name, tags in (("mlflow-team-a-contributor", access_role_tags("team-a", "contributor")),
                           ("mlflow-team-c-contributor", {}),
                           ("mlflow-team-d-contributor", access_role_tags("team-b", "contributor"))):
            arns[name] = iam.create_role(
                RoleName=name, AssumeRolePolicyDocument="{}",
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["Role"]["Arn"]
            team = name.split("-", 1)[1].rsplit("-", 1)[0]
            for i, document in enumerate(
                    d for key in invoke_policy_keys(team, "contributor")
                    for d in invoke_policy_documents(key, api)):
                policy = iam.create_policy(PolicyName=f"{name}-{i}",
                                           PolicyDocument=json.dumps(document))
                iam.attach_role_policy(RoleName=name, PolicyArn=policy["Policy"]["Arn"])
            for policy_name, document in access_role_inline_policies(
                    "contributor", api, "arn:aws:s3:::b", team=team).items():
                iam.put_role_policy(RoleName=name, PolicyName=policy_name,
                                    PolicyDocument=json.dumps(document))
        tagged = arns["mlflow-team-a-contributor"]
        assert emulation.principal_context(tagged, "AKIA-none") == {
            "aws:PrincipalArn": tagged, "aws:PrincipalTag/team": "team-a",
            "aws:PrincipalTag/level": "contributor"}
        emulation.SESSION_TAGS["AKIA-session"] = {"team": "team-b"}
        try:
            assert emulation.principal_context(tagged, "AKIA-session")[
                "aws:PrincipalTag/team"] == "team-b"
        finally:
            del emulation.SESSION_TAGS["AKIA-session"]

        def gateway_decides(role_arn, team):
            return evaluate(emulation.identity_policies(role_arn), "execute-api:Invoke",
                            f"{api}/POST/{team}/api/2.0/mlflow/runs/create",
                            context=emulation.principal_context(role_arn, "AKIA-none"))

        assert gateway_decides(tagged, "team-a") == ALLOW
        assert gateway_decides(tagged, "team-b") != ALLOW
        # untagged: its policies name no team, its scope refuses everything
        assert gateway_decides(arns["mlflow-team-c-contributor"], "team-c") != ALLOW
        # tagged with another team than its own: refused there and at home
        for team in ("team-b", "team-d"):
            assert gateway_decides(arns["mlflow-team-d-contributor"], team) != ALLOW


def test_another_accounts_put_events_is_judged_by_the_buses_policy_entry_by_entry():
    """sandbox/serving.py's bus_policy_verdicts: the central bus takes the listed team
    accounts' deployers' status events, and nothing else from another account; the central
    account's own senders are judged by their identity policy alone (already, before)."""
    import json

    import boto3
    from moto import mock_aws

    from sandbox.serving import bus_policy_verdicts
    from spec import registry_events as contract

    central, team_b, stranger = "123456789012", "333333333333", "999999999999"
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        bus = events.create_event_bus(Name=contract.EVENT_BUS_NAME)["EventBusArn"]
        events.put_permission(EventBusName=contract.EVENT_BUS_NAME, Policy=json.dumps(
            contract.central_bus_policy(bus, [team_b])))

        def verdicts(account, role, *sources):
            principal = f"arn:aws:iam::{account}:role/{role}"
            entries = [{"Source": source, "DetailType": "x", "EventBusName": bus}
                       for source in sources]
            return [v and v[0] for v in bus_policy_verdicts(
                entries, {"aws:PrincipalArn": principal}, account, "us-east-1")]

        deployer = contract.deployer_role_name("team-b")
        assert verdicts(team_b, deployer, contract.DEPLOYER_SOURCE, contract.EVENT_SOURCE) == [
            None, "NotAuthorizedForSourceException"]
        # another role of a team account, or a deployer-shaped role of an account not listed
        assert verdicts(team_b, "mlflow-team-b-serving", contract.DEPLOYER_SOURCE) == [
            "AccessDeniedException"]
        assert verdicts(stranger, deployer, contract.DEPLOYER_SOURCE) == [
            "AccessDeniedException"]
        # the bus's own account: its identity policy decides (the tracking server's events)
        assert verdicts(central, "mlflow-tracking-server", contract.EVENT_SOURCE) == [None]
        # an explicit Deny in the bus's policy refuses its own account too
        events.put_permission(EventBusName=contract.EVENT_BUS_NAME, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "NoRegistryEventsFromAnyone", "Effect": "Deny", "Principal": "*",
                "Action": "events:PutEvents", "Resource": bus,
                "Condition": {"StringEquals": {"events:source": contract.EVENT_SOURCE}}}]}))
        assert verdicts(central, "mlflow-tracking-server", contract.EVENT_SOURCE) == [
            "AccessDeniedException"]


@pytest.mark.slow  # a fresh interpreter: the mends change moto for the whole process
@pytest.mark.server  # moto's server on 127.0.0.1
def test_a_session_holds_until_its_expiration_and_is_refused_after_as_aws_refuses_it(tmp_path):
    """moto honours an assumed role's credentials forever. Mended: a session is issued for its
    DurationSeconds, by the STS clock (the wall clock, moved on by the seconds a test writes in
    the clock file), and from its Expiration on every service refuses it as AWS does: STS and
    IAM ExpiredToken (403), EventBridge (JSON) ExpiredTokenException (403), S3 ExpiredToken
    (400); the gateway's lookup raises sigv4.ExpiredToken with the session's token."""
    probe = """
import json, sys
from datetime import datetime, timezone
from pathlib import Path
import boto3, botocore.exceptions
from moto.server import ThreadedMotoServer
from sandbox import emulation
from sandbox.sigv4 import ExpiredToken

emulation.install("111111111111")
clock = Path(sys.argv[1]) / emulation.STS_CLOCK_FILE
emulation.use_sts_clock_file(clock)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
kw = {"region_name": "us-east-1", "endpoint_url": "http://%s:%d" % server.get_host_and_port()}
admin = {"aws_access_key_id": "AKIAADMIN", "aws_secret_access_key": "x"}
iam = boto3.client("iam", **kw, **admin)
role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"AWS": "arn:aws:iam::111111111111:root"}}]}))["Role"]["Arn"]
iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "s3:ListBucket", "iam:ListRoles", "events:ListEventBuses"]}]}))
boto3.client("s3", **kw, **admin).create_bucket(Bucket="bucket-b")
iam.create_user(UserName="u")
iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=json.dumps({
    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": role,
                                            "Action": "sts:AssumeRole"}]}))
user = iam.create_access_key(UserName="u")["AccessKey"]
sts = boto3.client("sts", **kw, aws_access_key_id=user["AccessKeyId"],
                   aws_secret_access_key=user["SecretAccessKey"])

def assume(seconds):
    before = datetime.now(timezone.utc)
    c = sts.assume_role(RoleArn=role, RoleSessionName="session",
                        DurationSeconds=seconds)["Credentials"]
    return c, before, datetime.now(timezone.utc)

c, before, after = assume(900)
lifetime = [(c["Expiration"] - before).total_seconds(), (c["Expiration"] - after).total_seconds()]
emulation.enforce_iam()
keys = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"]}

def answers():
    out = {}
    for name, call in [
            ("sts", lambda: boto3.client("sts", **kw, **keys).get_caller_identity()),
            ("s3", lambda: boto3.client("s3", **kw, **keys).list_objects_v2(Bucket="bucket-b")),
            ("iam", lambda: boto3.client("iam", **kw, **keys).list_roles()),
            ("events", lambda: boto3.client("events", **kw, **keys).list_event_buses())]:
        try:
            call()
            out[name] = [200]
        except botocore.exceptions.ClientError as e:
            out[name] = [e.response["ResponseMetadata"]["HTTPStatusCode"],
                         e.response["Error"]["Code"], e.response["Error"]["Message"]]
    try:
        out["gateway"] = emulation.lookup_access_key(c["AccessKeyId"])[2]
    except ExpiredToken as e:
        out["gateway"] = [str(e), e.token == c["SessionToken"]]
    return out

def left():
    return (c["Expiration"] - datetime.now(timezone.utc)).total_seconds()

result = {"lifetime": lifetime, "now": answers()}
clock.write_text(str(left() - 30))
result["30 s before"] = answers()
clock.write_text(str(left() + 1))
result["after"] = answers()
# a session issued while the clock is moved lives its DurationSeconds by that clock
c2, _, _ = assume(900)
keys = {"aws_access_key_id": c2["AccessKeyId"], "aws_secret_access_key": c2["SecretAccessKey"],
        "aws_session_token": c2["SessionToken"]}
result["issued on the moved clock"] = boto3.client("sts", **kw, **keys).get_caller_identity()[
    "Arn"]
clock.unlink()
result["clock back"] = answers()
server.stop()
print(json.dumps(result))
"""
    run = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # Expiration: DurationSeconds after the AssumeRole (moto's clock, to the second)
    assert result["lifetime"][0] >= 899 and result["lifetime"][1] <= 901
    holds = {"sts": [200], "s3": [200], "iam": [200], "events": [200],
             "gateway": "arn:aws:iam::111111111111:role/r"}
    assert result["now"] == holds
    assert result["30 s before"] == holds
    expired = "The security token included in the request is expired"
    assert result["after"] == {
        "sts": [403, "ExpiredToken", expired], "iam": [403, "ExpiredToken", expired],
        "events": [403, "ExpiredTokenException", expired],
        "s3": [400, "ExpiredToken", "The provided token has expired."],
        "gateway": [expired, True]}
    assert result["issued on the moved clock"] == (
        "arn:aws:sts::111111111111:assumed-role/r/session")
    assert result["clock back"] == holds
