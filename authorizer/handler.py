"""The Lambda authorizer: a REQUEST authorizer event in, an API Gateway policy out.

Configuration (environment variables of the function):
    USER_POOL_ID        the Cognito user pool                      (required)
    APP_CLIENT_IDS      comma-separated app client ids             (required)
    AWS_REGION          the pool's region (Lambda sets it)
    TOKEN_USE           "id", "access" or "id,access"              (default: id)
    GROUP_LEVELS        JSON {"cognito group": "level"}: groups that hold a level in every
                        workspace, `default` included   (required; the central stack sets
                        its cognitoGroups, by default spec.accounts.PLATFORM_GROUP_LEVELS)
    JWKS_URL            override of the pool's JWKS URL (the sandbox's emulated Cognito)
    ISSUER              override of the pool's issuer (likewise)
    LEEWAY_SECONDS      clock leeway for exp/nbf/iat               (default: 5)
    CACHE_TTL_SECONDS   the authorizer's result TTL on the API     (default: 0)
                        a token must stay valid at least this long, so a cached policy never
                        outlives its token
Only settings of a constant size: the teams' data grows with every team, and a Lambda's
environment holds 4 KB in all, so it ships in the archive instead (below).

Levels are held per workspace (one per team, MLflow's `X-MLFLOW-WORKSPACE`). A user's Cognito
groups `<team>:<level>` give that level in the team's workspace; a group of a team that another
team shares its workspace with gives reader there; the GROUP_LEVELS groups (`platform-admins`)
hold their level everywhere. The request's workspace header is the authorizer's second identity
source, so API Gateway caches a policy per (token, workspace); the workspace the authorizer
judged goes back in the context, and the integration sends that one to MLflow, whatever the
client sent. A workspace the user holds no level in gets an explicit Deny of everything.

Two data files ship beside this module in the archive (authorizer/build.py writes both; the
sandbox writes them with the same code into its state folder) and are read once, at cold start:
    policy_rules.json   compiled from `roles` (roles.policies.authorizer_rules): for every
                        combination of levels, the Deny and Allow resources of its whole grant,
                        with the API's ARN as a placeholder. API Gateway caches the answer per
                        token and workspace and reuses it for every path, so it must never be
                        path-specific; each fits IAM's inline-policy size (10,240 characters)
                        with the longest ARN.
    workspaces.json     {"team": ["team it is shared with", ...]}: the teams' workspaces, and
                        who may read each (from the stack config, spec.config.workspaces).

A missing, malformed, expired, forged or foreign token raises "Unauthorized" (401). A valid
token without rights gets an explicit Deny (403). Nothing else can come out: any unexpected
failure is a 401, never a 500 and never an Allow.
"""

import json
import logging
import os
import re
from pathlib import Path

# DEFAULT_WORKSPACE: MLflow's own, only the GROUP_LEVELS groups reach it; a team's Cognito
# group is `<team><TEAM_GROUP_SEPARATOR><level>` (generated from spec/: this package is shipped
# alone, in the function's archive)
from ._spec import (
    API_ARN_PLACEHOLDER,
    CACHE_TTL_ENV,
    DEFAULT_WORKSPACE,
    HTTP_METHODS,
    LEEWAY_ENV,
    RULES_FILE,
    SHARED_LEVEL,
    TEAM_GROUP_SEPARATOR,
    TOKEN_LEEWAY_SECONDS,
    WORKSPACES_FILE,
)
from ._spec import WORKSPACE_HEADER as _WORKSPACE_HEADER
from .tokens import InvalidToken, JwksCache, TokenVerifier, cognito_issuer, cognito_jwks_url

WORKSPACE_HEADER = _WORKSPACE_HEADER.lower()  # compared with the event's names lower-cased
DATA_DIR = Path(__file__).resolve().parent  # where the archive's data files are
_API_ARN = re.compile(r"arn:[a-z-]+:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[A-Za-z0-9_-]+")
MAX_HEADER_BYTES = 8192

log = logging.getLogger("authorizer")
log.setLevel(logging.INFO)


def unauthorized() -> Exception:
    # API Gateway answers 401 exactly when the function fails with this message.
    return Exception("Unauthorized")


def bearer_token(event: dict):
    """The token of the `Authorization` header (any case, `Bearer ` optional), or None."""
    headers = event.get("headers") or {}
    if not isinstance(headers, dict):
        return None
    values = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == "authorization"]
    if len(values) != 1 or not isinstance(values[0], str):
        return None  # absent, or sent twice in different cases: refuse to guess
    value = values[0].strip()
    if len(value) > MAX_HEADER_BYTES:
        return None
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def workspace_of(event: dict):
    """The one workspace the request names, or None (absent, empty, or sent twice)."""
    headers = event.get("headers") or {}
    values = [v for k, v in headers.items()
              if isinstance(k, str) and k.lower() == WORKSPACE_HEADER] if isinstance(headers, dict) else []
    multi = event.get("multiValueHeaders") or {}
    if isinstance(multi, dict):
        for k, v in multi.items():
            if isinstance(k, str) and k.lower() == WORKSPACE_HEADER and isinstance(v, list) \
                    and len(v) != 1:
                return None
    if len(values) != 1 or not isinstance(values[0], str) or not values[0]:
        return None
    return values[0]


