"""Bounded input before MLflow: an ASGI middleware around MLflow's whole app (FastAPI and the
Flask app mounted in it).

Bad requests get 400, 404 or 413 in MLflow's error shape, never a 500 (DESIGN: "Bad requests
get 401, 403, 400, 404 or 413, never 500"). In order, for every HTTP request:

1. Identity headers spelled with `_` are dropped. The WSGI bridge folds `X_MLflow_User` and
   `X-MLflow-User` into one environ key (`HTTP_X_MLFLOW_USER`, values joined by ","), so a
   client's underscore spelling would join the integration's own value.
2. The request target must be valid percent-encoded UTF-8, with names (path segments) and
   artifact paths no file system or S3 would refuse.
3. A compressed OTLP body (`/v1/traces`, Content-Encoding gzip or deflate) is inflated here, in
   chunks, up to the cap, and handed on plain: MLflow itself inflates it whole, without a cap.
4. A body MLflow reads as JSON must be JSON, an object (or MLflow's legacy double-encoded
   object), nested no deeper than MAX_JSON_DEPTH; an OTLP JSON body (`/v1/traces`), an object
   at once, of the shape MLflow walks before it parses it (check_otlp_json).
"""

import json
import re
import zlib
from urllib.parse import unquote_to_bytes

import anyio
from mlflow.server.handlers import _add_static_prefix
from mlflow.tracing.utils.otlp import OTLP_TRACES_PATH

from ._spec import FORWARDED_HEADERS
from .registry import limit_from_env

# The headers API Gateway's integration sets (spec.edge.FORWARDED_IDENTITY_HEADERS, MLflow's
# workspace header among them).
PROTECTED_HEADERS = FORWARDED_HEADERS
_PROTECTED = {h.lower() for h in PROTECTED_HEADERS}

# The most bytes one request body may hold in a worker, inflated. The edge passes at most
# 10 MB, compressed; OTLP's text-heavy spans compress 5 to 10 times, so 32 MiB keeps any batch
# an exporter sends (the OTel SDK's 512 spans of up to ~60 KB each) while a worker (sized at
# 300 MB, components/tracking_server.py) holds the inflated bytes and their parsed spans
# (about 3 to 4 times as much) within the task's 20 % headroom. Without it, 1 MB of gzip
# inflated to 1 GB in one worker.
MAX_BODY_ENV = "MLFLOW_LZ_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_INFLATE_CHUNK = 1024 * 1024

# protobuf's own JSON parser stops at 100 levels (json_format's max_recursion_depth): no
# message MLflow accepts nests deeper. Python's json module fails with RecursionError at ~1000.
MAX_JSON_DEPTH = 100
# Linux's NAME_MAX: a longer path segment names no file the server could write (artifacts are
# downloaded to a temporary directory before they are sent).
MAX_SEGMENT_BYTES = 255
# S3's key limit: no artifact path is longer. The URL's path gets twice that for its prefix.
MAX_ARTIFACT_PATH_BYTES = 1024
MAX_URL_PATH_BYTES = 2048

_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# Experiments are integers in MLflow's SQL stores; some of its handlers check that, others
# hand the value to the store, which wraps int()'s ValueError as INTERNAL_ERROR (500).
EXPERIMENT_ID_NAMES = ("experiment_id", "experiment_ids")
_INTEGER = re.compile(r"-?[0-9]*")  # empty: absent, MLflow judges
_JSON_TYPES = ("application/json",)
# Flask's handlers under these prefixes read a body as JSON whatever its Content-Type says
# for every method but POST and PUT (which must say application/json: MLflow checks that).
_JSON_PREFIXES = ("/api/", "/ajax-api/", "/graphql")


def max_body_bytes() -> int:
    return limit_from_env(MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES)


class Refusal(Exception):
    def __init__(self, status: int, message: str, error_code: str = "INVALID_PARAMETER_VALUE"):
        super().__init__(message)
        self.status, self.message, self.error_code = status, message, error_code

    def body(self) -> bytes:
        return json.dumps({"error_code": self.error_code, "message": self.message}).encode()


# --- 1. headers ---------------------------------------------------------------------------------


def is_folded_protected_header(name: str) -> bool:
    """A header name with `_` that a WSGI server would fold into a protected header."""
    return "_" in name and name.lower().replace("_", "-") in _PROTECTED


