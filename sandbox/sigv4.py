"""Verify SigV4-signed requests as API Gateway does for AWS_IAM methods.

Signature, credential scope (date, region, service), clock skew of 5 minutes, payload hash and
session token are all checked, and a session past its Expiration is refused as expired. The
canonical request is computed by botocore's own signer over the request as received, so the
check is independent of the client that signed it.
"""

import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW = timedelta(minutes=5)
SERVICE = "execute-api"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$")


class SignatureError(Exception):
    """Why a request's signature is refused (API Gateway answers 403)."""

    def __init__(self, reason, missing_token=False):
        super().__init__(reason)
        self.missing_token = missing_token


class ExpiredToken(SignatureError):
    """The credentials' STS session has expired (API Gateway's EXPIRED_TOKEN, 403). `lookup`
    raises it with the session's token: a request with another token is still refused as
    invalid."""

    MESSAGE = "The security token included in the request is expired"

    def __init__(self, token=None):
        super().__init__(self.MESSAGE)
        self.token = token


def verify(method, raw_path, raw_query, headers, body, lookup, region, now=None):
    """The principal of a correctly signed request, or SignatureError.

    `headers` maps lower-case names to values; `lookup(access_key)` returns
    (secret_key, session_token or None, principal) or None for an unknown key, or raises
    ExpiredToken for an expired session.
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise SignatureError("Missing Authentication Token", missing_token=True)
    match = _AUTH.match(authorization.strip())
    if not match:
        raise SignatureError("Authorization header is not a SigV4 signature")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise SignatureError("missing or malformed X-Amz-Date") from None
    now = now or datetime.now(timezone.utc)
    if abs(now - signed_at) > MAX_SKEW:
        raise SignatureError("Signature expired: X-Amz-Date is more than 5 minutes from now")
    if match["date"] != amz_date[:8]:
        raise SignatureError("credential scope date does not match X-Amz-Date")
    if match["region"] != region:
        raise SignatureError(f"credential scope region should be '{region}'")
    if match["service"] != SERVICE:
        raise SignatureError(f"credential scope service should be '{SERVICE}'")
    signed = match["signed"].split(";")
    if "host" not in signed:
        raise SignatureError("the Host header must be signed")
    try:
        found = lookup(match["key"])
    except ExpiredToken as expired:
        if expired.token is not None and headers.get("x-amz-security-token") != expired.token:
            raise SignatureError("The security token included in the request is invalid") \
                from None
        raise
    if found is None:
        raise SignatureError("The security token included in the request is invalid")
    secret, token, principal = found
    if token is not None and headers.get("x-amz-security-token") != token:
        raise SignatureError("The security token included in the request is invalid")
    if token is not None and "x-amz-security-token" not in signed:
        raise SignatureError("the session token must be signed")
    body = body or b""
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        raise SignatureError("payload hash does not match the body")
    missing = [h for h in signed if h not in headers]
    if missing:
        raise SignatureError(f"signed headers are missing: {', '.join(missing)}")
    url = f"http://{headers['host']}{raw_path}" + (f"?{raw_query}" if raw_query else "")
    request = AWSRequest(method=method, url=url, data=body,
                         headers={h: headers[h] for h in signed})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(match["key"], secret, token), SERVICE, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError("The request signature we calculated does not match the "
                             "signature you provided")
    return principal
