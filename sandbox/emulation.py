"""Where moto differs from AWS in ways the sandbox depends on, mended in one place.

Importing this module changes nothing. `install(central_account)` applies every mend, once per
process, after `check_moto()` has found the moto these mends were written for: each patched
or read moto internal is listed in `MOTO_INTERNALS` with the signature the mend expects, so a
moto upgrade that changes one stops the sandbox with the name of what changed (and
`tests/sandbox/test_emulation.py` says so before anyone starts it). The lookups the gateway and the UI
server make in moto's backends (an access key's session, a role's policies, RevokeToken) live
here too.
"""

import inspect
import json
from datetime import datetime, timedelta, timezone
from importlib import import_module
from importlib.metadata import version
from pathlib import Path

from .sigv4 import ExpiredToken

MOTO_VERSION = "5.2.5"  # requirements.txt pins it; the mends are proved against it

# Every moto internal this module replaces or reads: where it is, and the signature (for
# callables) or the kind of value it must have.
MOTO_INTERNALS = {
    "moto.cognitoidp.models.CognitoIdpUserPool.create_jwt":
        "(self, client_id: 'str', username: 'str', token_use: 'str', expires_in: 'int' = 3600, "
        "extra_data: 'dict[str, Any] | None' = None) -> 'tuple[str, int]'",
    "moto.cognitoidp.models.CognitoIdpBackend.initiate_auth":
        "(self, client_id: 'str', auth_flow: 'str', auth_parameters: 'dict[str, str]') "
        "-> 'dict[str, Any]'",
    "moto.cognitoidp.models.CognitoIdpBackend.respond_to_auth_challenge":
        "(self, session: 'str', client_id: 'str', challenge_name: 'str', "
        "challenge_responses: 'dict[str, str]') -> 'dict[str, Any]'",
    "moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp": "() -> bool",
    "moto.iam.access_control.S3IAMRequest.check_action_permitted":
        "(self, resource: 'str') -> 'None'",
    "moto.iam.access_control.IAMPolicy": type,
    "moto.iam.access_control.IAMRequestBase._check_role_trust_relationship":
        "(self, role_arn: 'str') -> 'bool'",
    "moto.iam.access_control.IAMRequestBase._is_assuming_role_operation":
        "(self, resource_arn: 'str') -> 'bool'",
    "moto.iam.access_control.AssumedRoleAccessKey": type,
    # STS sessions expire (moto's are honoured forever)
    "moto.iam.access_control.AssumedRoleAccessKey.__init__":
        "(self, account_id: 'str', partition: 'str', access_key_id: 'str', "
        "headers: 'dict[str, str]')",
    "moto.iam.access_control.CreateAccessKeyFailure": type,
    "moto.iam.access_control.IAMRequest._raise_invalid_access_key": "(self, _: 'str') -> 'None'",
    "moto.iam.access_control.S3IAMRequest._raise_invalid_access_key":
        "(self, reason: 'str') -> 'None'",
    "moto.sts.models.AssumedRole.__init__":
        "(self, account_id: str, region_name: str, access_key: moto.iam.models.AccessKey, "
        "role_session_name: str, role_arn: str, policy: str, duration: int, external_id: str)",
    "moto.s3.exceptions.S3ClientError": type,
    "moto.core.exceptions.JsonRESTError": type,
    "moto.core.exceptions._RESTError": type,
    "moto.sts.responses.TokenResponse.assume_role":
        "(self) -> moto.core.responses.ActionResult",
    "moto.sts.models.STSBackend.assume_role":
        "(self, region_name: str, role_session_name: str, role_arn: str, policy: str, "
        "duration: int, external_id: str) -> moto.sts.models.AssumedRole",
    "moto.cognitoidp.responses.CognitoIdpJsonWebKeyResponse.json_web_key": bytes,
    "moto.iam.models.DEFAULT_ACCOUNT_ID": str,
    "moto.core.responses.ActionAuthenticatorMixin.PUBLIC_OPERATIONS": list,
    "moto.settings.INITIAL_NO_AUTH_ACTION_COUNT": (int, float),
    "moto.cognitoidp.models.cognitoidp_backends": object,
    "moto.sts.models.sts_backends": object,
    "moto.iam.models.iam_backends": object,
    "moto.moto_server.werkzeug_app.DomainDispatcherApplication.__call__":
        "(self, environ: dict[str, typing.Any], start_response: Any) -> Any",
    "moto.moto_server.werkzeug_app.DISABLE_GLOBAL_CORS": bool,
    # EventBridge (the registry's events): which bus a PutEvents names, for IAM
    "moto.events.responses.EventsHandler": type,
    "moto.core.responses.BaseResponse.call_action": "(self) -> 'TYPE_RESPONSE'",
}