def without_folded_headers(headers):
    return [(k, v) for k, v in headers if not is_folded_protected_header(k.decode("latin-1"))]


# --- 2. the request target -------------------------------------------------------------------


def _decoded(raw: bytes, what: str, plus_is_space=False) -> str:
    if _BAD_PERCENT.search(raw):
        raise Refusal(400, f"The {what} has a '%' that is not a percent-encoded byte.")
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, f"The {what} is not UTF-8 once percent-decoded.") from None


def _check_path(value: str, what: str, limit: int):
    encoded = value.encode()
    if len(encoded) > limit:
        raise Refusal(400, f"The {what} is longer than {limit} bytes.")
    if any(len(s) > MAX_SEGMENT_BYTES for s in encoded.split(b"/")):
        raise Refusal(400, f"A name in the {what} is longer than {MAX_SEGMENT_BYTES} bytes.")


def check_target(raw_path: bytes, query: bytes):
    """Refuse a request target MLflow would choke on (bad percent-encoding, bytes that are not
    UTF-8, names and paths longer than any store keeps)."""
    _check_path(_decoded(raw_path, "URL path"), "URL path", MAX_URL_PATH_BYTES)
    if not query:
        return
    _decoded(query, "query string", plus_is_space=True)
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        name = _decoded(name, "query string", plus_is_space=True)
        if name.endswith("path"):  # path, artifact_file_path, gateway_path
            _check_path(_decoded(value, "query string", plus_is_space=True),
                        f"query parameter {name!r}", MAX_ARTIFACT_PATH_BYTES)
        elif name in EXPERIMENT_ID_NAMES:
            check_experiment_ids([_decoded(value, "query string", plus_is_space=True)])


def check_experiment_ids(values):
    for value in values:
        if isinstance(value, str) and not _INTEGER.fullmatch(value):
            raise Refusal(400, f"Invalid experiment ID {value[:100]!r}. Experiment ID must be "
                               "a valid integer.")


# --- 3. compressed OTLP bodies ---------------------------------------------------------------


