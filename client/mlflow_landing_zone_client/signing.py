"""Sign `requests` requests with SigV4 for `execute-api`, as API Gateway checks them.

The query string is rewritten to AWS's canonical encoding before signing, so what is signed is
exactly what is sent (`requests` writes spaces as `+`, which SigV4 does not). File bodies are
hashed in chunks and rewound, so streamed artifact uploads are signed without being loaded.
"""

from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import requests
from botocore.auth import SigV4Auth as _BotocoreSigV4
from botocore.awsrequest import AWSRequest

from .credentials import execute_api_region, resolve_region
from .refusals import rewrite_refusal

SERVICE = "execute-api"
_SIGNED_HEADERS = ("host", "content-type", "x-amz-date", "x-amz-security-token",
                   "x-amz-content-sha256")


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


class SigV4Auth(requests.auth.AuthBase):
    def __init__(self, credentials, region=None):
        self.credentials = credentials  # a CentralRoleCredentials
        self.region = region
        self._regions = {}

    def _region_for(self, host):
        """An execute-api host's own region (a team in another region than the central API
        must still sign for the API's); else the configured one; else the environment's."""
        if host not in self._regions:
            self._regions[host] = execute_api_region(host) or self.region or resolve_region(host)
        return self._regions[host]

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
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
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws_request.headers:
                request.headers[name] = aws_request.headers[name]
        # The edge's 403 in plain words: the level the call needs, the caller's, whom to ask
        request.register_hook("response", self._explain_refusal)
        return request

    def _explain_refusal(self, response, **_):
        return rewrite_refusal(response, getattr(self.credentials, "role_arn", None))
