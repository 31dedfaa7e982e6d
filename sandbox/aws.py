"""Emulated AWS for the sandbox: moto in this process for Cognito, IAM, STS and S3, seeded
with the landing zone's accounts, roles, policies, bucket and users.

Seeding runs with moto's IAM enforcement off; then enforcement is switched on, so from the
first client request on, S3 and STS calls are checked against the IAM policies seeded here
(the central roles carry exactly what `roles` compiles).
"""

import json
import os
import secrets
import socket
from dataclasses import dataclass, field

import boto3
import moto.iam.models
from moto.server import ThreadedMotoServer

from roles import LEVELS, managed_policies
from roles.accounts import (
    PLATFORM_GROUP_LEVELS,
    access_role_name,
    access_role_trust_policy,
    artifact_policy,
    readable_by,
    registry_prefix,
    sagemaker_role_name,
    team_group,
    tracking_server_statements,
    workspace_prefix,
)
from roles.edge import REFRESH_TOKEN_HOURS

CENTRAL_ACCOUNT = "111111111111"
# moto puts a request whose access key it does not know in its default account; make that the
# central account. (MOTO_ACCOUNT_ID would pin every request to one account, even those signed
# with a team account's keys.)
moto.iam.models.DEFAULT_ACCOUNT_ID = CENTRAL_ACCOUNT

REGION = "us-east-1"
API_ID = "lzsandbox1"  # ten characters, as API Gateway's ids
STAGE = "prod"
API_ARN = f"arn:aws:execute-api:{REGION}:{CENTRAL_ACCOUNT}:{API_ID}/{STAGE}"
BUCKET = "mlflow-artifacts"
# The central stack's platformContact: whom every refusal tells a user to ask
PLATFORM_CONTACT = "the platform team (#mlflow-platform)"
# (team, account, levels of its SageMaker roles, teams its workspace is shared with as readers):
# team-b lets team-a read its workspace; team-a shares nothing.
TEAMS = (
    ("team-a", "222222222222", LEVELS, ()),
    ("team-b", "333333333333", ("reader", "contributor"), ("team-a",)),
)
# The workspaces and who may read each, as the authorizer's WORKSPACES takes them.
WORKSPACES = {team: list(shared) for team, _, _, shared in TEAMS}
# Groups that hold a level in every workspace (the platform team); every other group is
# `<team>:<level>`, a level in one team's workspace.
GROUP_LEVELS = dict(PLATFORM_GROUP_LEVELS)
TEAM_GROUPS = tuple(team_group(team, level) for team, *_ in TEAMS for level in LEVELS)
# One user per level in team-a, and a platform admin; one in two groups (contributor and
# model-approver: groups add up); one in no group, whom the authorizer refuses and the UI
# tells why; one in two teams with a different level in each; one of team-b alone; team-a's
# own admin (admin in its workspace, without the platform's routes); and a new
# reader whose password is still the administrator's temporary one, as every user's is on AWS
# until their first sign-in.
USERS = tuple((f"{level}-user", (f"team-a:{level}",)) for level in LEVELS if level != "admin") + (
    ("admin-user", ("platform-admins",)),
    ("two-groups-user", ("team-a:contributor", "team-a:model-approver")),
    ("two-teams-user", ("team-a:reader", "team-b:contributor")),
    ("team-b-user", ("team-b:contributor",)),
    ("team-admin-user", ("team-a:admin",)),
    ("no-group-user", ()))
NEW_USERS = (("new-user", ("team-a:reader",)),)
# And a reader with an authenticator app (TOTP), whose codes moto checks.
MFA_USERS = (("mfa-user", ("team-a:reader",)),)


def totp_code(secret: str, at: float = None) -> str:
    """The current code of an authenticator app holding `secret` (RFC 6238, as Cognito)."""
    import base64
    import time

    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    totp = TOTP(key, 6, SHA1(), 30, enforce_key_length=False)
    return totp.generate(int(time.time() if at is None else at)).decode()