def inflate(body: bytes, encoding: str, cap: int) -> bytes:
    """`body` inflated as MLflow's decompress_otlp_body would (gzip, possibly several members;
    deflate as zlib, else raw), in chunks, refused once past `cap` bytes."""
    if encoding == "gzip":
        attempts = (16 + zlib.MAX_WBITS,)
    else:
        attempts = (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for i, wbits in enumerate(attempts):
        try:
            return _inflate(body, wbits, cap, members=encoding == "gzip")
        except zlib.error:
            if i == len(attempts) - 1:
                raise Refusal(400, f"The request body is not valid {encoding} data.") from None
    raise AssertionError("unreachable")


def _inflate(body: bytes, wbits: int, cap: int, members: bool) -> bytes:
    out, total, data = [], 0, body
    while True:
        inflater = zlib.decompressobj(wbits)
        while not inflater.eof:
            chunk = inflater.decompress(data, _INFLATE_CHUNK)
            total += len(chunk)
            if total > cap:
                raise Refusal(413, f"The request body inflates to more than {cap} bytes "
                                   f"({MAX_BODY_ENV}); send smaller batches.")
            out.append(chunk)
            if not chunk and not inflater.unconsumed_tail:
                raise zlib.error("the stream ends before its end")  # truncated
            data = inflater.unconsumed_tail
        data = inflater.unused_data
        if not (members and data):
            return b"".join(out)


# --- 4. JSON bodies --------------------------------------------------------------------------


def check_json(body: bytes):
    """Refuse a JSON body that MLflow's handlers would crash on: not JSON, not an object,
    nested deeper than MAX_JSON_DEPTH."""
    value = first = _loads(body)
    if isinstance(value, str):  # MLflow decodes a double-encoded body (older clients) again
        value = _loads(value)
    if not isinstance(value, dict):
        raise Refusal(400, "The request body must be a JSON object.")
    for name in EXPERIMENT_ID_NAMES:
        ids = value.get(name)
        check_experiment_ids(ids if isinstance(ids, list) else [ids])
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise Refusal(400, f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return first


# MLflow 3.18 takes OTLP/HTTP JSON too, and before protobuf's parser (which would refuse a value
# of the wrong type) converts the spans' and links' hex ids to base64 itself
# (otel_api._convert_otlp_json_ids_to_base64), walking the body as a well-formed export: a list
# that is null or a string, an item that is not an object, or an id that is not a string
# escaped as a TypeError or AttributeError, a 500.
_OTLP_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_NOT_OTLP = "Invalid OpenTelemetry format: "


def check_otlp_json(value):
    """Refuse an OTLP JSON body (as json.loads gives it, once) whose shape MLflow's id
    conversion would crash on; what it parses, MLflow judges."""
    if not isinstance(value, dict):
        raise Refusal(400, _NOT_OTLP + "the body must be a JSON object.")

    def objects(parent, key, empty_is_none=False):
        items = parent.get(key) if empty_is_none else parent.get(key, [])
        if empty_is_none and not items:  # MLflow reads links as `span.get("links") or []`
            return []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise Refusal(400, _NOT_OTLP + f"{key!r} must be a list of objects.")
        return items

    for resource_span in objects(value, "resourceSpans"):
        for scope_span in objects(resource_span, "scopeSpans"):
            for span in objects(scope_span, "spans"):
                for item in [span, *objects(span, "links", empty_is_none=True)]:
                    for field in _OTLP_ID_FIELDS:
                        given = item.get(field)
                        if given and not isinstance(given, str):
                            raise Refusal(400, _NOT_OTLP + f"{field!r} must be a hex string.")


def _loads(body):
    try:
        return json.loads(body)
    except RecursionError:
        raise Refusal(400, f"The request body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise Refusal(400, "The request body is not valid JSON.") from None


def reads_json(method: str, path: str, headers: dict) -> bool:
    media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if media_type.decode("latin-1") in _JSON_TYPES or media_type.endswith(b"+json"):
        return True
    return method not in ("POST", "PUT") and path.startswith(_JSON_PREFIXES)


# --- the middleware --------------------------------------------------------------------------


class Guard:
    """ASGI middleware: refuse bad input before `app` (MLflow's FastAPI app) sees it."""

    def __init__(self, app, max_body: int = None):
        self.app = app
        self.max_body = max_body or max_body_bytes()
        self.inflating_paths = {_add_static_prefix(OTLP_TRACES_PATH)}
        self.static_prefix = _add_static_prefix("/").rstrip("/")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scope = dict(scope, headers=without_folded_headers(scope["headers"]))
        try:
            check_target(scope.get("raw_path") or scope["path"].encode(),
                         scope.get("query_string", b""))
            receive = await self._checked_body(scope, receive)
        except Refusal as refusal:
            return await _answer(send, refusal)
        return await self.app(scope, receive, send)

    async def _checked_body(self, scope, receive):
        headers = {k.lower(): v for k, v in scope["headers"]}
        path = scope["path"]
        encoding = headers.get(b"content-encoding", b"").strip().lower().decode("latin-1")
        inflating = path.rstrip("/") in self.inflating_paths and encoding in ("gzip", "deflate")
        local = path.removeprefix(self.static_prefix) if self.static_prefix else path
        checking = reads_json(scope["method"], local, headers)
        if not (inflating or checking):
            return receive
        body = await _read(receive, self.max_body)
        if inflating:
            body = await anyio.to_thread.run_sync(inflate, body, encoding, self.max_body)
            scope["headers"] = [(k, v) for k, v in scope["headers"]
                                if k.lower() not in (b"content-encoding", b"content-length")]
            scope["headers"].append((b"content-length", str(len(body)).encode()))
        if checking and body.strip():
            otlp = path.rstrip("/") in self.inflating_paths
            check = (lambda b: check_otlp_json(check_json(b))) if otlp else check_json
            if len(body) > 256 * 1024:  # keep the event loop free for big bodies
                await anyio.to_thread.run_sync(check, body)
            else:
                check(body)
        return _replay(body, receive)


async def _read(receive, cap: int) -> bytes:
    chunks, total = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > cap:
            raise Refusal(413, f"The request body is larger than {cap} bytes ({MAX_BODY_ENV}).")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the client's disconnect, if it comes

    return replay


async def _answer(send, refusal: Refusal):
    body = refusal.body()
    await send({"type": "http.response.start", "status": refusal.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