_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# The session tags of every STS session, by access key id (moto keeps none).
SESSION_TAGS: dict = {}
# Cognito operations that AWS serves unsigned (they take a session or a token instead), which
# moto's IAM enforcement would otherwise refuse: a browser signing in calls them.
PUBLIC_COGNITO_OPERATIONS = ("RespondToAuthChallenge", "RevokeToken", "AssociateSoftwareToken",
                             "VerifySoftwareToken", "GlobalSignOut", "ChangePassword")
# Cognito operations that, served unsigned as moto serves the first three
# (ActionAuthenticatorMixin.PUBLIC_OPERATIONS), let anyone make a user or set a password: moto
# ignores the pool's AllowAdminCreateUserOnly, confirms a sign-up without a code, and takes any
# code but its own for a password reset (and hands its own out in a response header). On AWS
# the pool refuses sign-ups and mails a reset code to the user's verified address; the sandbox
# sends no mail and the UI has neither flow (a user whose password must be reset asks the
# platform team), so here they need a signature that IAM allows, as the platform team's do.
SIGNED_COGNITO_OPERATIONS = ("SignUp", "ConfirmSignUp", "ForgotPassword",
                             "ConfirmForgotPassword")
# moto's own API (its dashboard, data.json with every secret key and password, reset-auth that
# turns IAM enforcement off, reset): not reachable over HTTP; the sandbox reads moto's backends
# in process (below). moto routes every path with this prefix there.
MOTO_API_PREFIX = "/moto-api"
# The clock STS sessions live by: the wall clock, moved on by the seconds written in the file
# `use_sts_clock_file` names (`sts-clock-offset` beside the state file), so that a test can
# see a session expire without waiting for it. Only sessions' lifetimes read it (their
# Expiration when issued, and whether they still hold); a signature's date (5 minutes' skew)
# and Cognito's tokens keep the wall clock.
STS_CLOCK_FILE = "sts-clock-offset"
_sts_clock_file = []
_installed = []


class MotoChanged(RuntimeError):
    """The installed moto is not the one the sandbox's mends were written for."""


