"""A local stand-in for the deployed REST API, with the same routes and authorization types
(`spec.edge`), SigV4 checks, IAM and authorizer policy evaluation, authorizer caching, limits,
answers, identity headers and JSON access log."""

import http.client
import json
import select
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from spec.edge import (
    ACCESS_LOG_FIELDS,
    AWS_IAM,
    DEFAULT_AUTHORIZER_TTL_SECONDS,
    DEFAULT_CONTACT,
    FORWARDED_IDENTITY_HEADERS,
    IDENTITY_SOURCE_HEADERS,
    INTEGRATION_TIMEOUT_MS,
    MAX_PAYLOAD_BYTES,
    cross_site_body,
    cross_site_refusal,
    gateway_response_body,
    integration_header_sources,
    is_ui_redirect,
    is_ui_redirect_path,
    match_route,
    resource_policy,
)
from roles.policy_eval import ALLOW, DENY, evaluate

from .local_server import HOP_BY_HOP, LocalServer
from .sigv4 import ExpiredToken, SignatureError, verify

ACTION = "execute-api:Invoke"
# Compared with `_` read as `-`: a WSGI server folds `X_MLflow_User` into `X-MLflow-User`.
_FORWARDED = {h.lower() for h in FORWARDED_IDENTITY_HEADERS}


def _is_identity_header(name: str) -> bool:
    return name.lower().replace("_", "-") in _FORWARDED


def client_headers_to_forward(headers) -> list:
    """The client's own headers the integration passes on: neither hop-by-hop ones nor any
    spelling (case, `_` for `-`) of the headers the integration sets itself.

    API Gateway is not documented to drop header names with underscores: its "important
    notes" (docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html)
    say nothing of them, and the reports of dropped `_` headers concern nginx's
    `underscores_in_headers` (github.com/SteveLTN/https-portal/issues/289), Elastic Beanstalk's
    nginx (github.com/grouparoo/grouparoo/pull/1489), CloudFront
    (github.com/modheader/modheader/issues/124) and Envoy (github.com/envoyproxy/gateway/
    issues/3047); the NLB behind the VPC link is layer 4. So this gateway does not count on
    it: it drops them as the tracking server's guard does (mlflow_landing_zone_server.guard),
    and the server is safe whichever API Gateway does."""
    return [(k, v) for k, v in headers
            if k.lower() not in HOP_BY_HOP and not _is_identity_header(k)]


# The gateway response type of each refusal that spec.edge rewrites into MLflow's shape.
_RESPONSE_TYPES = {"AccessDeniedException": "ACCESS_DENIED",
                   "UnauthorizedException": "UNAUTHORIZED",
                   "MissingAuthenticationTokenException": "MISSING_AUTHENTICATION_TOKEN",
                   "InvalidSignatureException": "INVALID_SIGNATURE",
                   "ExpiredTokenException": "EXPIRED_TOKEN"}


class Refused(Exception):
    """API Gateway answers the request itself."""

    def __init__(self, status, message, error_type, body=None, variables=None):
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type
        self._body = body
        # the $context variables its gateway response may name ({"context.httpMethod": ...})
        self.variables = variables or {}

    def body(self, contact=DEFAULT_CONTACT) -> dict:
        if self._body is not None:
            return self._body
        response_type = _RESPONSE_TYPES.get(self.error_type)
        if response_type:
            return gateway_response_body(response_type, self.message, self.variables, contact)
        return {"message": self.message}  # API Gateway's default shape


class Redirect(Exception):
    """The API answers with a redirect itself (a MOCK integration)."""

    def __init__(self, location):
        super().__init__(location)
        self.location = location


class UpstreamConnections:
    """Keep-alive connections to the integration's upstream (MLflow), reused from one request to
    the next, as a proxy keeps them: a new TCP connection per request costs the gateway a
    connect and MLflow (uvicorn) a new connection's set-up on every call.

    A connection is reused only while it is fresh and its answer was read to the end: idle for
    less than `max_idle` seconds (below uvicorn's keep-alive of 5 s, so never one MLflow is
    closing), and not readable while idle (an idle connection that is readable was closed by
    the upstream, or holds bytes no request asked for)."""

    def __init__(self, host: str, port: int, timeout: float, max_idle: float = 2.0,
                 max_kept: int = 64):
        self.host, self.port, self.timeout = host, port, timeout
        self.max_idle, self.max_kept = max_idle, max_kept
        self._idle = []  # (connection, since), the most recently used last
        self._lock = threading.Lock()

    def take(self) -> http.client.HTTPConnection:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection, since = self._idle.pop()
            if now - since < self.max_idle and not _readable(connection.sock):
                return connection
            connection.close()
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def give_back(self, connection: http.client.HTTPConnection, response):
        """Keep `connection` for the next request if its answer was read to the end and
        neither side asked to close it; else close it."""
        if response.will_close or not response.isclosed() or connection.sock is None:
            connection.close()
            return
        with self._lock:
            if len(self._idle) < self.max_kept:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()


def _readable(sock) -> bool:
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class Gateway(LocalServer):
    def __init__(self, *, port, upstream_url, api_arn, account_id, region, authorizer,
                 lookup_access_key, identity_policies, access_log_path,
                 authorizer_ttl=DEFAULT_AUTHORIZER_TTL_SECONDS, integration_timeout=INTEGRATION_TIMEOUT_MS / 1000,
                 platform_contact=DEFAULT_CONTACT, principal_context=None):
        self.api_arn = api_arn
        self.platform_contact = platform_contact  # the ACCESS_DENIED response names it
        self.execution_arn = api_arn.rsplit("/", 1)[0]
        self.account_id, self.region = account_id, region
        self.authorizer = authorizer
        self.lookup_access_key = lookup_access_key
        self.identity_policies = identity_policies
        # (role ARN, access key) -> IAM's request context of the caller: its role's tags and
        # its session's as `aws:PrincipalTag/<key>` (the access roles' policies name their team
        # by `${aws:PrincipalTag/team}`)
        self.principal_context = principal_context or (lambda role_arn, access_key: {})
        # Neither the routes nor the resource policy name a team (spec.edge): the teams'
        # workspaces are the IAM policies' and the authorizer's to tell apart.
        self.resource_policy = resource_policy(self.execution_arn, account_id)
        self.authorizer_ttl = authorizer_ttl
        self.ui_url = None  # set once the UI's host runs: the redirect's target, the UI origin
        self.integration_timeout = integration_timeout
        upstream = urlsplit(upstream_url)
        self.upstream = (upstream.hostname, upstream.port)
        self._connections = UpstreamConnections(*self.upstream, timeout=integration_timeout)
        self._cache = {}
        self._lock = threading.Lock()
        self._log = open(access_log_path, "a", buffering=1)
        self.stats = {"requests": 0, "authorizer_calls": 0, "authorizer_cache_hits": 0}
        gateway = self

        class Handler(_Handler):
            pass

        Handler.gateway = gateway
        super().__init__(Handler, port)

    def stop(self):
        super().stop()
        self._connections.close()
        with self._lock:
            self._log.close()

    # --- before authorization: the web ACL's cross-site rules (components/web_acl.py) ---------

    def refuse_cross_site(self, headers):
        ui_origin = self.ui_url or "(no UI)"
        rule = cross_site_refusal(headers, ui_origin)
        if rule:
            body = cross_site_body(rule, ui_origin)
            raise Refused(403, body["message"], "WafBlock", body=body)

    # --- authorization --------------------------------------------------------------------

    def authorize_iam(self, method, raw_path, raw_query, headers, body, method_arn):
        def lookup(access_key):
            found = self.lookup_access_key(access_key)
            if found is None:
                return None
            secret, token, role_arn, session_arn, account = found
            return secret, token, (role_arn, session_arn, account, access_key)

        try:
            role_arn, session_arn, account, access_key = verify(method, raw_path, raw_query, headers, body,
                                                    lookup, self.region)
        except ExpiredToken as e:
            raise Refused(403, str(e), "ExpiredTokenException")
        except SignatureError as e:
            if e.missing_token:
                raise Refused(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
            raise Refused(403, str(e), "InvalidSignatureException")
        identity = evaluate(self.identity_policies(role_arn), ACTION, method_arn,
                            context=self.principal_context(role_arn, access_key))
        resource = evaluate([self.resource_policy], ACTION, method_arn,
                            context={"aws:PrincipalAccount": account,
                                     "aws:PrincipalArn": role_arn},
                            principal=role_arn)
        # Same account: either policy may allow; an explicit Deny in either wins (Table A).
        if DENY in (identity, resource) or ALLOW not in (identity, resource):
            suffix = " with an explicit deny" if DENY in (identity, resource) else ""
            raise Refused(403, f"User: {session_arn} is not authorized to perform: {ACTION} "
                               f"on resource: {method_arn}{suffix}", "AccessDeniedException",
                          variables={"context.httpMethod": method,
                                     "context.identity.userArn": session_arn})
        return {"caller": session_arn, "context": {"identity.userArn": session_arn}}

    def _authorizer_result(self, key, event):
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[0] > now:
                self.stats["authorizer_cache_hits"] += 1
                return cached[1], None
            self.stats["authorizer_calls"] += 1
        started = time.perf_counter()
        try:
            response = self.authorizer.authorize(event)
        except Exception:
            raise Refused(401, "Unauthorized", "UnauthorizedException") from None
        latency = int((time.perf_counter() - started) * 1000)
        if self.authorizer_ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (now + self.authorizer_ttl, response)
        return response, latency

    def authorize_token(self, method, raw_path, raw_query, headers, method_arn, route,
                        path_parameters, request_id, source_ip, original_headers):
        # Before the authorizer runs, an explicit Deny of the resource policy ends the request.
        if evaluate([self.resource_policy], ACTION, method_arn, principal="anonymous") == DENY:
            raise Refused(403, "User: anonymous is not authorized to perform: "
                               f"{ACTION} on resource: {method_arn} with an explicit deny",
                          "AccessDeniedException", variables={"context.httpMethod": method})
        sources = tuple(headers.get(h.lower()) for h in IDENTITY_SOURCE_HEADERS)
        token = sources[0]
        # An identity source missing or empty: the authorizer is not even called (with caching
        # off, API Gateway calls it anyway for everything but the token).
        if not token or (self.authorizer_ttl > 0 and not all(sources)):
            raise Refused(401, "Unauthorized", "UnauthorizedException")
        event = {
            "type": "REQUEST", "methodArn": method_arn, "resource": route.resource,
            "path": raw_path, "httpMethod": method,
            "headers": {k: v[-1] for k, v in original_headers.items()},
            "multiValueHeaders": original_headers,
            "queryStringParameters": dict(parse_qsl(raw_query)),
            "pathParameters": dict(path_parameters), "stageVariables": {},
            "requestContext": {"accountId": self.account_id, "apiId": self.api_id,
                               "stage": self.stage, "httpMethod": method,
                               "resourcePath": route.resource, "requestId": request_id,
                               "path": f"/{self.stage}{raw_path}",
                               "identity": {"sourceIp": source_ip}},
        }
        response, latency = self._authorizer_result(sources, event)
        decision = evaluate([response["policyDocument"]], ACTION, method_arn)
        context = response.get("context", {})
        if decision != ALLOW:
            message = "User is not authorized to access this resource" + (
                " with an explicit deny" if decision == DENY else "")
            raise Refused(403, message, "AccessDeniedException", variables={
                "context.httpMethod": method,
                **{f"context.authorizer.{k}": v for k, v in context.items()}})
        return {"user": context.get("username", ""), "levels": context.get("levels", ""),
                "workspace": context.get("workspace", ""), "authorizer_latency": latency,
                "context": {f"authorizer.{k}": v for k, v in context.items()}}

    @staticmethod
    def integration_headers(route, context: dict, path_parameters: dict = None) -> dict:
        """What the route's integration sets (spec.edge.integration_header_sources), from the
        request's context and path: `context.X` and `method.request.path.X` sources and
        'static' values, as API Gateway maps them."""
        headers = {}
        for header, source in integration_header_sources(route).items():
            if source.startswith("'"):
                headers[header] = source.strip("'")
            elif source.startswith("method.request.path."):
                headers[header] = (path_parameters or {})[source.removeprefix(
                    "method.request.path.")]
            else:
                headers[header] = str(context.get(source.removeprefix("context."), ""))
        return headers

    @property
    def api_id(self):
        return self.execution_arn.split(":")[-1]

    @property
    def stage(self):
        return self.api_arn.rsplit("/", 1)[1]

    # --- the integration ------------------------------------------------------------------

    def forward(self, method, target, headers, body, identity_headers):
        forwarded = dict(client_headers_to_forward(headers))
        forwarded.update({k: v for k, v in identity_headers.items() if v is not None})
        forwarded["Host"] = f"{self.upstream[0]}:{self.upstream[1]}"
        forwarded["Content-Length"] = str(len(body))
        connection = self._connections.take()
        try:
            connection.request(method, target, body=body, headers=forwarded)
            response = connection.getresponse()
            data = response.read(MAX_PAYLOAD_BYTES + 1)
        except socket.timeout:
            connection.close()
            raise Refused(504, "Endpoint request timed out", "IntegrationTimeout") from None
        except (OSError, http.client.HTTPException):  # refused, reset, a malformed answer
            connection.close()
            raise Refused(502, "Internal server error", "InternalServerErrorException") from None
        if len(data) > MAX_PAYLOAD_BYTES:
            connection.close()
            raise Refused(502, "Internal server error", "InternalServerErrorException")
        self._connections.give_back(connection, response)
        return response.status, response.getheaders(), data

    def write_log(self, record):
        line = {key: record.get(key, "-") for key in ACCESS_LOG_FIELDS}
        line["authorizerLatencyMs"] = record.get("authorizerLatencyMs", "-")
        with self._lock:
            if not self._log.closed:  # requests still in flight while the gateway stops
                self._log.write(json.dumps(line) + "\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    gateway: Gateway = None

    def log_message(self, *args):  # the JSON access log replaces http.server's lines
        pass

    def _read_body(self, headers):
        try:
            return self._read_announced_body(headers)
        except TimeoutError:  # the body stalled for read_timeout: answered, then closed
            raise Refused(408, "Request Timeout", "RequestTimeout") from None

    def _read_announced_body(self, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_PAYLOAD_BYTES:
                    raise Refused(413, "Request Too Long", "RequestTooLong")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            raise Refused(400, "Invalid Content-Length", "BadRequestException") from None
        if length > MAX_PAYLOAD_BYTES:
            raise Refused(413, "Request Too Long", "RequestTooLong")
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self):
        gateway = self.gateway
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        method = self.command
        # The request target exactly as sent: http.server rewrites a leading "//" in
        # self.path, and the policy must judge (and MLflow receive) what the client sent.
        parts = self.requestline.split(" ")
        target = parts[1] if len(parts) == 3 else self.path
        raw_path, _, raw_query = target.partition("?")
        headers = {}
        for k, v in self.headers.items():
            key = k.lower()
            headers[key] = f"{headers[key]},{v}" if key in headers else v
        record = {"requestId": request_id, "ip": self.client_address[0], "method": method,
                  "path": raw_path,
                  "time": datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")}
        extra_headers = {"x-amzn-RequestId": request_id}
        with gateway._lock:
            gateway.stats["requests"] += 1
        try:
            body = self._read_body(headers)
            if not raw_path.startswith("/"):
                raise Refused(400, "Bad request path", "BadRequestException")
            if is_ui_redirect(method, raw_path):
                raise Redirect(gateway.ui_url + "/")
            if not is_ui_redirect_path(raw_path):  # the web ACL spares the redirects' paths
                gateway.refuse_cross_site(headers)
            matched = match_route(raw_path)
            if matched is None:  # a method the resource does not have: API Gateway's famous 403
                raise Refused(403, "Missing Authentication Token",
                              "MissingAuthenticationTokenException")
            route, path_parameters = matched
            method_arn = f"{gateway.api_arn}/{method}/{raw_path[1:]}"
            if route.authorization == AWS_IAM:
                identity = gateway.authorize_iam(method, raw_path, raw_query, headers, body,
                                                 method_arn)
            else:
                original = {}
                for k, v in self.headers.items():
                    original.setdefault(k, []).append(v)
                identity = gateway.authorize_token(method, raw_path, raw_query, headers,
                                                   method_arn, route, path_parameters,
                                                   request_id, self.client_address[0], original)
            record.update(caller=identity.get("caller", "-"), user=identity.get("user", "-"),
                          levels=identity.get("levels", "-"),
                          workspace=identity.get("workspace", "-"))
            if identity.get("authorizer_latency") is not None:
                record["authorizerLatencyMs"] = identity["authorizer_latency"]
            upstream_started = time.perf_counter()
            # the integration's target (below a team's base path on the teams' resource)
            target = route.target_path(path_parameters) + (f"?{raw_query}" if "?" in target
                                                           else "")
            status, upstream_headers, data = gateway.forward(
                method, target, list(self.headers.items()), body,
                gateway.integration_headers(route, identity["context"], path_parameters))
            record["integrationLatencyMs"] = int((time.perf_counter() - upstream_started) * 1000)
            self.send_response(status)
            for k, v in upstream_headers:
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
        except Redirect as redirect:
            status, data = 302, b""
            self.send_response(status)
            self.send_header("Location", redirect.location)
        except Refused as refused:
            status = refused.status
            data = json.dumps(refused.body(self.gateway.platform_contact)).encode()
            record["error"] = refused.message
            extra_headers["x-amzn-ErrorType"] = refused.error_type
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status in (408, 413):  # the rest of the body may still come: not a next request
                self.close_connection = True
        except Exception as e:  # a bug of the sandbox must still look like API Gateway
            status = 500
            data = json.dumps({"message": "Internal server error"}).encode()
            record["error"] = f"gateway error: {type(e).__name__}: {e}"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
        for k, v in extra_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        record["status"] = status
        record["latencyMs"] = int((time.perf_counter() - started) * 1000)
        gateway.write_log(record)  # before the body, so a client that has the answer has the line
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle
