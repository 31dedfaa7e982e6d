"""A local stand-in for the Amplify app: the UI bundle, the same forwarding of API paths (to the
local gateway) and the same response headers, from `ui.hosting`.

One addition Amplify does not need: `/cognito/` forwards Cognito's JSON API to moto, because
the emulated AWS answers no web origin's CORS (sandbox/emulation.py), and moto's preflight
answer was wrong anyway (it takes a bare `OPTIONS /` for S3). On AWS the shell talks to
`cognito-idp.<region>.amazonaws.com` directly.
"""

import errno
import http.client
import json
import mimetypes
import socket
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ui.hosting import api_route, headers_for, is_bundle_path

from .aws import free_port
from .local_server import HOP_BY_HOP, LocalServer

COGNITO_PATH = "/cognito/"
# The UI's address: a name MLflow does not count as localhost (it exempts localhost, 127.0.0.1
# and [::1] from its CORS check on writes), so the sandbox's MLflow judges the UI's origin as
# it judges the Amplify domain on AWS (MLFLOW_SERVER_CORS_ALLOWED_ORIGINS). Browsers resolve
# every `*.localhost` name to the loopback address themselves (RFC 6761; Chromium and Firefox
# do, and count it a secure context, which the service worker needs), so it works on macOS and
# Linux alike without setup, where a second loopback address such as 127.0.0.2 does not exist
# on macOS. The host listens on 127.0.0.1, which every machine has.
UI_HOST = "ui.localhost"
UI_ADDRESS = "127.0.0.1"
COGNITO_TARGET = "AWSCognitoIdentityProviderService."
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
          ".css": "text/css", ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml",
          ".woff2": "font/woff2", ".woff": "font/woff", ".ico": "image/x-icon",
          ".png": "image/png", ".map": "application/json", ".txt": "text/plain"}


class UiHostUnavailable(RuntimeError):
    """The UI's host cannot listen on its address; the message says what to do."""


def unavailable(error: OSError, address: str = UI_ADDRESS) -> UiHostUnavailable:
    return UiHostUnavailable(
        f"the UI's host cannot listen on {address} ({error.strerror or error}): this machine's "
        f"loopback interface does not offer that address. Another port would not help (it is "
        f"not a port in use): bring the loopback interface up (Linux: `sudo ip link set lo up`; "
        f"macOS: `sudo ifconfig lo0 up`), then start the sandbox again")


def choose_port(port: int = 0, preferred: int = 0, address: str = None) -> int:
    """The port the UI's host will listen on: `port` if given, else `preferred` if it is free
    now, else any free one. The address is checked before anything starts, so a machine that
    cannot listen on it is told at once, and told what helps."""
    address = address or UI_ADDRESS
    with socket.socket() as s:
        try:
            s.bind((address, 0))
        except OSError as e:
            raise unavailable(e, address) from e
    return port or free_port(address, preferred=preferred)


def loopback_url(url: str) -> str:
    """`url` (the UI's, as the state file has it) addressed to the loopback address the host
    listens on: for clients that do not resolve `*.localhost` themselves (Python's and Node's
    resolvers on a Linux without systemd-resolved or libnss-myhostname)."""
    parts = urlsplit(url)
    if parts.hostname != UI_HOST:
        return url
    return urlunsplit(parts._replace(netloc=f"{UI_ADDRESS}:{parts.port}"))


class UiServer(LocalServer):
    def __init__(self, *, bundle_dir: Path, gateway_url: str, cognito_url: str,
                 cognito_origin: str, config: dict, port: int = 0, revoke_token=None,
                 access_log_path: Path = None):
        self.bundle_dir = Path(bundle_dir).resolve()
        self.gateway = urlsplit(gateway_url)
        self.cognito = urlsplit(cognito_url)
        self.cognito_origin = cognito_origin
        self.config = config
        self.revoke_token = revoke_token
        self._lock = threading.Lock()
        self._log = open(access_log_path, "a", buffering=1) if access_log_path else None

        class Handler(_Handler):
            server_ref = self

        try:
            super().__init__(Handler, port, host=UI_ADDRESS)
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise unavailable(e, UI_ADDRESS) from e
            raise  # the port is taken: the start's own message names --ui-port
        self.url = f"http://{UI_HOST}:{self.port}"

    def stop(self):
        super().stop()
        with self._lock:
            if self._log:
                self._log.close()

    def write_log(self, record: dict):
        """One JSON line per request, as Amplify's access logs have them, plus whether the
        request carried an Authorization header (the tests check where tokens go)."""
        with self._lock:
            if self._log and not self._log.closed:
                self._log.write(json.dumps(record) + "\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: UiServer = None

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, data: bytes, headers: dict):
        self.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _forward(self, upstream, target, extra_headers=None):
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers.update(extra_headers or {})
        headers["Host"] = upstream.netloc
        headers["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        try:
            connection.request(self.command, target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as e:
            return self._send(502, json.dumps({"message": f"upstream unreachable: {e}"}).encode(),
                              {"Content-Type": "application/json"})
        finally:
            connection.close()
        self._send(response.status, data, {k: v for k, v in response.getheaders()
                                           if k.lower() not in HOP_BY_HOP})

    def _handle(self):
        path = urlsplit(self.path).path
        self.kind, self.status = "file", 0
        try:
            self._dispatch(path)
        finally:
            self.server_ref.write_log({
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "method": self.command, "path": path, "kind": self.kind,
                "status": self.status, "authorization": "Authorization" in self.headers})

    def _dispatch(self, path):
        ui = self.server_ref
        if api_route(path):
            self.kind = "api"
            return self._forward(ui.gateway, self.path)
        if path == COGNITO_PATH:
            self.kind = "cognito"
            target = self.headers.get("X-Amz-Target", "")
            if self.command != "POST" or not target.startswith(COGNITO_TARGET):
                return self._send(404, b"", {})
            operation = target[len(COGNITO_TARGET):]
            if operation == "RevokeToken" and ui.revoke_token:  # moto has no RevokeToken
                request = json.loads(self._body() or b"{}")
                ui.revoke_token(request.get("ClientId", ""), request.get("Token", ""))
                return self._send(200, b"{}", {"Content-Type": "application/x-amz-json-1.1"})
            # Unsigned, as the browser sends it to Cognito: no Authorization of ours goes on.
            return self._forward(ui.cognito, "/")
        headers = headers_for(path, ui.cognito_origin)
        if self.command not in ("GET", "HEAD") or not is_bundle_path(path):
            return self._send(404 if self.command in ("GET", "HEAD") else 405,
                              b"Not found", {**headers, "Content-Type": "text/plain"})
        if path == "/config.json":
            data, suffix = json.dumps(ui.config).encode(), ".json"
        else:
            name = "index.html" if path == "/" else path.lstrip("/")
            file = (ui.bundle_dir / name).resolve()
            if ui.bundle_dir not in file.parents or not file.is_file():
                return self._send(404, b"Not found", {**headers, "Content-Type": "text/plain"})
            data, suffix = file.read_bytes(), file.suffix
        content_type = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        self._send(200, data, {**headers, "Content-Type": content_type})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle
