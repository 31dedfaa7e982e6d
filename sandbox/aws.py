"""Emulated AWS for the sandbox: moto in this process for Cognito, IAM, STS and S3, seeded
with the landing zone's accounts, roles, policies, bucket and users.

Seeding runs with moto's IAM enforcement off; then enforcement is switched on, so from the
first client request on, S3 and STS calls are checked against the IAM policies seeded here
(the central roles carry exactly what `roles` compiles). Where moto differs from AWS, the
mends are `sandbox/emulation.py`'s, applied by `start_aws`.
"""

import json
import secrets
import socket
from dataclasses import dataclass, field

import boto3
from moto.server import ThreadedMotoServer

from spec.accounts import (
    PASSWORD_POLICY,
    SESSION_SECONDS,
    access_role_inline_policies,
    access_role_name,
    access_role_tags,
    access_role_trust_policy,
    invoke_policy_documents,
    invoke_policy_keys,
    invoke_policy_name,
    readable_by,
    registry_prefix,
    role_arn,
    sagemaker_role_name,
    sagemaker_trust_policy,
    tracking_server_statements,
    workspace_prefix,
    workspace_role_statements,
    workspace_role_trust_policy,
)
from spec.edge import REFRESH_TOKEN_HOURS, STAGE
from spec.registry_events import (
    AUDIT_LOG_GROUP,
    AUDIT_RULE_NAME,
    EVENT_BUS_NAME,
    audit_event_pattern,
    central_bus_policy,
    event_bus_arn,
    forward_role_name,
    forward_role_statements,
    forward_role_trust_policy,
    log_delivery_policy,
    log_group_arn,
    put_events_statement,
    rule_arn,
    team_bus_policy,
    team_event_pattern,
    team_rule_name,
)

from . import emulation

API_ID = "lzsandbox1"  # ten characters, as API Gateway's ids
BUCKET = "mlflow-artifacts"
# The accounts, teams, groups, users, region and whom refusals name: a SeedPlan
# (sandbox/plan.py), from the stack config the sandbox runs and its users file.


def api_arn(plan) -> str:
    return f"arn:aws:execute-api:{plan.region}:{plan.central_account}:{API_ID}/{STAGE}"


def totp_code(secret: str, at: float = None) -> str:
    """The current code of an authenticator app holding `secret` (RFC 6238, as Cognito)."""
    import base64
    import time

    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    totp = TOTP(key, 6, SHA1(), 30, enforce_key_length=False)
    return totp.generate(int(time.time() if at is None else at)).decode()
# Longer than the stacks' hour (spec.accounts.SESSION_SECONDS): the sandbox hands out one
# SageMaker session per team role and start, through the state file and its AWS profiles.
SAGEMAKER_SESSION_SECONDS = 12 * 3600


def free_port(host: str = "127.0.0.1", preferred: int = 0) -> int:
    """`preferred` if it is free now (an earlier start's), else any free port."""
    for port in ((preferred, 0) if preferred else (0,)):
        with socket.socket() as s:
            # as the servers bind (allow_reuse_address): an earlier start's connections in
            # TIME_WAIT do not keep its port from them
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port on {host}")


@dataclass
class EmulatedAws:
    endpoint_url: str
    port: int
    server: ThreadedMotoServer
    plan: object  # the SeedPlan seeded
    user_pool_id: str = ""
    client_id: str = ""
    users: list = field(default_factory=list)
    teams: list = field(default_factory=list)
    server_keys: dict = field(default_factory=dict)  # the tracking server's access key
    workspace_role_arn: str = ""  # the role it reaches one workspace's storage with
    keeper_keys: dict = field(default_factory=dict)  # the sandbox's own: keeps artifacts
    platform_admin_keys: dict = field(default_factory=dict)  # who manages the pool's users
    serving: dict = field(default_factory=dict)  # {team: its serving loop's facts}
    # the registry's events: the central bus, its audit log group and who may read it
    registry_events: dict = field(default_factory=dict)

    def client(self, service, **credentials):
        return boto3.client(service, region_name=self.plan.region, endpoint_url=self.endpoint_url,
                            aws_access_key_id=credentials.get("AccessKeyId", "seed"),
                            aws_secret_access_key=credentials.get("SecretAccessKey", "seed"),
                            aws_session_token=credentials.get("SessionToken"))

    @property
    def jwks_url(self):
        return f"{self.endpoint_url}/{self.user_pool_id}/.well-known/jwks.json"

    @property
    def issuer(self):
        return f"https://cognito-idp.{self.plan.region}.amazonaws.com/{self.user_pool_id}"

    def stop(self):
        self.server.stop()


def _password() -> str:
    # Cognito's default policy: upper, lower, digit, symbol.
    return "Lz-" + secrets.token_urlsafe(12) + "9a!"


def _seed_central(aws: EmulatedAws):
    iam, s3, plan = aws.client("iam"), aws.client("s3"), aws.plan
    s3.create_bucket(Bucket=BUCKET, **({} if plan.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": plan.region}}))
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    # The access roles' managed policies are shared, one set per key (spec.accounts
    # invoke_policy_keys), as the central stack creates them; each role's inline policies scope
    # them to its own and its shared workspaces.
    policy_arns = {}

    def policies(key):
        if key not in policy_arns:
            policy_arns[key] = [
                iam.create_policy(PolicyName=f"mlflow-{invoke_policy_name(key)}-invoke-{i}",
                                  PolicyDocument=json.dumps(document))["Policy"]["Arn"]
                for i, document in enumerate(invoke_policy_documents(key, api_arn(plan)), 1)]
        return policy_arns[key]

    for team in plan.teams:
        readable = readable_by(plan.workspaces, team.name)
        for level in team.levels:
            name = access_role_name(team.name, level)
            iam.create_role(RoleName=name, MaxSessionDuration=SESSION_SECONDS,
                            AssumeRolePolicyDocument=json.dumps(
                                access_role_trust_policy(team.account_id, team.name, level)),
                            Tags=[{"Key": k, "Value": v}
                                  for k, v in access_role_tags(team.name, level).items()])
            for key in invoke_policy_keys(team.name, level, readable):
                for arn in policies(key):
                    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            for policy_name, document in access_role_inline_policies(
                    level, api_arn(plan), bucket_arn, team=team.name, readable=readable).items():
                iam.put_role_policy(RoleName=name, PolicyName=policy_name,
                                    PolicyDocument=json.dumps(document))
    # The tracking server: on Fargate a task role; here a user, whose keys do not expire. It
    # touches no team's objects itself: it acts for one workspace at a time through the
    # workspace role, tagged with that workspace (spec.accounts).
    server = iam.create_user(UserName="mlflow-tracking-server")["User"]["Arn"]
    aws.workspace_role_arn = iam.create_role(
        RoleName="mlflow-tracking-server-workspace", MaxSessionDuration=SESSION_SECONDS,
        AssumeRolePolicyDocument=json.dumps(
            workspace_role_trust_policy(plan.central_account, server))
    )["Role"]["Arn"]
    iam.put_role_policy(RoleName="mlflow-tracking-server-workspace", PolicyName="one-workspace",
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": workspace_role_statements(
                                                       bucket_arn)}))
    iam.put_user_policy(UserName="mlflow-tracking-server", PolicyName="act-for-a-workspace",
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": tracking_server_statements(
                                                       aws.workspace_role_arn)}))
    aws.server_keys = _access_key(iam, "mlflow-tracking-server")
    # The sandbox itself (not MLflow) keeps the bucket's objects on disk between runs and logs
    # the example run: a person with the account's S3 rights, as on AWS.
    iam.create_user(UserName="sandbox-keeper")
    iam.put_user_policy(UserName="sandbox-keeper", PolicyName="keep-artifacts",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow", "Action": "s3:*",
                            "Resource": [bucket_arn, f"{bucket_arn}/*"]}]}))
    aws.keeper_keys = _access_key(iam, "sandbox-keeper")


def _access_key(iam, user: str) -> dict:
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def _seed_teams(aws: EmulatedAws):
    """Each team account's SageMaker execution roles, and a session of each (as a job gets)."""
    sts, plan = aws.client("sts"), aws.plan
    for t in aws.plan.teams:
        team, account = t.name, t.account_id
        # moto acts in another account with credentials of a role assumed there.
        admin = sts.assume_role(RoleArn=role_arn(account, "seed"),
                                RoleSessionName="seed")["Credentials"]
        iam = aws.client("iam", **admin)
        team_sts = aws.client("sts", **admin)
        roles = []
        for level in t.sagemaker_levels:
            name = sagemaker_role_name(team, level)
            central_role = role_arn(plan.central_account, access_role_name(team, level))
            arn = iam.create_role(
                RoleName=name, MaxSessionDuration=SAGEMAKER_SESSION_SECONDS,
                AssumeRolePolicyDocument=json.dumps(sagemaker_trust_policy(account))
            )["Role"]["Arn"]
            iam.put_role_policy(RoleName=name, PolicyName="mlflow", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": central_role}]}))
            session = team_sts.assume_role(
                RoleArn=arn, RoleSessionName=f"sagemaker-{level}",
                DurationSeconds=SAGEMAKER_SESSION_SECONDS)["Credentials"]
            roles.append({"level": level, "sagemaker_role_arn": arn,
                          "central_role_arn": central_role,
                          "credentials": {**{k: session[k] for k in
                                             ("AccessKeyId", "SecretAccessKey", "SessionToken")},
                                          "Expiration": session["Expiration"].isoformat()}})
        aws.teams.append({"name": team, "account_id": account, "workspace": team,
                          "artifact_prefix": f"s3://{BUCKET}/{workspace_prefix(team)}",
                          "registry_prefix": f"s3://{BUCKET}/{registry_prefix(team)}",
                          "readable_workspaces": readable_by(plan.workspaces, team),
                          "roles": roles})


def _audit_trail(aws: EmulatedAws, credentials: dict, account: str):
    """As components/registry_events.py: every event of the account's bus into its log group."""
    events, logs, region = (aws.client("events", **credentials), aws.client("logs", **credentials),
                            aws.plan.region)
    logs.create_log_group(logGroupName=AUDIT_LOG_GROUP)
    logs.put_resource_policy(policyName=f"{EVENT_BUS_NAME}-audit", policyDocument=json.dumps(
        log_delivery_policy(log_group_arn(region, account),
                            rule_arn(region, account, AUDIT_RULE_NAME))))
    events.put_rule(Name=AUDIT_RULE_NAME, EventBusName=EVENT_BUS_NAME,
                    EventPattern=json.dumps(audit_event_pattern()))
    events.put_targets(Rule=AUDIT_RULE_NAME, EventBusName=EVENT_BUS_NAME, Targets=[
        {"Id": "audit-log", "Arn": log_group_arn(region, account)}])


def _seed_registry_events(aws: EmulatedAws):
    """The registry's events as the stacks deploy them (components/registry_events.py): the
    central bus (its policy admitting the team deployers' status alone), a forward rule per team (with its own role) to that team account's bus, the
    audit log group; the tracking server may put on the central bus alone. Readers of the
    logs (the sandbox's window on the buses): the central account's auditor, and in each team
    account a role that reads that account's record."""
    plan, iam, events = aws.plan, aws.client("iam"), aws.client("events")
    central, region = plan.central_account, plan.region
    bus = events.create_event_bus(Name=EVENT_BUS_NAME)["EventBusArn"]
    # the team accounts' deployers report their endpoints' status here, and only that (judged
    # by sandbox/serving.py's mends, as EventBridge judges another account's PutEvents)
    events.put_permission(EventBusName=EVENT_BUS_NAME, Policy=json.dumps(
        central_bus_policy(bus, [t.account_id for t in plan.teams])))
    _audit_trail(aws, {}, central)
    iam.put_user_policy(UserName="mlflow-tracking-server", PolicyName="registry-events",
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": [put_events_statement(bus)]}))
    # moto judges Logs' actions against `*` only (on AWS: the log group's ARN)
    read_logs = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Resource": "*",
        "Action": ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"]}]}
    iam.create_user(UserName="registry-auditor")
    iam.put_user_policy(UserName="registry-auditor", PolicyName="read-the-audit-trail",
                        PolicyDocument=json.dumps(read_logs))
    aws.registry_events = {"bus_arn": bus, "audit_log_group": AUDIT_LOG_GROUP,
                           "auditor": _access_key(iam, "registry-auditor")}
    sts = aws.client("sts")
    for t, team in zip(plan.teams, aws.teams):
        team_bus = event_bus_arn(region, t.account_id)
        iam.create_role(RoleName=forward_role_name(t.name), AssumeRolePolicyDocument=json.dumps(
            forward_role_trust_policy(region, central, t.name)))
        iam.put_role_policy(RoleName=forward_role_name(t.name), PolicyName="forward",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement":
                                                       forward_role_statements(team_bus)}))
        events.put_rule(Name=team_rule_name(t.name), EventBusName=EVENT_BUS_NAME,
                        EventPattern=json.dumps(team_event_pattern(t.name)))
        events.put_targets(Rule=team_rule_name(t.name), EventBusName=EVENT_BUS_NAME, Targets=[{
            "Id": "team-bus", "Arn": team_bus,
            "RoleArn": role_arn(central, forward_role_name(t.name))}])
        # the team account's side (the team stack's TeamEventBus)
        admin = sts.assume_role(RoleArn=role_arn(t.account_id, "seed"),
                                RoleSessionName="seed")["Credentials"]
        team_events = aws.client("events", **admin)
        team_events.create_event_bus(Name=EVENT_BUS_NAME)
        team_events.put_permission(EventBusName=EVENT_BUS_NAME, Policy=json.dumps(
            team_bus_policy(team_bus, central, t.name)))
        _audit_trail(aws, admin, t.account_id)
        team_iam = aws.client("iam", **admin)
        team_iam.create_role(RoleName="registry-events-reader",
                             AssumeRolePolicyDocument=json.dumps({
                                 "Version": "2012-10-17", "Statement": [{
                                     "Effect": "Allow", "Action": "sts:AssumeRole",
                                     "Principal": {"AWS": f"arn:aws:iam::{t.account_id}:root"}}]}),
                             MaxSessionDuration=SAGEMAKER_SESSION_SECONDS)
        team_iam.put_role_policy(RoleName="registry-events-reader", PolicyName="read",
                                 PolicyDocument=json.dumps(read_logs))
        reader = aws.client("sts", **admin).assume_role(
            RoleArn=role_arn(t.account_id, "registry-events-reader"),
            RoleSessionName="registry-events-reader",
            DurationSeconds=SAGEMAKER_SESSION_SECONDS)["Credentials"]
        team["deploy_alias"] = t.deploy_alias
        team["require_second_person"] = t.require_second_person
        team["registry_events"] = {
            "bus_arn": team_bus, "log_group": AUDIT_LOG_GROUP,
            "reader": {k: reader[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}}


def _seed_cognito(aws: EmulatedAws, token_seconds: int, passwords: dict):
    idp, plan = aws.client("cognito-idp"), aws.plan
    pool = idp.create_user_pool(PoolName="mlflow", Policies={"PasswordPolicy": PASSWORD_POLICY},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})["UserPool"]
    aws.user_pool_id = pool["Id"]
    # as components/identity.py: the config's mfa, with authenticator apps unless OFF
    idp.set_user_pool_mfa_config(UserPoolId=pool["Id"], MfaConfiguration=plan.mfa,
                                 **({} if plan.mfa == "OFF" else {
                                     "SoftwareTokenMfaConfiguration": {"Enabled": True}}))
    aws.client_id = idp.create_user_pool_client(
        UserPoolId=pool["Id"], ClientName="mlflow-ui", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                           "ALLOW_REFRESH_TOKEN_AUTH"],
        IdTokenValidity=token_seconds, AccessTokenValidity=token_seconds,
        RefreshTokenValidity=REFRESH_TOKEN_HOURS,
        TokenValidityUnits={"IdToken": "seconds", "AccessToken": "seconds",
                            "RefreshToken": "hours"},
        EnableTokenRevocation=True,
    )["UserPoolClient"]["ClientId"]
    for group in (*plan.group_levels, *plan.team_groups):
        idp.create_group(GroupName=group, UserPoolId=pool["Id"])
    for u in plan.users:
        username, groups, temporary = u.name, u.groups, u.new
        password = passwords.get(username) or _password()  # an earlier start's, if any
        idp.admin_create_user(UserPoolId=pool["Id"], Username=username,
                              MessageAction="SUPPRESS",
                              **({"TemporaryPassword": password} if temporary else {}))
        if not temporary:
            idp.admin_set_user_password(UserPoolId=pool["Id"], Username=username,
                                        Password=password, Permanent=True)
        for group in groups:
            idp.admin_add_user_to_group(UserPoolId=pool["Id"], Username=username,
                                        GroupName=group)
        user = {"username": username, "password": password, "groups": list(groups),
                **({"temporary_password": True} if temporary else {})}
        if u.mfa:
            user["totp_secret"] = _enrol_authenticator(idp, pool["Id"], aws.client_id,
                                                       username, password)
        aws.users.append(user)