def _locate(path: str):
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attribute in parts[i:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(path)


def check_moto() -> None:
    """Raise MotoChanged naming every internal that moved or changed shape."""
    problems = []
    installed = version("moto")
    if installed != MOTO_VERSION:
        problems.append(f"moto {installed} is installed; the sandbox is proved on "
                        f"{MOTO_VERSION} (requirements.txt)")
    from .serving import MOTO_INTERNALS as SERVING_INTERNALS

    for path, expected in {**MOTO_INTERNALS, **SERVING_INTERNALS}.items():
        try:
            obj = _locate(path)
        except (ImportError, AttributeError):
            problems.append(f"{path} is gone")
            continue
        obj = getattr(obj, "__wrapped_by_sandbox__", obj)
        if isinstance(expected, str):
            found = str(inspect.signature(obj))
            if found != expected:
                problems.append(f"{path} is now {found}, the mend expects {expected}")
        elif expected is type:
            if not isinstance(obj, type):
                problems.append(f"{path} is no longer a class")
        elif not isinstance(obj, expected):
            problems.append(f"{path} is a {type(obj).__name__}, not {expected}")
    if problems:
        raise MotoChanged("the sandbox's moto mends (sandbox/emulation.py) need a look: "
                          + "; ".join(problems))


def install(central_account: str) -> None:
    """Apply every mend (once per process)."""
    if _installed:
        if _installed[0] != central_account:
            raise RuntimeError(f"moto is mended for account {_installed[0]} in this process")
        return
    check_moto()
    import moto.cognitoidp.models
    import moto.iam.models

    # moto puts a request whose access key it does not know in its default account; make that
    # the central account. (MOTO_ACCOUNT_ID would pin every request to one account, even those
    # signed with a team account's keys.)
    moto.iam.models.DEFAULT_ACCOUNT_ID = central_account
    # moto checks TOTP codes only when asked to; Cognito always does.
    moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp = lambda: True
    _honour_token_validity(_sign_with_a_key_of_this_start())
    _faithful_challenges()
    _keep_session_tags()
    _judge_trust_as_iam_does()
    _judge_s3_as_iam_does()
    _no_moto_api_over_http()
    _no_cross_origin_calls()
    _judge_put_events_by_bus()
    _expire_sessions()
    _installed.append(central_account)


def _replace(owner, name, replacement):
    original = getattr(owner, name)
    replacement.__wrapped_by_sandbox__ = original
    setattr(owner, name, replacement)
    return original


def _sign_with_a_key_of_this_start():
    """moto signs every token with the private key it ships (anyone who has moto can mint an
    admin's token for it): sign with a key generated now, which lives only in this process,
    and serve its public half as the pool's JWKS. The `kid` stays moto's ("dummy"), which
    its tokens carry."""
    from joserfc import jwk
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    key = jwk.RSAKey.generate_key(2048, parameters={"kid": "dummy", "alg": "RS256",
                                                     "use": "sig"}, private=True)
    public = key.as_dict(private=False)
    CognitoIdpJsonWebKeyResponse.json_web_key = json.dumps({"keys": [public]}).encode()
    return key


def _honour_token_validity(signing_key):
    """moto issues every id and access token for an hour, whatever the app client says; make
    it honour the client's IdTokenValidity/AccessTokenValidity and their units, as Cognito does
    (the sandbox's --token-seconds, and the browser tests of refreshing, depend on it). And
    sign with this start's key."""
    from moto.cognitoidp.models import CognitoIdpUserPool

    original = CognitoIdpUserPool.create_jwt

    def create_jwt(self, client_id, username, token_use, expires_in=3600, extra_data=None):
        self.json_web_key = signing_key
        client = self.clients.get(client_id)
        kind = {"id": "IdToken", "access": "AccessToken"}.get(token_use)
        if client is not None and kind and client.extended_config.get(f"{kind}Validity"):
            unit = (client.extended_config.get("TokenValidityUnits") or {}).get(kind, "hours")
            expires_in = int(client.extended_config[f"{kind}Validity"]) * _SECONDS[unit]
        return original(self, client_id, username, token_use, expires_in, extra_data)

    _replace(CognitoIdpUserPool, "create_jwt", create_jwt)


def _faithful_challenges():
    """Two of moto's challenge answers differ from Cognito's where Cognito's own browser
    library notices. NEW_PASSWORD_REQUIRED lacks the `userAttributes` and
    `requiredAttributes` parameters (JSON strings) Cognito sends; add them as Cognito does for
    a user with no required attributes."""
    from moto.cognitoidp.models import CognitoIdpBackend

    original = CognitoIdpBackend.initiate_auth

    def initiate_auth(self, client_id, auth_flow, auth_parameters):
        result = original(self, client_id, auth_flow, auth_parameters)
        if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            parameters = result.setdefault("ChallengeParameters", {})
            parameters.setdefault("userAttributes", json.dumps({}))
            parameters.setdefault("requiredAttributes", json.dumps([]))
        return result

    _replace(CognitoIdpBackend, "initiate_auth", initiate_auth)

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

    _replace(CognitoIdpBackend, "respond_to_auth_challenge", respond_to_auth_challenge)


def _tags_of(params) -> dict:
    """The session tags of an AssumeRole request's parameters (`Tags.member.N.Key`/`.Value`;
    moto hands them over as lists or strings)."""
    def one(value):
        return value[0] if isinstance(value, (list, tuple)) else value

    tags = {}
    for name, value in (params or {}).items():
        if name.startswith("Tags.member.") and name.endswith(".Key"):
            number = name[len("Tags.member."):-len(".Key")]
            tags[one(value)] = one(params.get(f"Tags.member.{number}.Value", ""))
    return tags


def _keep_session_tags():
    """moto drops AssumeRole's `Tags`; IAM keeps them on the session as principal tags
    (`aws:PrincipalTag/<key>`), which the workspace role's policy names. Keep them, by the
    session's access key (the request handler and the backend run in one thread)."""
    import threading

    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    pending = threading.local()
    respond = TokenResponse.assume_role

    def assume_role_response(self):
        pending.tags = _tags_of(self.querystring)
        try:
            return respond(self)
        finally:
            pending.tags = None

    _replace(TokenResponse, "assume_role", assume_role_response)
    assume = STSBackend.assume_role

    def assume_role(self, region_name, role_session_name, role_arn, policy, duration,
                    external_id):
        role = assume(self, region_name, role_session_name, role_arn, policy, duration,
                      external_id)
        tags = getattr(pending, "tags", None)
        if tags:
            SESSION_TAGS[role.access_key_id] = dict(tags)
        return role

    _replace(STSBackend, "assume_role", assume_role)


def _principal_arn(access_key) -> str:
    """aws:PrincipalArn of a request's signer: an assumed role's session is its role."""
    from moto.iam.access_control import AssumedRoleAccessKey

    if isinstance(access_key, AssumedRoleAccessKey):
        return (f"arn:{access_key.partition}:iam::{access_key.account_id}:role/"
                f"{access_key._owner_role_name}")
    return access_key.arn


def principal_context(role_arn: str, access_key: str) -> dict:
    """IAM's context of a caller: `aws:PrincipalArn`, and as `aws:PrincipalTag/<key>` the tags
    of its role, then its session's (a session tag wins over the role's tag of the same key,
    as in IAM). moto keeps role tags but puts none in any context; the access roles' policies
    name their team by `${aws:PrincipalTag/team}`, so without this mend every one of their
    calls would be refused, and with a wrong one another team's allowed."""
    from moto.iam.models import iam_backends

    context = {"aws:PrincipalArn": role_arn}
    account = role_arn.split(":")[4]
    try:
        role = iam_backends[account]["global"].get_role_by_arn(role_arn)
    except Exception:  # not a role (a user's key): no role tags
        role = None
    for tag in getattr(role, "tags", None) or []:  # moto keeps [{"Key": ..., "Value": ...}]
        context[f"aws:PrincipalTag/{tag['Key']}"] = tag["Value"]
    for key, value in SESSION_TAGS.get(access_key, {}).items():
        context[f"aws:PrincipalTag/{key}"] = value
    return context


def _principal_context(access_key) -> dict:
    from moto.iam.access_control import AssumedRoleAccessKey

    access_key_id = getattr(access_key, "_access_key_id", None)
    if isinstance(access_key, AssumedRoleAccessKey):
        return principal_context(_principal_arn(access_key), access_key_id)
    context = {"aws:PrincipalArn": _principal_arn(access_key)}
    for key, value in SESSION_TAGS.get(access_key_id, {}).items():
        context[f"aws:PrincipalTag/{key}"] = value
    return context


def _judge_trust_as_iam_does():
    """moto judges a role's trust policy crudely (an account principal never matches, most
    conditions are ignored), knows nothing of session tags, and judges the trust of a role in
    the caller's own account only: a cross-account AssumeRole (a team's SageMaker role taking
    its central role) passed on the caller's identity policy alone. Judge it with the
    evaluator the gateway uses, in whichever account the role is: the caller must be admitted
    for sts:AssumeRole and, when it passes tags, for sts:TagSession, with `aws:PrincipalArn`
    and `aws:RequestTag/<key>` in the context. (The access roles' policies name their team by
    the role's `team` tag; a session tag of the same key would win, so their trust admits no
    tags, and here, as on AWS, a session that brings one is refused.)"""
    from moto.iam.access_control import IAMRequestBase
    from moto.iam.models import iam_backends

    from roles.policy_eval import ALLOW, evaluate

    def role_of(role_arn):
        """The role an ARN names, in its own account's IAM, or None."""
        parts = role_arn.split(":")
        if len(parts) < 6 or not parts[4].isdigit() or ":role/" not in role_arn:
            return None
        try:
            return iam_backends[parts[4]]["global"].get_role_by_arn(role_arn)
        except Exception:  # moto's NotFoundException, or no such account
            return None

    def is_assuming_role_operation(self, resource_arn):
        return self._action == "sts:AssumeRole" and role_of(resource_arn) is not None

    def check_role_trust_relationship(self, role_arn):
        role = role_of(role_arn)
        document = role.assume_role_policy_document
        trust = json.loads(document) if isinstance(document, str) else document
        principal = _principal_arn(self._access_key)
        tags = _tags_of(self._data)
        context = {"aws:PrincipalArn": principal,
                   **{f"aws:RequestTag/{k}": v for k, v in tags.items()}}
        actions = ["sts:AssumeRole"] + (["sts:TagSession"] if tags else [])
        return all(evaluate([trust], action, role_arn, context, principal=principal) == ALLOW
                   for action in actions)

    _replace(IAMRequestBase, "_is_assuming_role_operation", is_assuming_role_operation)
    _replace(IAMRequestBase, "_check_role_trust_relationship", check_role_trust_relationship)


def _copy_source(headers):
    """(bucket, key, version) a CopyObject or UploadPartCopy reads, or None."""
    from urllib.parse import unquote

    raw = next((v for k, v in (headers or {}).items() if k.lower() == "x-amz-copy-source"), None)
    if not raw:
        return None
    path, _, query = unquote(raw).partition("?")
    bucket, _, key = path.lstrip("/").partition("/")
    version = query.removeprefix("versionId=") if query.startswith("versionId=") else None
    return bucket, key, version


def _judge_s3_as_iam_does():
    """moto evaluates conditions only in trust policies, and there crudely; the artifact
    policies name the prefixes a role may list (`s3:prefix`), and the workspace role's name
    them by the session's tag (`${aws:PrincipalTag/workspace}`). Judge every S3 request with
    the evaluator the gateway uses (`roles.policy_eval`, proved against IAM's rules in the
    tests): an explicit Deny wins, else an Allow whose conditions hold, else refused. And as S3
    does (moto does not), a copy must also be allowed to read its source."""
    from urllib.parse import parse_qs, urlsplit

    from moto.iam.access_control import IAMPolicy, S3IAMRequest

    from roles.policy_eval import ALLOW, evaluate

    def check_action_permitted(self, resource):
        documents = [IAMPolicy(policy)._policy_json
                     for policy in self._access_key.collect_policies()]
        context = _principal_context(self._access_key)
        if self._action.startswith("s3:ListBucket"):
            prefix = parse_qs(urlsplit(self._path).query).get("prefix")
            if prefix:
                context["s3:prefix"] = prefix[0]
        if evaluate(documents, self._action, resource, context) != ALLOW:
            self._raise_access_denied()
        source = _copy_source(self._headers)
        if source:
            bucket, key, version = source
            action = "s3:GetObjectVersion" if version else "s3:GetObject"
            if evaluate(documents, action, f"arn:aws:s3:::{bucket}/{key}", context) != ALLOW:
                self._raise_access_denied()

    _replace(S3IAMRequest, "check_action_permitted", check_action_permitted)


def _judge_put_events_by_bus():
    """moto judges every action but S3's, STS's, IAM's and SQS's against the resource `*`; IAM
    judges PutEvents against the bus it names. The tracking server may put on the central bus
    alone (spec.registry_events.put_events_statement): judged against `*`, that grant would
    refuse every event. moto asks a handler for the resource (`_determine_resource`, read by
    BaseResponse.call_action) where it has one: EventBridge's is the bus of PutEvents' entries
    (its default bus when none is named; `*` for entries naming several, which no single-bus
    grant allows, and for every other action)."""
    from moto.events.responses import EventsHandler

    def _determine_resource(self):
        if self._get_action() != "PutEvents":
            return "*"
        buses = set()
        for entry in self._get_param("Entries") or []:
            bus = (entry.get("EventBusName") if isinstance(entry, dict) else None) or "default"
            if not bus.startswith("arn:"):
                bus = f"arn:aws:events:{self.region}:{self.current_account}:event-bus/{bus}"
            buses.add(bus)
        return buses.pop() if len(buses) == 1 else "*"

    EventsHandler._determine_resource = _determine_resource


def use_sts_clock_file(path) -> None:
    """Read the STS clock's offset (seconds, a number; none: 0) from `path` from now on."""
    _sts_clock_file[:] = [Path(path)]


def sts_now() -> datetime:
    """Now, by the clock STS sessions live by (timezone-aware, UTC)."""
    offset = 0.0
    if _sts_clock_file:
        try:
            offset = float(_sts_clock_file[0].read_text().strip() or 0)
        except (OSError, ValueError):  # no file (the clock is not moved), or not a number
            offset = 0.0
    return datetime.now(timezone.utc) + timedelta(seconds=offset)


def expires_at(role) -> datetime:
    """An STS session's Expiration (moto keeps it naive, in UTC), timezone-aware."""
    expiration = role.expiration
    return expiration if expiration.tzinfo else expiration.replace(tzinfo=timezone.utc)


def session_expired(role) -> bool:
    """Whether an STS session (moto's AssumedRole) no longer holds: at its Expiration, and
    after, AWS refuses every request signed with it (ExpiredToken)."""
    return sts_now() >= expires_at(role)


def session_of_key(access_key_id: str, account: str = None, partition: str = "aws"):
    """The STS session (moto's AssumedRole) of an access key, in `account` or any, or None."""
    from moto.sts.models import sts_backends

    for name in [account] if account else list(sts_backends):
        for role in sts_backends[name][partition].assumed_roles:
            if role.access_key_id == access_key_id:
                return role
    return None


def _expire_sessions():
    """moto honours an assumed role's credentials forever; AWS refuses them from their
    Expiration on (DurationSeconds after AssumeRole): STS and IAM answer ExpiredToken, JSON
    services such as EventBridge ExpiredTokenException (both 403, AWS's common errors), S3
    ExpiredToken, "The provided token has expired." (400, S3's error table). A
    session is issued with its Expiration by the STS clock (`sts_now`), and judged by it at
    every request signed with it: here for moto's services, in `lookup_access_key` for the
    gateway. A wrong token is still InvalidToken first, as moto has it."""
    from moto.core.exceptions import JsonRESTError, _RESTError
    from moto.iam.access_control import (
        AssumedRoleAccessKey,
        CreateAccessKeyFailure,
        IAMRequest,
        S3IAMRequest,
    )
    from moto.s3.exceptions import S3ClientError
    from moto.sts.models import AssumedRole

    issue = AssumedRole.__init__

    def __init__(self, account_id, region_name, access_key, role_session_name, role_arn,
                 policy, duration, external_id):
        issue(self, account_id, region_name, access_key, role_session_name, role_arn, policy,
              duration, external_id)
        self.expiration = (sts_now() + timedelta(seconds=int(duration))).replace(tzinfo=None)

    _replace(AssumedRole, "__init__", __init__)
    find = AssumedRoleAccessKey.__init__

    def access_key_init(self, account_id, partition, access_key_id, headers):
        find(self, account_id, partition, access_key_id, headers)
        role = session_of_key(access_key_id, account_id, partition)
        if role is not None and session_expired(role):
            raise CreateAccessKeyFailure(reason="ExpiredToken")

    _replace(AssumedRoleAccessKey, "__init__", access_key_init)
    invalid = IAMRequest._raise_invalid_access_key

    def raise_invalid_access_key(self, reason):
        if reason == "ExpiredToken":
            error = (JsonRESTError("ExpiredTokenException", ExpiredToken.MESSAGE)
                     if self._headers.get("X-Amz-Target")  # the JSON protocol (EventBridge)
                     else _RESTError("ExpiredToken", ExpiredToken.MESSAGE))
            error.code = 403
            raise error
        invalid(self, reason)

    _replace(IAMRequest, "_raise_invalid_access_key", raise_invalid_access_key)
    s3_invalid = S3IAMRequest._raise_invalid_access_key

    def s3_raise_invalid_access_key(self, reason):
        if reason == "ExpiredToken":
            raise S3ClientError("ExpiredToken", "The provided token has expired.")
        s3_invalid(self, reason)

    _replace(S3IAMRequest, "_raise_invalid_access_key", s3_raise_invalid_access_key)


def _no_moto_api_over_http():
    """Answer moto's own API 404, as AWS would, before moto dispatches the request."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if isinstance(path, bytes):  # as moto reads it
            path = path.decode("utf-8", "replace")
        if path.startswith(MOTO_API_PREFIX):
            body = b"Not Found"
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        return original(self, environ, start_response)

    _replace(DomainDispatcherApplication, "__call__", __call__)


def _no_cross_origin_calls():
    """moto's server allows every web origin (CORS on every answer), so any page the user
    visits could call the emulated AWS from the browser. No origin needs to: the UI's
    Cognito calls go through its own host (sandbox/ui_server.py, COGNITO_PATH), and S3 still
    answers a bucket's own CORS rules (the sandbox sets none). Read when moto builds a
    service's app, on its first request."""
    import moto.moto_server.werkzeug_app

    moto.moto_server.werkzeug_app.DISABLE_GLOBAL_CORS = True


def enforce_iam():
    """From the next request on, moto judges every signed request against IAM's policies
    (the seeding ran without), and serves unsigned only the Cognito operations that need no
    signature here."""
    from moto import settings
    from moto.core.responses import ActionAuthenticatorMixin

    public = ActionAuthenticatorMixin.PUBLIC_OPERATIONS
    for operation in PUBLIC_COGNITO_OPERATIONS:
        target = f"AWSCognitoIdentityProviderService.{operation}"
        if target not in public:
            public.append(target)
    for operation in SIGNED_COGNITO_OPERATIONS:
        target = f"AWSCognitoIdentityProviderService.{operation}"
        while target in public:
            public.remove(target)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


# --- what the gateway and the UI server ask of moto's backends ------------------------------


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


def lookup_access_key(access_key: str):
    """(secret, session token, role ARN, session ARN, account) of an STS session, or None;
    sigv4.ExpiredToken for a session past its Expiration."""
    from moto.sts.models import sts_backends

    for account, regions in sts_backends.items():
        backend = regions.get("global") or next(iter(regions.values()), None)
        if backend is None:
            continue
        for role in backend.assumed_roles:
            if role.access_key_id == access_key:
                if session_expired(role):
                    raise ExpiredToken(role.session_token)
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
        version_ = next(v for v in policy.versions if v.version_id == policy.default_version_id)
        document = version_.document
        documents.append(json.loads(document) if isinstance(document, str) else document)
    return documents
