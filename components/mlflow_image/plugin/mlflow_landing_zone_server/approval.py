"""Two people for a promotion, and tags only the platform writes.

Who a caller is comes from the gateway's identity headers (the integration overwrites them;
a channel's unused one is `-`): a browser user's Cognito name (X-MLflow-User), or a SigV4
caller's ARN (X-MLflow-Caller-Arn), an assumed role's session for SDKs and jobs
(`arn:aws:sts::<account>:assumed-role/<role>/<session>`).

The store records the registrant of every new version (REGISTRANT_TAG: the Cognito name, or
the session's ARN). A promotion (the team's deploy alias, default `champion`; a stage moved to
Staging or Production) by the same person is refused, when the team requires a second person
(`requireSecondPerson`, default on). The same person means: the same Cognito user; or, for
SigV4, the same session name in the same account whatever the role: the session name is who
(or which job) assumed it, and one person holding two levels assumes two roles. A version with
no recorded registrant (registered before the rule, or by the platform without the gateway)
is promoted by any approver; a caller without identity headers only reaches the server from
inside its network (the platform itself).

Tags under `landing_zone.` are the platform's: a client can neither set nor delete them (nor
bring them on a new version); the roles named in PLATFORM_WRITER_ENV (the deployment status
writer) may, except the ones the store itself writes once (STORE_OWNED_TAGS).
"""

from __future__ import annotations

import json
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED

from ._spec import (
    APPROVAL_ENV,
    CALLER_ARN_HEADER,
    DEFAULT_DEPLOY_ALIAS,
    DEFAULT_REQUIRE_SECOND_PERSON,
    IDENTITY_HEADERS,
    NOT_THIS_CHANNEL,
    PLATFORM_TAG_PREFIX,
    PLATFORM_WRITER_ENV,
    PROMOTION_STAGES,
    STORE_OWNED_TAGS,
    USER_HEADER,
)

_SESSION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[\w+=,.@-]+)"
    r"/(?P<session>[\w+=,.@-]+)$")
_ROLE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?:[\w+=,.@/-]*/)?"
    r"(?P<role>[\w+=,.@-]+)$")
_ALIAS = re.compile(r"^[\w.-]{1,255}$")


# The identity headers of the request being served, for MLflow's FastAPI routes (the skill
# registry, ...), which have no Flask request: set by RequestIdentity for each request
_REQUEST_IDENTITY: ContextVar = ContextVar("mlflow_lz_request_identity", default=None)


def caller_headers() -> dict:
    """The request's identity headers ({} outside a request: the server's own work)."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - Flask comes with MLflow's server
        return dict(_REQUEST_IDENTITY.get() or {})
    if not has_request_context():
        return dict(_REQUEST_IDENTITY.get() or {})
    return {name: request.headers.get(name, "") for name in IDENTITY_HEADERS}


class RequestIdentity:
    """ASGI middleware: the request's identity headers, as caller_headers() gives them, for
    the code of MLflow's FastAPI routes (its Flask routes read Flask's request). The context
    is copied into the threads that run the routes' handlers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # read as the Flask routes read them through WSGI (Starlette's environ): `_` and `-`
        # alike, a repeated header's values joined with commas (the gateway overwrites these
        # headers, so neither happens behind it)
        wanted = {name.lower().replace("_", "-"): name for name in IDENTITY_HEADERS}
        values = {}
        for key, value in scope["headers"]:
            name = wanted.get(key.decode("latin-1").lower().replace("_", "-"))
            if name:
                values.setdefault(name, []).append(value.decode("latin-1"))
        headers = {name: ",".join(values.get(name, [])) for name in IDENTITY_HEADERS}
        token = _REQUEST_IDENTITY.set(headers)
        try:
            return await self.app(scope, receive, send)
        finally:
            _REQUEST_IDENTITY.reset(token)


def _given(value) -> str:
    value = (value or "").strip()
    return "" if value == NOT_THIS_CHANNEL else value


def caller(headers: dict = None) -> "str | None":
    """Who calls, as the registrant tag records it: the Cognito user's name, else the SigV4
    caller's ARN; None without identity headers."""
    headers = caller_headers() if headers is None else headers
    return _given(headers.get(USER_HEADER)) or _given(headers.get(CALLER_ARN_HEADER)) or None


def person(identity: "str | None") -> "str | None":
    """The person (or job) an identity is: a Cognito user by name; an assumed role's session
    by its account and session name (not its role: one person holding two levels assumes two
    roles); any other ARN (an IAM user) as it is."""
    if not identity:
        return None
    session = _SESSION_ARN.match(identity)
    if session:
        return f"session {session['session']} of account {session['account']}"
    if identity.startswith("arn:"):
        return identity
    return f"user {identity}"