def _seed_platform_admin(aws: EmulatedAws):
    """The platform team's identity for the user pool (docs/deploy.md, "Remove a user"): an
    IAM user of the central account that may administer users, nothing else. (On AWS the
    resource would be the pool's ARN; moto judges Cognito actions against `*` only.)"""
    iam = aws.client("iam")
    iam.create_user(UserName="platform-admin")
    iam.put_user_policy(UserName="platform-admin", PolicyName="manage-mlflow-users",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow", "Action": "cognito-idp:Admin*",
                            "Resource": "*"}]}))
    key = iam.create_access_key(UserName="platform-admin")["AccessKey"]
    aws.platform_admin_keys = {"AccessKeyId": key["AccessKeyId"],
                               "SecretAccessKey": key["SecretAccessKey"]}


def _enrol_authenticator(idp, pool_id, client_id, username, password) -> str:
    """What a user does once in Cognito: pair an authenticator app, then prefer it."""
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": username, "PASSWORD": password})["AuthenticationResult"]
    secret = idp.associate_software_token(AccessToken=tokens["AccessToken"])["SecretCode"]
    for attempt in range(3):
        try:
            idp.verify_software_token(AccessToken=tokens["AccessToken"],
                                      UserCode=totp_code(secret))
            break
        except idp.exceptions.CodeMismatchException:
            # a code made just before its 30-second window closed arrives stale on a loaded
            # machine (seen at a load average of 80): as a person would, type the next one
            if attempt == 2:
                raise
    idp.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=username,
                                      SoftwareTokenMfaSettings={"Enabled": True,
                                                                "PreferredMfa": True})
    return secret


# The sessions the state file hands out (a team's SageMaker roles', its application's, its
# audit reader's) are renewed this long before they expire, as SageMaker hands a job new
# credentials before its old ones expire: a sandbox left running for days keeps its profiles good.
RENEW_AHEAD_SECONDS = 3600


def _held_sessions(value):
    """Every session (a dict with AccessKeyId and SessionToken) in the teams' state."""
    if isinstance(value, dict):
        if "AccessKeyId" in value and "SessionToken" in value:
            yield value
        else:
            for item in value.values():
                yield from _held_sessions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _held_sessions(item)


def renew_sessions(aws: "EmulatedAws") -> int:
    """Renew, in place, the teams' sessions that expire within RENEW_AHEAD_SECONDS by the STS
    clock: a new session of the same role and name, for SAGEMAKER_SESSION_SECONDS, issued as
    the AWS service issues it (not a call signed by anyone). How many were renewed."""
    from datetime import timedelta

    from moto.sts.models import sts_backends

    renewed = 0
    soon = emulation.sts_now() + timedelta(seconds=RENEW_AHEAD_SECONDS)
    for held in _held_sessions(aws.teams):
        session = emulation.session_of_key(held["AccessKeyId"])
        if session is None or emulation.expires_at(session) > soon:
            continue
        fresh = sts_backends[session.account_id]["global"].assume_role(
            aws.plan.region, session.session_name, session.role_arn, None,
            SAGEMAKER_SESSION_SECONDS, None)
        held.update({"AccessKeyId": fresh.access_key_id,
                     "SecretAccessKey": fresh.secret_access_key,
                     "SessionToken": fresh.session_token})
        if "Expiration" in held:
            held["Expiration"] = emulation.expires_at(fresh).isoformat()
        renewed += 1
    return renewed


def start_aws(plan, port: int = 0, token_seconds: int = None,
              passwords: dict = None, serving_api_url: str = None,
              serving_dir=None) -> EmulatedAws:
    """moto, mended and seeded as `plan` (sandbox/plan.py) says. `token_seconds`: the tokens'
    life (default the plan's); `passwords`: {username: password} to keep from an earlier
    start (the others get new ones); `serving_api_url`: the API the status writer calls (the
    gateway's URL): with it, the serving loop (sandbox/serving.py) is mended in and seeded,
    its hosted models under `serving_dir`."""
    emulation.install(plan.central_account)
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    aws = EmulatedAws(endpoint_url=f"http://127.0.0.1:{port}", port=port, server=server,
                      plan=plan)
    _seed_central(aws)
    _seed_teams(aws)
    _seed_registry_events(aws)
    _seed_cognito(aws, token_seconds or plan.token_seconds, passwords or {})
    _seed_platform_admin(aws)
    if serving_api_url:
        from . import serving

        serving.install(aws.endpoint_url, serving_dir)
        aws.serving = serving.seed(aws, serving_api_url, serving_dir)
        for team in aws.teams:
            team["serving"] = aws.serving[team["name"]]
    emulation.enforce_iam()
    return aws
