"""Verify Cognito JWTs: RS256 against the user pool's JWKS, issuer, token use, audience, time.

The JWKS is fetched once and kept across invocations. A token with an unknown `kid` triggers
one refetch (key rotation without a cold start), at most once per `refetch_interval` seconds,
so a flood of made-up `kid`s cannot turn the authorizer into a load generator for Cognito. When
the JWKS endpoint is down, the cached keys keep working and anything else is refused.

A token is taken apart once (RFC 7515's compact form: three base64url segments), its header
checked (RS256 only, a `kid`, nothing that changes how the rest is read), its signature
verified with the pool's RSA key, then its claims. PyJWT reads the keys (JWK to RSA); the
decision itself does not go through `jwt.decode`, which decoded every token twice and checked
base64url one character at a time (the authorizer's cost per uncached browser request:
benchmarks/authorizer.py measures it beside a bare PyJWT decode).
"""

import base64
import binascii
import json
import logging
import re
import threading
import time
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
MAX_TOKEN_BYTES = 8192  # Cognito tokens are 1-2 KB; anything far larger is an attack
# base64url without padding (RFC 7515 section 2), the whole segment
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# Header parameters that change how a token is read (RFC 7515 4.1.11, RFC 7797): Cognito
# sends neither; a token that carries one is refused rather than misread.
_REFUSED_HEADER_PARAMETERS = ("crit", "b64", "jku", "jwk", "x5u", "x5c")
REQUIRED_CLAIMS = ("exp", "iat", "iss", "token_use")


def _jwks_failure(url: str, reason: str) -> None:
    # The one log line of a failed fetch: the stack's alarm counts lines with `failure`
    # (components/monitoring.py); tokens then refused for an unknown key are not failures.
    logging.getLogger("authorizer").error(json.dumps(
        {"decision": "unauthorized", "failure": "jwks",
         "reason": f"signing keys unavailable from {url}: {reason}"[:500]}))


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
                    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
                    # a JWKS that (wrongly) publishes a private key: verify with its public half
                    keys[jwk["kid"]] = key.public_key() if hasattr(key, "private_numbers") \
                        else key
        except Exception as e:  # the endpoint is down or answers garbage: keep what we have
            _jwks_failure(self.url, f"{type(e).__name__}: {e}")
            return
        if keys:
            self._keys = keys
        else:
            _jwks_failure(self.url, "no RSA signing keys in the document")

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


def _segment(text: str) -> bytes:
    """One base64url segment's bytes, or InvalidToken."""
    if not _SEGMENT.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidToken("malformed token")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise InvalidToken("malformed token") from e


def _json_object(data: bytes) -> dict:
    try:
        value = json.loads(data)
    except ValueError as e:  # not UTF-8, not JSON (json's errors are ValueErrors)
        raise InvalidToken("malformed token") from e
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


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
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        encoded_header, encoded_claims, encoded_signature = parts
        header = _json_object(_segment(encoded_header))
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed")
        if any(name in header for name in _REFUSED_HEADER_PARAMETERS):
            raise InvalidToken("header parameter not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("no key id")
        key = self.jwks.key(kid)
        signature = _segment(encoded_signature)
        try:
            key.verify(signature, f"{encoded_header}.{encoded_claims}".encode("ascii"),
                       padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as e:
            raise InvalidToken("InvalidSignatureError") from e
        claims = _json_object(_segment(encoded_claims))  # only a signed payload is read
        missing = [name for name in REQUIRED_CLAIMS if name not in claims]
        if missing:
            raise InvalidToken(f"missing claim {missing[0]}")
        if claims["iss"] != self.issuer:
            raise InvalidToken("InvalidIssuerError")
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
