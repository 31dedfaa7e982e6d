"""Sign `requests` requests with SigV4 for `execute-api`, as API Gateway checks them.

The query string is rewritten to AWS's canonical encoding before signing, so what is signed is
exactly what is sent (`requests` writes spaces as `+`, which SigV4 does not). File bodies are
hashed in chunks and rewound, so streamed artifact uploads are signed without being loaded.

A request the edge refuses because it does not know the credentials' security token (the
sandbox restarted; a revoked session) is signed again once with credentials fetched afresh
from their source, and sent again; a process left running keeps working.
"""

import json
import re
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import requests
from botocore.auth import SigV4Auth as _BotocoreSigV4
from botocore.awsrequest import AWSRequest
from requests.exceptions import UnrewindableBodyError
from requests.utils import rewind_body

from .credentials import FRESH_CREDENTIALS, execute_api_region, resolve_region
from .refusals import rewrite_refusal

SERVICE = "execute-api"
_SIGNED_HEADERS = ("host", "content-type", "x-amz-date", "x-amz-security-token",
                   "x-amz-content-sha256")
_SIGNATURE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
# API Gateway's words (403; 401 from some fronts) for a token it does not know, or no longer
_STALE_TOKEN = re.compile(r"The security token included in the request is (invalid|expired)")


def stale_token_refusal(response) -> bool:
    """Whether `response` is the edge refusing the signature's security token."""
    if response.status_code not in (401, 403):
        return False
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return False
    message = body.get("message") if isinstance(body, dict) else None
    return isinstance(message, str) and bool(_STALE_TOKEN.search(message))


def _rewound(request) -> bool:
    """Whether the body can be sent again (a file is sought back; a generator cannot be)."""
    if request.body is None or isinstance(request.body, (bytes, str)):
        return True
    try:
        rewind_body(request)
        return True
    except UnrewindableBodyError:
        return False


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


class SigV4Auth(requests.auth.AuthBase):
    def __init__(self, credentials, region=None, check=None):
        self.credentials = credentials  # a CentralRoleCredentials
        self.region = region
        self._regions = {}
        # check(request) raises for a request that must not leave (the provider's workspace check)
        self._check = check

    def _region_for(self, host):
        """An execute-api host's own region (a team in another region than the central API
        must still sign for the API's); else the configured one; else the environment's."""
        if host not in self._regions:
            self._regions[host] = execute_api_region(host) or self.region or resolve_region(host)
        return self._regions[host]

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._check is not None:
            self._check(request)
        self._sign(request)
        # The edge's 403 in plain words: the level the call needs, the caller's, whom to ask
        request.register_hook("response", self._after_response)
        return request

    def _sign(self, request):
        parts = urlsplit(request.url)
        if parts.query:
            parts = parts._replace(query=canonical_query(parts.query))
            request.url = urlunsplit(parts)
        # Only the headers API Gateway sees unchanged take part in the signature.
        headers = {k: v for k, v in request.headers.items() if k.lower() in _SIGNED_HEADERS}
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        aws_request = AWSRequest(method=request.method, url=request.url, data=body,
                                 headers=headers)
        region = self._region_for(parts.hostname or "")
        _BotocoreSigV4(self.credentials.frozen(), SERVICE, region).add_auth(aws_request)
        for name in _SIGNATURE_HEADERS:
            if name in aws_request.headers:
                request.headers[name] = aws_request.headers[name]

    def _after_response(self, response, **send_kwargs):
        if stale_token_refusal(response) and hasattr(self.credentials, "invalidate"):
            response = self._sign_again_and_resend(response, **send_kwargs)
            if stale_token_refusal(response):  # fresh credentials did not help either
                _append_to_message(response, f"this process's AWS credentials are unknown to "
                                             f"the MLflow landing zone: {FRESH_CREDENTIALS}")
        return rewrite_refusal(response, getattr(self.credentials, "role_arn", None))

    def _sign_again_and_resend(self, response, **send_kwargs):
        """Once: fresh credentials, a new signature, the same request (as requests' digest auth
        answers a 401); the refusal stays the answer if the body cannot be sent again."""
        self.credentials.invalidate()  # the next request gets fresh ones, whatever this one
        again = response.request.copy()
        if not _rewound(again):
            return response
        for name in _SIGNATURE_HEADERS:
            again.headers.pop(name, None)
        self._sign(again)
        response.close()  # its connection goes back to the pool for the retry
        retried = response.connection.send(again, **send_kwargs)
        retried.history.append(response)
        retried.request = again
        return retried


def _append_to_message(response, text: str):
    body = json.loads(response.content)
    body["message"] = f"{body['message']}: {text}"
    response._content = json.dumps(body).encode()