def _role_of(arn: str) -> "tuple | None":
    """(account, role name) of a role's ARN or of one of its sessions' ARNs."""
    match = _SESSION_ARN.match(arn) or _ROLE_ARN.match(arn)
    return (match["account"], match["role"]) if match else None


def platform_writers(env=None) -> frozenset:
    """(account, role name) of the roles that may write the platform's tags."""
    raw = (os.environ if env is None else env).get(PLATFORM_WRITER_ENV, "")
    writers = set()
    for arn in filter(None, (a.strip() for a in raw.split(","))):
        role = _role_of(arn)
        if role is None or not _ROLE_ARN.match(arn):
            raise MlflowException(f"{PLATFORM_WRITER_ENV} must list IAM role ARNs "
                                  f"(arn:aws:iam::<account>:role/<name>), got {arn!r}")
        writers.add(role)
    return frozenset(writers)


def is_platform_writer(headers: dict = None, env=None) -> bool:
    headers = caller_headers() if headers is None else headers
    if _given(headers.get(USER_HEADER)):  # a browser user is never the platform's writer
        return False
    arn = _given(headers.get(CALLER_ARN_HEADER))
    role = _role_of(arn) if arn else None
    return role is not None and role in platform_writers(env)


def refuse_platform_tag(key, where: str, headers: dict = None, env=None):
    """Refuse a client's write or delete of a platform tag (403, in MLflow's error shape)."""
    key = str(key)
    if not key.startswith(PLATFORM_TAG_PREFIX):
        return
    if key in STORE_OWNED_TAGS:
        raise MlflowException(
            f"The tag {key!r} of {where} is written by the tracking server itself when the "
            "version is registered; nobody changes it afterwards.",
            error_code=PERMISSION_DENIED)
    if not is_platform_writer(headers, env):
        raise MlflowException(
            f"Tags under {PLATFORM_TAG_PREFIX!r} are the platform's (such as where a version "
            f"is deployed): {key!r} of {where} cannot be set or deleted by a client. The "
            "platform writes them itself.",
            error_code=PERMISSION_DENIED)


@dataclass(frozen=True)
class TeamRule:
    deploy_alias: str = DEFAULT_DEPLOY_ALIAS
    require_second_person: bool = DEFAULT_REQUIRE_SECOND_PERSON

    def is_promotion(self, alias=None, stage=None) -> bool:
        if alias is not None:
            return alias == self.deploy_alias
        return str(stage or "").lower() in PROMOTION_STAGES


def team_rules(env=None) -> dict:
    """{team: TeamRule} of the teams whose rule is not the default (APPROVAL_ENV)."""
    raw = (os.environ if env is None else env).get(APPROVAL_ENV, "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise MlflowException(f"{APPROVAL_ENV} must be a JSON object; got {raw[:100]!r}") from None
    if not isinstance(data, dict):
        raise MlflowException(f"{APPROVAL_ENV} must be a JSON object of teams")
    rules = {}
    for team, rule in data.items():
        alias = rule.get("deployAlias", DEFAULT_DEPLOY_ALIAS) if isinstance(rule, dict) else None
        second = (rule.get("requireSecondPerson", DEFAULT_REQUIRE_SECOND_PERSON)
                  if isinstance(rule, dict) else None)
        if not isinstance(alias, str) or not _ALIAS.match(alias) or not isinstance(second, bool):
            raise MlflowException(f"{APPROVAL_ENV}: team {team!r} must have deployAlias (an "
                                  f"alias) and requireSecondPerson (true or false); got {rule!r}")
        rules[team] = TeamRule(alias, second)
    return rules


def rule_of(team: str, rules: dict) -> TeamRule:
    return rules.get(team, TeamRule())


def refuse_self_promotion(rule: TeamRule, team: str, name, version, registrant, promoter,
                          what: str):
    """Refuse `promoter`'s promotion (`what`: "to alias 'champion'", "to Production") of a
    version `registrant` registered, when they are the same person and the team requires two."""
    if not rule.require_second_person or not registrant or not promoter:
        return
    if person(registrant) != person(promoter):
        return
    raise MlflowException(
        f"Version {version} of {name!r} was registered by {registrant}, who cannot also "
        f"promote it {what}: in {team}, someone else with the model-approver level must "
        f"promote it (a second person's approval, the team's requireSecondPerson).",
        error_code=PERMISSION_DENIED)