def api_arn_of(method_arn) -> str:
    """`arn:aws:execute-api:R:A:API/STAGE/GET/x` -> `arn:aws:execute-api:R:A:API/STAGE`."""
    if not isinstance(method_arn, str):
        raise ValueError("no methodArn")
    head, _, _ = method_arn.partition("/")
    parts = method_arn.split("/")
    fields = head.split(":")
    if len(fields) != 6 or fields[0] != "arn" or fields[2] != "execute-api" or len(parts) < 3:
        raise ValueError("malformed methodArn")
    api_arn = f"{parts[0]}/{parts[1]}"
    if not _API_ARN.fullmatch(api_arn) or parts[1] in HTTP_METHODS:
        raise ValueError("malformed methodArn")
    return api_arn


def _statement(effect, api_arn, globs):
    return {"Effect": effect, "Action": "execute-api:Invoke",
            "Resource": [f"{api_arn}/{g}" for g in globs]}


def render_policy(rules: dict, api_arn: str) -> dict:
    """The policy returned for one combination of levels: its Deny resources (if any) and its
    Allow resources, with the API's ARN put in. The one renderer: the route-by-route and
    property proofs (tests/roles/test_policies.py) evaluate what this returns."""
    def resources(templates):
        return [r.replace(API_ARN_PLACEHOLDER, api_arn) for r in templates]

    statements = []
    if rules["deny"]:
        statements.append({"Effect": "Deny", "Action": "execute-api:Invoke",
                           "Resource": resources(rules["deny"])})
    statements.append({"Effect": "Allow", "Action": "execute-api:Invoke",
                       "Resource": resources(rules["allow"])})
    return {"Version": "2012-10-17", "Statement": statements}


class Authorizer:
    def __init__(self, verifier: TokenVerifier, rules: dict, group_levels: dict, workspaces=None):
        self.verifier = verifier
        if rules.get("api_arn_placeholder") != API_ARN_PLACEHOLDER:
            raise ValueError("policy rules of another version: rebuild the archive")
        self.rules = rules["rules"]  # levels of a platform group
        self.team_rules = rules["team_rules"]  # levels held in a team's workspace
        self.levels = tuple(rules["levels"])
        self.group_levels = dict(group_levels)
        unknown = set(self.group_levels.values()) - set(self.levels)
        if unknown:
            raise ValueError(f"GROUP_LEVELS names unknown levels: {sorted(unknown)}")
        # {workspace: frozenset of the teams it is shared with (as readers)}
        self.workspaces = {w: frozenset(shared) for w, shared in (workspaces or {}).items()}
        strangers = {t for shared in self.workspaces.values() for t in shared} - set(self.workspaces)
        if strangers or DEFAULT_WORKSPACE in self.workspaces:
            raise ValueError(f"WORKSPACES names unknown or reserved teams: "
                             f"{sorted(strangers | ({DEFAULT_WORKSPACE} & set(self.workspaces)))}")
        self._policies = {}

    def levels_of(self, claims: dict, workspace: str) -> tuple:
        """The levels a user holds in one workspace (none in a workspace that is not one)."""
        groups = claims.get("cognito:groups")
        if not isinstance(groups, list):
            return ()  # absent, or a string a client hoped we would split: no groups
        groups = [g for g in groups if isinstance(g, str)]
        if workspace != DEFAULT_WORKSPACE and workspace not in self.workspaces:
            return ()
        held = {self.group_levels[g] for g in groups if g in self.group_levels}
        if workspace != DEFAULT_WORKSPACE:
            teams = set()
            for group in groups:
                team, sep, level = group.partition(TEAM_GROUP_SEPARATOR)
                if sep and level in self.levels:
                    teams.add(team)
                    if team == workspace:
                        held.add(level)
            if teams & self.workspaces[workspace]:
                held.add(SHARED_LEVEL)  # a workspace shared with one of the user's teams
        return tuple(level for level in self.levels if level in held)

    def workspaces_of(self, claims: dict) -> dict:
        """{workspace: levels} for every workspace the user holds a level in."""
        found = {}
        for workspace in (*self.workspaces, DEFAULT_WORKSPACE):
            levels = self.levels_of(claims, workspace)
            if levels:
                found[workspace] = levels
        return found

    def platform_member(self, claims: dict) -> bool:
        """In a group that holds a level everywhere: the platform's own routes come with it."""
        groups = claims.get("cognito:groups")
        return isinstance(groups, list) and any(
            isinstance(g, str) and g in self.group_levels for g in groups)

    def _policy(self, levels: tuple, api_arn: str, platform: bool = False) -> dict:
        key = (levels, api_arn, platform)
        policy = self._policies.get(key)
        if policy is None:
            rules = (self.rules if platform else self.team_rules)[",".join(sorted(levels))]
            policy = render_policy(rules, api_arn)
            if len(self._policies) < 1024:
                self._policies[key] = policy
        return policy

    def authorize(self, event: dict) -> dict:
        try:
            return self._authorize(event)
        except InvalidToken as e:
            _log_decision(None, (), "unauthorized", str(e))
            raise unauthorized() from None
        except Exception as e:  # never a 500: whatever went wrong, the caller gets a 401
            _log_decision(None, (), "unauthorized", f"error: {type(e).__name__}",
                          failure="internal")
            raise unauthorized() from None

    def _authorize(self, event: dict) -> dict:
        if not isinstance(event, dict):
            raise InvalidToken("not an authorizer event")
        api_arn = api_arn_of(event.get("methodArn"))
        token = bearer_token(event)
        if token is None:
            raise InvalidToken("no bearer token in the Authorization header")
        claims = self.verifier.verify(token)
        username = claims.get("cognito:username") or claims.get("username") or claims.get("sub")
        if not isinstance(username, str) or not username:
            raise InvalidToken("no user in token")
        groups = claims.get("cognito:groups")
        groups = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
        workspace = workspace_of(event)
        levels = self.levels_of(claims, workspace) if workspace else ()
        context = {"username": username, "groups": ",".join(groups), "levels": ",".join(levels),
                   "workspace": workspace if levels else ""}
        if not levels:
            reason = (f"no level in workspace {workspace}" if workspace
                      else "no single workspace named")
            _log_decision(username, levels, "deny", reason)
            policy = {"Version": "2012-10-17",
                      "Statement": [_statement("Deny", api_arn, ["*"])]}
            return {"principalId": username, "policyDocument": policy, "context": context}
        _log_decision(username, levels, "allow", f"grant of {'+'.join(levels)} in {workspace}")
        policy = self._policy(levels, api_arn, self.platform_member(claims))
        return {"principalId": username, "policyDocument": policy, "context": context}


def _log_decision(user, levels, decision, reason, failure=None):
    # One structured line per decision; never the token. `failure` only where the authorizer
    # itself failed (configuration, internal): the stack's alarm counts those lines, never a
    # refused token (components/monitoring.py).
    line = {"user": user, "levels": list(levels), "decision": decision, "reason": reason}
    if failure:
        line["failure"] = failure
    (log.error if failure else log.info)(json.dumps(line))


def load_data(data_dir: Path = DATA_DIR) -> tuple:
    """(policy rules, workspaces): the data files the archive ships (authorizer/build.py)."""
    data_dir = Path(data_dir)
    rules = json.loads((data_dir / RULES_FILE).read_text())
    workspaces = json.loads((data_dir / WORKSPACES_FILE).read_text())
    if not isinstance(workspaces, dict):
        raise ValueError(f"{WORKSPACES_FILE} must be a JSON object of teams")
    return rules, workspaces


def from_environment(environ=os.environ, data_dir: Path = DATA_DIR) -> Authorizer:
    """The authorizer of the Lambda's settings and the archive's data, read once."""
    def required(name):
        value = environ.get(name, "").strip()
        if not value:
            raise ValueError(f"environment variable {name} is required")
        return value

    region = environ.get("AWS_REGION") or required("AWS_DEFAULT_REGION")
    pool = required("USER_POOL_ID")
    clients = [c.strip() for c in required("APP_CLIENT_IDS").split(",") if c.strip()]
    uses = [u.strip() for u in environ.get("TOKEN_USE", "id").split(",") if u.strip()]
    groups = json.loads(required("GROUP_LEVELS"))
    jwks = JwksCache(environ.get("JWKS_URL") or cognito_jwks_url(region, pool))
    verifier = TokenVerifier(
        issuer=environ.get("ISSUER") or cognito_issuer(region, pool),
        client_ids=clients,
        jwks=jwks,
        token_uses=uses,
        leeway=float(environ.get(LEEWAY_ENV, TOKEN_LEEWAY_SECONDS)),
        min_remaining=float(environ.get(CACHE_TTL_ENV, "0")),
    )
    rules, workspaces = load_data(data_dir)
    return Authorizer(verifier, rules, groups, workspaces)


_authorizer = None


def handler(event, context=None):
    """The Lambda entry point (`authorizer.handler.handler`)."""
    global _authorizer
    if _authorizer is None:
        try:
            _authorizer = from_environment()
        except Exception as e:  # misconfigured: refuse everyone, loudly, without a 500
            _log_decision(None, (), "unauthorized", f"configuration error: {e}",
                          failure="configuration")
            raise unauthorized() from None
    return _authorizer.authorize(event)