SAGEMAKER_SESSION_SECONDS = 12 * 3600


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class EmulatedAws:
    endpoint_url: str
    port: int
    server: ThreadedMotoServer
    user_pool_id: str = ""
    client_id: str = ""
    users: list = field(default_factory=list)
    teams: list = field(default_factory=list)
    server_keys: dict = field(default_factory=dict)  # the tracking server's access key
    platform_admin_keys: dict = field(default_factory=dict)  # who manages the pool's users

    def client(self, service, **credentials):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url,
                            aws_access_key_id=credentials.get("AccessKeyId", "seed"),
                            aws_secret_access_key=credentials.get("SecretAccessKey", "seed"),
                            aws_session_token=credentials.get("SessionToken"))

    @property
    def jwks_url(self):
        return f"{self.endpoint_url}/{self.user_pool_id}/.well-known/jwks.json"

    @property
    def issuer(self):
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.user_pool_id}"

    def stop(self):
        self.server.stop()


def _password() -> str:
    # Cognito's default policy: upper, lower, digit, symbol.
    return "Lz-" + secrets.token_urlsafe(12) + "9a!"


def _seed_central(aws: EmulatedAws):
    iam, s3 = aws.client("iam"), aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    # One set of managed policies per (workspace, level), attached to every role that holds
    # that level there: a team's own roles, and (as reader) the roles of teams it shares with.
    policy_arns = {}

    def policies(workspace, level):
        if (workspace, level) not in policy_arns:
            policy_arns[workspace, level] = [
                iam.create_policy(PolicyName=f"mlflow-{workspace}-{level}-invoke-{i}",
                                  PolicyDocument=json.dumps(document))["Policy"]["Arn"]
                for i, document in enumerate(managed_policies(level, API_ARN, workspace), 1)]
        return policy_arns[workspace, level]

    for team, account, levels, _ in TEAMS:
        readable = readable_by(WORKSPACES, team)
        for level in levels:
            name = access_role_name(team, level)
            iam.create_role(RoleName=name, MaxSessionDuration=3600,
                            AssumeRolePolicyDocument=json.dumps(
                                access_role_trust_policy(account, team, level)))
            arns = policies(team, level) + [a for w in readable for a in policies(w, "reader")]
            for arn in arns:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            iam.put_role_policy(RoleName=name, PolicyName="artifacts", PolicyDocument=json.dumps(
                artifact_policy(level, bucket_arn, team=team, readable=readable)))
    # The tracking server: on Fargate a task role; here a user, whose keys do not expire.
    iam.create_user(UserName="mlflow-tracking-server")
    iam.put_user_policy(UserName="mlflow-tracking-server", PolicyName="artifacts",
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": tracking_server_statements(
                                                       bucket_arn)}))
    key = iam.create_access_key(UserName="mlflow-tracking-server")["AccessKey"]
    aws.server_keys = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def _seed_teams(aws: EmulatedAws):
    """Each team account's SageMaker execution roles, and a session of each (as a job gets)."""
    sts = aws.client("sts")
    for team, account, levels, _ in TEAMS:
        # moto acts in another account with credentials of a role assumed there.
        admin = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/seed",
                                RoleSessionName="seed")["Credentials"]
        iam = aws.client("iam", **admin)
        team_sts = aws.client("sts", **admin)
        roles = []
        for level in levels:
            name = sagemaker_role_name(team, level)
            central_role = f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/{access_role_name(team, level)}"
            arn = iam.create_role(
                RoleName=name, MaxSessionDuration=SAGEMAKER_SESSION_SECONDS,
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
            iam.put_role_policy(RoleName=name, PolicyName="mlflow", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": central_role}]}))
            session = team_sts.assume_role(
                RoleArn=arn, RoleSessionName=f"sagemaker-{level}",
                DurationSeconds=SAGEMAKER_SESSION_SECONDS)["Credentials"]
            roles.append({"level": level, "sagemaker_role_arn": arn,
                          "central_role_arn": central_role,
                          "credentials": {k: session[k] for k in
                                          ("AccessKeyId", "SecretAccessKey", "SessionToken")}})
        aws.teams.append({"name": team, "account_id": account, "workspace": team,
                          "artifact_prefix": f"s3://{BUCKET}/{workspace_prefix(team)}",
                          "registry_prefix": f"s3://{BUCKET}/{registry_prefix(team)}",
                          "readable_workspaces": readable_by(WORKSPACES, team), "roles": roles})


_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _honour_token_validity():
    """moto issues every id and access token for an hour, whatever the app client says; make
    it honour the client's IdTokenValidity/AccessTokenValidity and their units, as Cognito does
    (the sandbox's --token-seconds, and the browser tests of refreshing, depend on it)."""
    from moto.cognitoidp.models import CognitoIdpUserPool

    original = CognitoIdpUserPool.create_jwt
    if getattr(original, "honours_validity", False):
        return

    def create_jwt(self, client_id, username, token_use, expires_in=3600, extra_data=None):
        client = self.clients.get(client_id)
        kind = {"id": "IdToken", "access": "AccessToken"}.get(token_use)
        if client is not None and kind and client.extended_config.get(f"{kind}Validity"):
            unit = (client.extended_config.get("TokenValidityUnits") or {}).get(kind, "hours")
            expires_in = int(client.extended_config[f"{kind}Validity"]) * _SECONDS[unit]
        return original(self, client_id, username, token_use, expires_in, extra_data)

    create_jwt.honours_validity = True
    CognitoIdpUserPool.create_jwt = create_jwt


def _faithful_challenges():
    """Two of moto's challenge answers differ from Cognito's where Cognito's own browser
    library notices. NEW_PASSWORD_REQUIRED lacks the `userAttributes` and
    `requiredAttributes` parameters (JSON strings) Cognito sends; add them as Cognito does for
    a user with no required attributes."""
    from moto.cognitoidp.models import CognitoIdpBackend

    original = CognitoIdpBackend.initiate_auth
    if getattr(original, "faithful", False):
        return

    def initiate_auth(self, client_id, auth_flow, auth_parameters):
        result = original(self, client_id, auth_flow, auth_parameters)
        if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            parameters = result.setdefault("ChallengeParameters", {})
            parameters.setdefault("userAttributes", json.dumps({}))
            parameters.setdefault("requiredAttributes", json.dumps([]))
        return result

    initiate_auth.faithful = True
    CognitoIdpBackend.initiate_auth = initiate_auth

    # SRP: Cognito's browser library answers PASSWORD_VERIFIER with USER_ID_FOR_SRP (the
    # user's id) as USERNAME, which Cognito accepts and moto looks up as a user name.
    respond = CognitoIdpBackend.respond_to_auth_challenge

    def respond_to_auth_challenge(self, session, client_id, challenge_name, responses):
        if challenge_name == "PASSWORD_VERIFIER" and responses.get("USERNAME"):
            for pool in self.user_pools.values():
                for user in pool.users.values():
                    if user.id == responses["USERNAME"]:
                        responses = {**responses, "USERNAME": user.username}
        return respond(self, session, client_id, challenge_name, responses)

    CognitoIdpBackend.respond_to_auth_challenge = respond_to_auth_challenge


def _judge_s3_as_iam_does():
    """moto evaluates conditions only in trust policies, and there crudely; the artifact
    policies name the prefixes a role may list (`s3:prefix`). Judge every S3 request with the
    evaluator the gateway uses (`roles.policy_eval`, proved against IAM's rules in the tests):
    an explicit Deny wins, else an Allow whose conditions hold, else refused."""
    from urllib.parse import parse_qs, urlsplit

    from moto.iam.access_control import IAMPolicy, S3IAMRequest

    from roles.policy_eval import ALLOW, evaluate

    if getattr(S3IAMRequest.check_action_permitted, "judged_as_iam", False):
        return

    def check_action_permitted(self, resource):
        documents = [IAMPolicy(policy)._policy_json
                     for policy in self._access_key.collect_policies()]
        context = {}
        if self._action.startswith("s3:ListBucket"):
            prefix = parse_qs(urlsplit(self._path).query).get("prefix")
            if prefix:
                context["s3:prefix"] = prefix[0]
        if evaluate(documents, self._action, resource, context) != ALLOW:
            self._raise_access_denied()

    check_action_permitted.judged_as_iam = True
    S3IAMRequest.check_action_permitted = check_action_permitted


def revoke_refresh_token(client_id: str, token: str) -> bool:
    """Cognito's RevokeToken, which moto lacks: the refresh token stops working."""
    from moto.cognitoidp.models import cognitoidp_backends

    for regions in cognitoidp_backends.values():
        for backend in regions.values():
            for pool in backend.user_pools.values():
                entry = pool.refresh_tokens.get(token)
                if entry and entry[0] == client_id:
                    pool.refresh_tokens[token] = None
                    return True
    return False


def _seed_cognito(aws: EmulatedAws, token_seconds: int):
    idp = aws.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="mlflow", Policies={"PasswordPolicy": {
        "MinimumLength": 14, "RequireUppercase": True, "RequireLowercase": True,
        "RequireNumbers": True, "RequireSymbols": True}},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})["UserPool"]
    aws.user_pool_id = pool["Id"]
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
    for group in (*GROUP_LEVELS, *TEAM_GROUPS):
        idp.create_group(GroupName=group, UserPoolId=pool["Id"])
    for username, groups in USERS + NEW_USERS + MFA_USERS:
        password = _password()
        temporary = (username, groups) in NEW_USERS
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
        if (username, groups) in MFA_USERS:
            user["totp_secret"] = _enrol_authenticator(idp, pool["Id"], aws.client_id,
                                                       username, password)
        aws.users.append(user)


