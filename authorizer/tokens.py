"""Verify Cognito JWTs: RS256 against the user pool's JWKS, issuer, token use, audience, time.

The JWKS is fetched once and kept across invocations. A token with an unknown `kid` triggers
one refetch (key rotation without a cold start), at most once per `refetch_interval` seconds,
so a flood of made-up `kid`s cannot turn the authorizer into a load generator for Cognito. When
the JWKS endpoint is down, the cached keys keep working and anything else is refused.
"""

import json
import threading
import time
import urllib.request

import jwt
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
MAX_TOKEN_BYTES = 8192  # Cognito tokens are 1-2 KB; anything far larger is an attack


class InvalidToken(Exception):
    """The token is missing, malformed, expired, forged or foreign: answer 401."""


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def cognito_jwks_url(region: str, user_pool_id: str) -> str:
    return cognito_issuer(region, user_pool_id) + "/.well-known/jwks.json"


def fetch_json(url: str, timeout: float = 3.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https or local)
        return json.loads(response.read(1_000_000))


class JwksCache:
    """The signing keys of one user pool, by `kid`."""

    def __init__(self, url: str, refetch_interval: float = 60.0, fetch=fetch_json, clock=time.monotonic):
        self.url = url
        self.refetch_interval = refetch_interval
        self._fetch = fetch
        self._clock = clock
        self._keys = {}
        self._last_attempt = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _refresh(self) -> None:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            document = self._fetch(self.url)
            keys = {}
            for jwk in document.get("keys", []):
                if jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str):
                    keys[jwk["kid"]] = RSAAlgorithm.from_jwk(json.dumps(jwk))
        except Exception:  # the endpoint is down or answers garbage: keep what we have
            return
        if keys:
            self._keys = keys

    def key(self, kid: str):
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(kid)
            due = self._last_attempt is None or (
                self._clock() - self._last_attempt >= self.refetch_interval
            )
            if key is None and due:
                self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        return key


def _number(claims: dict, name: str):
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"claim {name} is not a number")
    return value


class TokenVerifier:
    """`leeway`: seconds of clock difference forgiven on exp, nbf and iat.
    `min_remaining`: a token must still be valid this many seconds (the authorizer cache's
    TTL), so that API Gateway never keeps serving a cached policy after the token expired.
    `clock`: the current time in seconds since the epoch (tests pass their own)."""

    def __init__(self, *, issuer: str, client_ids, jwks: JwksCache, token_uses=("id",),
                 leeway: float = 5.0, min_remaining: float = 0.0, clock=time.time):
        if not client_ids:
            raise ValueError("at least one app client id is required")
        bad_uses = set(token_uses) - {"id", "access"}
        if not token_uses or bad_uses:
            raise ValueError(f"token_uses must be 'id' and/or 'access', got {list(token_uses)}")
        self.issuer = issuer
        self.client_ids = frozenset(client_ids)
        self.jwks = jwks
        self.token_uses = frozenset(token_uses)
        self.leeway = leeway
        self.min_remaining = min_remaining
        self.clock = clock

    def verify(self, token: str) -> dict:
        """The verified claims of `token`, or InvalidToken."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("missing or oversized token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise InvalidToken("malformed token") from e
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("no key id")
        try:
            claims = jwt.decode(
                token,
                self.jwks.key(kid),
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "token_use"], "verify_aud": False,
                         # times are checked below, on this verifier's clock
                         "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.PyJWTError as e:
            raise InvalidToken(type(e).__name__) from e
        self._check_times(claims)
        use = claims.get("token_use")
        if use not in self.token_uses:
            raise InvalidToken("token use not accepted")
        # Cognito puts the app client in `aud` of id tokens and `client_id` of access tokens.
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        if not isinstance(audience, str) or audience not in self.client_ids:
            raise InvalidToken("foreign app client")
        return claims

    def _check_times(self, claims: dict) -> None:
        now = self.clock()
        exp, iat, nbf = (_number(claims, name) for name in ("exp", "iat", "nbf"))
        if exp is None or iat is None:
            raise InvalidToken("no exp or iat")
        if now > exp + self.leeway:
            raise InvalidToken("ExpiredSignatureError")
        if iat > now + self.leeway or (nbf is not None and nbf > now + self.leeway):
            raise InvalidToken("ImmatureSignatureError")
        if self.min_remaining and exp - now < self.min_remaining:
            # API Gateway would serve this token's policy from its cache for the whole TTL,
            # past the token's expiry: the client refreshes first (the shell does, ahead).
            raise InvalidToken("expires within the authorizer's cache TTL")
