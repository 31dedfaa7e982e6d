"""The Lambda authorizer: a REQUEST authorizer event in, an API Gateway policy out.

Configuration (environment variables of the function):
    USER_POOL_ID        the Cognito user pool                      (required)
    APP_CLIENT_IDS      comma-separated app client ids             (required)
    AWS_REGION          the pool's region (Lambda sets it)
    TOKEN_USE           "id", "access" or "id,access"              (default: id)
    GROUP_LEVELS        JSON {"cognito group": "level"}            (default: DEFAULT_GROUP_LEVELS)
    JWKS_URL            override of the pool's JWKS URL (the sandbox's emulated Cognito)
    ISSUER              override of the pool's issuer (likewise)
    LEEWAY_SECONDS      clock leeway for exp/nbf/iat               (default: 5)
    CACHE_TTL_SECONDS   the authorizer's result TTL on the API     (default: 0)
                        a token must stay valid at least this long, so a cached policy never
                        outlives its token

The policy data (`policy_rules.json`, compiled from `roles` when the archive is built) gives,
for every combination of levels, the Allow and Deny globs of the whole grant: API Gateway
caches the answer per token and reuses it for every path, so it must never be path-specific.

A missing, malformed, expired, forged or foreign token raises "Unauthorized" (401). A valid
token without rights gets an explicit Deny (403). Nothing else can come out: any unexpected
failure is a 401, never a 500 and never an Allow.
"""

import json
import logging
import os
from pathlib import Path

from .tokens import InvalidToken, JwksCache, TokenVerifier, cognito_issuer, cognito_jwks_url

DEFAULT_GROUP_LEVELS = {
    "admins": "admin",
    "model-approvers": "model-approver",
    "contributors": "contributor",
    "readers": "reader",
}
RULES_FILE = Path(__file__).with_name("policy_rules.json")
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


def api_arn_of(method_arn) -> str:
    """`arn:aws:execute-api:R:A:API/STAGE/GET/x` -> `arn:aws:execute-api:R:A:API/STAGE`."""
    if not isinstance(method_arn, str):
        raise ValueError("no methodArn")
    head, _, _ = method_arn.partition("/")
    parts = method_arn.split("/")
    fields = head.split(":")
    if len(fields) != 6 or fields[0] != "arn" or fields[2] != "execute-api" or len(parts) < 3:
        raise ValueError("malformed methodArn")
    return f"{parts[0]}/{parts[1]}"


def _statement(effect, api_arn, globs):
    return {"Effect": effect, "Action": "execute-api:Invoke",
            "Resource": [f"{api_arn}/{g}" for g in globs]}


class Authorizer:
    def __init__(self, verifier: TokenVerifier, rules: dict, group_levels=None):
        self.verifier = verifier
        self.rules = rules["rules"]
        self.levels = tuple(rules["levels"])
        self.group_levels = dict(DEFAULT_GROUP_LEVELS if group_levels is None else group_levels)
        unknown = set(self.group_levels.values()) - set(self.levels)
        if unknown:
            raise ValueError(f"GROUP_LEVELS names unknown levels: {sorted(unknown)}")
        self._policies = {}

    def levels_of(self, claims: dict) -> tuple:
        groups = claims.get("cognito:groups")
        if not isinstance(groups, list):
            return ()  # absent, or a string a client hoped we would split: no groups
        held = {self.group_levels[g] for g in groups if isinstance(g, str) and g in self.group_levels}
        return tuple(level for level in self.levels if level in held)

    def _policy(self, levels: tuple, api_arn: str) -> dict:
        key = (levels, api_arn)
        policy = self._policies.get(key)
        if policy is None:
            rules = self.rules[",".join(sorted(levels))]
            statements = [_statement("Deny", api_arn, rules["deny"])] if rules["deny"] else []
            statements.append(_statement("Allow", api_arn, rules["allow"]))
            policy = {"Version": "2012-10-17", "Statement": statements}
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
            _log_decision(None, (), "unauthorized", f"error: {type(e).__name__}")
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
        levels = self.levels_of(claims)
        context = {"username": username, "groups": ",".join(groups), "levels": ",".join(levels)}
        if not levels:
            _log_decision(username, levels, "deny", "no group maps to a level")
            policy = {"Version": "2012-10-17",
                      "Statement": [_statement("Deny", api_arn, ["*"])]}
            return {"principalId": username, "policyDocument": policy, "context": context}
        _log_decision(username, levels, "allow", "grant of " + "+".join(levels))
        return {"principalId": username, "policyDocument": self._policy(levels, api_arn),
                "context": context}


def _log_decision(user, levels, decision, reason):
    # One structured line per decision; never the token.
    log.info(json.dumps({"user": user, "levels": list(levels), "decision": decision,
                         "reason": reason}))


def from_environment(environ=os.environ, rules_file: Path = RULES_FILE) -> Authorizer:
    def required(name):
        value = environ.get(name, "").strip()
        if not value:
            raise ValueError(f"environment variable {name} is required")
        return value

    region = environ.get("AWS_REGION") or required("AWS_DEFAULT_REGION")
    pool = required("USER_POOL_ID")
    clients = [c.strip() for c in required("APP_CLIENT_IDS").split(",") if c.strip()]
    uses = [u.strip() for u in environ.get("TOKEN_USE", "id").split(",") if u.strip()]
    groups = json.loads(environ["GROUP_LEVELS"]) if environ.get("GROUP_LEVELS") else None
    jwks = JwksCache(environ.get("JWKS_URL") or cognito_jwks_url(region, pool))
    verifier = TokenVerifier(
        issuer=environ.get("ISSUER") or cognito_issuer(region, pool),
        client_ids=clients,
        jwks=jwks,
        token_uses=uses,
        leeway=float(environ.get("LEEWAY_SECONDS", "5")),
        min_remaining=float(environ.get("CACHE_TTL_SECONDS", "0")),
    )
    return Authorizer(verifier, json.loads(rules_file.read_text()), groups)


_authorizer = None


def handler(event, context=None):
    """The Lambda entry point (`authorizer.handler.handler`)."""
    global _authorizer
    if _authorizer is None:
        try:
            _authorizer = from_environment()
        except Exception as e:  # misconfigured: refuse everyone, loudly, without a 500
            _log_decision(None, (), "unauthorized", f"configuration error: {e}")
            raise unauthorized() from None
    return _authorizer.authorize(event)