def _seed_platform_admin(aws: EmulatedAws):
    """The platform team's identity for the user pool (the README's "Remove a user" commands):
    an IAM user of the central account that may administer users, nothing else. (On AWS the
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
    idp.verify_software_token(AccessToken=tokens["AccessToken"], UserCode=totp_code(secret))
    idp.admin_set_user_mfa_preference(UserPoolId=pool_id, Username=username,
                                      SoftwareTokenMfaSettings={"Enabled": True,
                                                                "PreferredMfa": True})
    return secret


# Cognito operations that AWS serves unsigned (they take a session or a token instead), which
# moto's IAM enforcement would otherwise refuse: a browser signing in calls them.
PUBLIC_COGNITO_OPERATIONS = ("RespondToAuthChallenge", "RevokeToken", "AssociateSoftwareToken",
                             "VerifySoftwareToken", "GlobalSignOut", "ChangePassword",
                             "ConfirmForgotPassword")


def _enforce_iam():
    from moto import settings
    from moto.core.responses import ActionAuthenticatorMixin

    for operation in PUBLIC_COGNITO_OPERATIONS:
        target = f"AWSCognitoIdentityProviderService.{operation}"
        if target not in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
            ActionAuthenticatorMixin.PUBLIC_OPERATIONS.append(target)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


def start_aws(port: int = 0, token_seconds: int = 3600) -> EmulatedAws:
    # moto checks TOTP codes only when asked to; Cognito always does.
    os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    aws = EmulatedAws(endpoint_url=f"http://127.0.0.1:{port}", port=port, server=server)
    _seed_central(aws)
    _seed_teams(aws)
    _honour_token_validity()
    _faithful_challenges()
    _seed_cognito(aws, token_seconds)
    _seed_platform_admin(aws)
    _judge_s3_as_iam_does()
    _enforce_iam()
    return aws


# --- what the gateway asks of IAM and STS -----------------------------------------------------


def lookup_access_key(access_key: str):
    """(secret, session token, role ARN, session ARN, account) of an STS session, or None."""
    from moto.sts.models import sts_backends

    for account, regions in sts_backends.items():
        backend = regions.get("global") or next(iter(regions.values()), None)
        if backend is None:
            continue
        for role in backend.assumed_roles:
            if role.access_key_id == access_key:
                return role.secret_access_key, role.session_token, role.role_arn, role.arn, \
                    role.role_arn.split(":")[4]
    return None


def identity_policies(role_arn: str) -> list:
    """Every policy document attached to a role (inline and managed), as IAM holds them."""
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4]
    role = iam_backends[account]["global"].get_role_by_arn(role_arn)
    documents = [json.loads(doc) if isinstance(doc, str) else doc
                 for doc in role.policies.values()]
    for policy in role.managed_policies.values():
        version = next(v for v in policy.versions if v.version_id == policy.default_version_id)
        document = version.document
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents
