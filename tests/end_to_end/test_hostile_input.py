"""Bounded input, 4xx not 5xx (issue 23, part 4) and the hostile-input corpus (part 6).

Attacks found in the sandbox, each sent the way an attacker sends it: through the gateway on
both channels (SigV4 at the team's base URL, a Cognito token on the browser paths), or straight
to the tracking server where the point is what the server itself does with what API Gateway
passes on. The server's guard is `mlflow_landing_zone_server.guard` (ASGI, before MLflow) and
`mlflow_landing_zone_server.errors` (Flask, after MLflow's own handlers).
"""

import functools
import gzip
import json
import os
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from spec.edge import IDENTITY_HEADER_NAMES, WORKSPACE_HEADER
from roles import CATALOGUE

from tests.route_samples import sample_paths
from tests.sandbox_clients import assume_central, audit_lines, id_token
from tests.sandbox.test_sandbox_hostile import raw_request, signed

TEAM = "team-a"
IN_TEAM_A = {WORKSPACE_HEADER: TEAM}
BAD = "INVALID_PARAMETER_VALUE"
MISSING = "RESOURCE_DOES_NOT_EXIST"
CHANNELS = ("sigv4", "token")


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def callers(sandbox):
    """{(level, channel): send(method, path, body=b"", headers=None)}; `path` as MLflow knows
    it (the SigV4 channel puts the team's base path before it; the token channel names the
    workspace as MLflow's UI does, and uses /ajax-api where the SDK uses /api)."""
    out = {}
    for level in ("reader", "contributor", "admin"):
        creds = assume_central(sandbox, level)
        token = id_token(sandbox, f"{level}-user")

        def sigv4(method, path, body=b"", headers=None, creds=creds):
            full = f"/{TEAM}{path}"
            return raw_request(sandbox, method, full,
                               {**signed(sandbox, method, full, creds, body), **(headers or {})},
                               body=body)

        def browser(method, path, body=b"", headers=None, token=token):
            if path.startswith("/api/"):
                path = "/ajax-api/" + path.removeprefix("/api/")
            return raw_request(sandbox, method, path,
                               {"Authorization": f"Bearer {token}", **IN_TEAM_A,
                                **(headers or {})}, body=body)

        out[(level, "sigv4")], out[(level, "token")] = sigv4, browser
    return out


def error_of(response):
    """(status, MLflow error code) of an answer; the body must be MLflow's error shape."""
    body = json.loads(response.text)
    assert set(body) >= {"error_code", "message"}, response.text[:300]
    return response.status_code, body["error_code"]


JSON = {"Content-Type": "application/json"}


# --- 1. the OTLP bomb -------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _compress(encoding, size, chunk=1 << 20):
    """`size` zero bytes, compressed as a client would send them (without holding them)."""
    compressor = (zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS) if encoding == "gzip"
                  else zlib.compressobj(9))
    zeros, parts = bytes(chunk), []
    for _ in range(size // chunk):
        parts.append(compressor.compress(zeros))
    parts.append(compressor.compress(bytes(size % chunk)))
    parts.append(compressor.flush())
    return b"".join(parts)


def _worker_pids(mlflow_url):
    """The uvicorn processes serving `mlflow_url` (/proc; the server's workers are children of
    the uvicorn process that names the port)."""
    port = mlflow_url.rsplit(":", 1)[1]
    parents, roots = {}, []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if b"uvicorn" in cmdline and port.encode() in cmdline:
            roots.append(int(entry.name))
    pids = set(roots)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in pids} - pids
        pids |= more
        grew = bool(more)
    return pids


def _peak_rss_kb(pids):
    """{pid: the most resident memory it ever had (VmHWM), kB}."""
    out = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[pid] = int(line.split()[1])
        except OSError:
            pass
    return out


def _otlp_headers(sandbox, encoding):
    return {"Content-Type": "application/x-protobuf", "Content-Encoding": encoding,
            "X-Mlflow-Experiment-Id": sandbox["example"]["experiment_id"]}


def test_the_guards_cap_is_the_documented_default():
    from mlflow_landing_zone_server import guard

    assert (guard.MAX_BODY_ENV, guard.DEFAULT_MAX_BODY_BYTES) == (
        "MLFLOW_LZ_MAX_BODY_BYTES", 32 * 1024 * 1024)
    assert os.environ.get(guard.MAX_BODY_ENV) is None  # the sandbox runs with the default


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_an_otlp_bomb_is_413_and_the_worker_never_holds_it(sandbox, callers, channel, encoding):
    """1 GiB of zeros is about 1 MB compressed: under the edge's 10 MB. MLflow inflated all
    of it in one worker; the guard stops at the cap (32 MiB) and answers 413."""
    from mlflow_landing_zone_server.guard import DEFAULT_MAX_BODY_BYTES

    send = callers[("contributor", channel)]
    bomb = _compress(encoding, 1 << 30)
    assert len(bomb) < 10 * 1024 * 1024 // 4
    pids = _worker_pids(sandbox["mlflow_url"])
    assert len(pids) >= 2, pids  # uvicorn and its workers
    before = _peak_rss_kb(pids)
    response = send("POST", "/v1/traces", bomb, _otlp_headers(sandbox, encoding))
    assert error_of(response) == (413, BAD)
    assert json.loads(response.text)["message"] == (
        f"The request body inflates to more than {DEFAULT_MAX_BODY_BYTES} bytes "
        "(MLFLOW_LZ_MAX_BODY_BYTES); send smaller batches.")
    after = _peak_rss_kb(pids)
    grown = max(after[pid] - before.get(pid, after[pid]) for pid in after)
    assert grown < 256 * 1024, f"a worker's peak memory grew by {grown} kB"


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_otlp_body_just_past_the_cap_is_413_and_one_at_the_cap_reaches_mlflow(
        sandbox, callers, channel):
    from mlflow_landing_zone_server.guard import DEFAULT_MAX_BODY_BYTES

    send = callers[("contributor", channel)]
    past = send("POST", "/v1/traces", _compress("gzip", DEFAULT_MAX_BODY_BYTES + 1),
                _otlp_headers(sandbox, "gzip"))
    assert error_of(past) == (413, BAD)
    # exactly the cap: inflated, handed to MLflow, which finds no spans in zeros
    at = send("POST", "/v1/traces", _compress("gzip", DEFAULT_MAX_BODY_BYTES),
              _otlp_headers(sandbox, "gzip"))
    assert at.status_code == 400 and "Invalid OpenTelemetry format" in at.text, at.text[:300]


def _one_span_request(name):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = os.urandom(16), os.urandom(8), name
    span.start_time_unix_nano = time.time_ns() - 1_000_000
    span.end_time_unix_nano = time.time_ns()
    return request.SerializeToString()


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_a_real_compressed_otlp_export_still_logs_its_span(sandbox, callers, channel, encoding):
    body = _one_span_request(unique("guarded-span"))
    if encoding == "gzip":
        compressed = gzip.compress(body)
    elif encoding == "deflate":
        compressed = zlib.compress(body)
    else:  # raw DEFLATE, which MLflow also takes for "deflate"
        squeezer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        compressed = squeezer.compress(body) + squeezer.flush()
    response = callers[("contributor", channel)](
        "POST", "/v1/traces", compressed,
        _otlp_headers(sandbox, "gzip" if encoding == "gzip" else "deflate"))
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_corrupt_compressed_otlp_body_is_400(sandbox, callers, channel):
    response = callers[("contributor", channel)](
        "POST", "/v1/traces", b"\x1f\x8b\x08\x00 certainly not gzip",
        _otlp_headers(sandbox, "gzip"))
    assert error_of(response) == (400, BAD)


# --- 2. identity headers spelled with underscores ---------------------------------------------

SPOOFS = {"X_MLflow_User": "spoofed-ceo", "x_mlflow_caller_arn": "arn:aws:iam::1:role/spoofed",
          "X_MLFLOW_LEVELS": "admin", "X_MLFLOW_WORKSPACE": "team-b",
          "X-MLflow_User": "spoofed-mixed", "x-mlflow-user": "spoofed-dash"}





@pytest.mark.parametrize("channel", CHANNELS)
def test_identity_headers_in_any_spelling_never_reach_mlflow_through_the_gateway(
        sandbox, callers, channel):
    """An admin's delete is audit-logged with who called: only the gateway's own values."""
    send = callers[("admin", channel)]
    name = unique("spoofed-delete")
    body = json.dumps({"name": name}).encode()
    created = send("POST", "/api/2.0/mlflow/registered-models/create", body, JSON)
    assert created.status_code == 200, created.text[:300]
    deleted = send("DELETE", "/api/2.0/mlflow/registered-models/delete", body,
                   {**JSON, **SPOOFS})
    assert deleted.status_code == 200, deleted.text[:300]
    lines = audit_lines(sandbox, name)
    assert len(lines) == 1
    assert (lines[0]["audit"], lines[0]["workspace"]) == ("registered_model_deleted", TEAM)
    caller = lines[0]["caller"]
    if channel == "sigv4":
        assert caller["X-MLflow-Caller-Arn"].startswith(
            f"arn:aws:sts::{sandbox['central_account_id']}:assumed-role/mlflow-{TEAM}-admin/")
        assert (caller["X-MLflow-User"], caller["X-MLflow-Levels"]) == ("-", "-")
    else:
        assert caller == {"X-MLflow-Caller-Arn": "-", "X-MLflow-User": "admin-user",
                          "X-MLflow-Levels": "admin"}


def test_underscore_identity_headers_that_reach_the_server_are_dropped_there(sandbox):
    """Whatever API Gateway passes on (it is not documented to drop `_` names): the server
    keeps the integration's own header and drops every spelling that folds into it."""
    url, name = sandbox["mlflow_url"], unique("folded-delete")
    body = {"name": name}
    gateway_values = {"X-MLflow-Caller-Arn": "-", "X-MLflow-User": "gateway-user",
                      "X-MLflow-Levels": "admin", WORKSPACE_HEADER: TEAM}
    assert requests.post(f"{url}/api/2.0/mlflow/registered-models/create", json=body,
                         headers=IN_TEAM_A, timeout=30).status_code == 200
    response = requests.delete(f"{url}/api/2.0/mlflow/registered-models/delete", json=body,
                               headers={**gateway_values, **{k: v for k, v in SPOOFS.items()
                                                             if "_" in k}}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    lines = audit_lines(sandbox, name)
    assert [(line["workspace"], line["caller"]) for line in lines] == [
        (TEAM, {k: gateway_values[k] for k in IDENTITY_HEADER_NAMES})]


def test_the_gateway_forwards_no_spelling_of_an_identity_header():
    from sandbox.gateway import client_headers_to_forward

    sent = [("Content-Type", "application/json"), ("X-Custom_Thing", "kept"),
            *SPOOFS.items(), ("X-MLflow-Caller-Arn", "arn:spoofed"),
            ("x-mlflow-workspace", "default"), ("X-MLFLOW_Workspace", "default"),
            ("Connection", "keep-alive")]
    assert client_headers_to_forward(sent) == [("Content-Type", "application/json"),
                                               ("X-Custom_Thing", "kept")]


# --- 3. bad input: 400 or 404 in MLflow's shape, never 500 ----------------------------------

DEEP = b"[" * 5000 + b"]" * 5000
NOT_AN_OBJECT = {"list": b"[]", "deep-list": DEEP,
                 "deep-object": b'{"a":' * 5000 + b"1" + b"}" * 5000,
                 "just-too-deep": b'{"a":' * 101 + b"1" + b"}" * 101,
                 "double-encoded-list": b'"[]"', "double-encoded-garbage": b'"{nope"',
                 "number": b"12", "malformed": b'{"run_id": ', "not-utf8": b'{"run_id": "\xff"}',
                 "huge-integer": b'{"run_id": "x", "end_time": ' + b"9" * 5000 + b"}"}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("case", sorted(NOT_AN_OBJECT))
def test_runs_update_with_a_body_that_is_not_an_object_is_400(callers, channel, case):
    response = callers[("contributor", channel)](
        "POST", "/api/2.0/mlflow/runs/update", NOT_AN_OBJECT[case], JSON)
    assert error_of(response) == (400, BAD), response.text[:300]


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_patch_body_is_checked_whatever_its_content_type(sandbox, callers, channel):
    """MLflow reads a PATCH or DELETE body as JSON whatever Content-Type says."""
    response = callers[("contributor", channel)](
        "PATCH", "/api/2.0/mlflow/logged-models/m-1/tags", b"[1, 2]",
        {"Content-Type": "text/plain"})
    assert error_of(response) == (400, BAD), response.text[:300]


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_nesting_at_the_bound_is_still_mlflows_to_judge(callers, channel):
    # 100 levels (protobuf's own JSON limit) pass the guard; MLflow answers for the value
    body = b'{"run_id": "x", "a":' + b"[" * 99 + b"]" * 99 + b"}"
    response = callers[("contributor", channel)]("POST", "/api/2.0/mlflow/runs/update", body,
                                                 JSON)
    assert error_of(response) == (404, MISSING), response.text[:300]


@pytest.mark.parametrize("channel", CHANNELS)
def test_records_of_an_unknown_dataset_are_404(callers, channel):
    response = callers[("reader", channel)]("GET", "/api/3.0/mlflow/datasets/no-such-id/records")
    assert error_of(response) == (404, MISSING), response.text[:300]


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_experiment_id_that_is_not_an_integer_is_400(callers, channel):
    """MLflow's dataset search hands it to the store, whose int() failure became a 500."""
    send = callers[("reader", channel)]
    by_query = send("GET", "/api/3.0/mlflow/datasets/search?experiment_ids=abc")
    by_body = send("POST", "/api/3.0/mlflow/datasets/search", b'{"experiment_ids": ["abc"]}',
                   JSON)
    for response in (by_query, by_body):
        assert error_of(response) == (400, BAD), response.text[:300]
        assert json.loads(response.text)["message"] == (
            "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.")
    assert send("GET", "/api/3.0/mlflow/datasets/search?experiment_ids=1").status_code == 200


ARTIFACT_PATHS = {"bad-percent": ("%ZZ", 400), "truncated-utf8": ("%F0%9F%98", 400),
                  "raw-truncated-utf8": ("%F0%9F", 400), "long-name": ("a" * 300, 400),
                  "long-path": ("x/" * 600 + "x", 400), "missing-file": ("no-such-file", 404),
                  "missing-deep-file": ("model/no-such-file", 404)}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("case", sorted(ARTIFACT_PATHS))
def test_odd_long_or_missing_artifact_paths_are_4xx(sandbox, callers, channel, case):
    path, status = ARTIFACT_PATHS[case]
    run = sandbox["example"]["run_id"]
    response = callers[("reader", channel)]("GET", f"/get-artifact?path={path}&run_uuid={run}")
    assert error_of(response) == (status, BAD if status == 400 else MISSING), response.text[:300]
    # and the file that exists is still served
    ok = callers[("reader", channel)]("GET", f"/get-artifact?path=notes.txt&run_uuid={run}")
    assert ok.status_code == 200 and "Logged by the sandbox" in ok.text


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("path", ["/api/2.0/mlflow/runs/get?run_id=%ZZ",
                                  "/api/2.0/mlflow/runs/get?run_id=%C3",
                                  "/api/2.0/mlflow-artifacts/artifacts/%ZZ",
                                  "/api/2.0/mlflow/logged-models/" + "m" * 300])
def test_bad_percent_encoding_and_over_long_segments_in_the_url_are_400(callers, channel,
                                                                        path):
    response = callers[("reader", channel)]("GET", path)
    assert error_of(response) == (400, BAD), response.text[:300]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("batch", [0, 1, 100])
def test_a_graphql_batch_is_400(callers, channel, batch):
    body = json.dumps([{"query": "{ __typename }"}] * batch).encode()
    response = callers[("reader", channel)]("POST", "/graphql", body, JSON)
    assert error_of(response) == (400, BAD), response.text[:300]
    single = callers[("reader", channel)]("POST", "/graphql",
                                          b'{"query": "{ __typename }"}', JSON)
    assert single.status_code == 200 and json.loads(single.text) == {
        "data": {"__typename": "Query"}, "errors": None}


# --- 4. the last-resort handler: bad input is 400, real faults stay 5xx ----------------------


def test_the_last_resort_handler_tells_bad_input_from_faults():
    import errno

    import sqlalchemy.exc
    from botocore.exceptions import EndpointConnectionError
    from mlflow.exceptions import MlflowException

    from mlflow_landing_zone_server.errors import is_bad_input

    def raised(error, cause=None):
        try:
            try:
                if cause:
                    raise cause
            finally:
                raise error
        except Exception as e:  # noqa: BLE001
            return e

    assert all(is_bad_input(e) for e in (
        AttributeError("'list' object has no attribute 'get'"), TypeError("x"), KeyError("k"),
        IndexError(1), ValueError("x"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
        json.JSONDecodeError("x", "doc", 0), RecursionError("deep"), OverflowError("big"),
        OSError(errno.ENAMETOOLONG, "File name too long")))
    assert not any(is_bad_input(e) for e in (
        sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("database is locked")),
        EndpointConnectionError(endpoint_url="https://s3"), ConnectionError("refused"),
        OSError(errno.ENOSPC, "No space left on device"), MemoryError(), RuntimeError("bug"),
        MlflowException("x"),
        # a bad-input type raised while handling a fault is the fault
        raised(AttributeError("x"), sqlalchemy.exc.OperationalError("q", {}, Exception())),
        raised(ValueError("x"), ConnectionResetError("reset"))))


# --- 5. the hostile-input corpus: every catalogued route, no 5xx -----------------------------

BODIES = {
    "list": b"[]", "string": b'"x"', "double-encoded-list": b'"[]"', "number": b"1e999999",
    "huge-integer": b"9" * 5000, "deep-list": DEEP, "deep-object": NOT_AN_OBJECT["deep-object"],
    "malformed": b'{"name": ', "not-utf8": b'{"name": "\xff\xfe"}', "null": b"null",
    "wrong-types": json.dumps({
        "experiment_id": [], "experiment_ids": "1", "run_id": {}, "run_uuid": 1, "name": 7,
        "key": [], "value": {"x": 1}, "version": [1], "max_results": -99999999999999999999,
        "page_token": 12, "filter": {"a": 1}, "tags": "t", "metrics": 1, "params": {},
        "trace_id": [], "model_id": 1.5, "dataset_id": [], "alias": {}, "stage": 1,
        "timestamp": "yesterday", "step": 1e308, "query": [], "features": 1, "path": [],
        "endpoint_name": {}, "secret_id": [], "webhook_id": 1, "workspace_name": [],
    }).encode(),
}
# Path parameters: a percent-encoding that is not one, a 4-byte character cut short, a name
# longer than any file system's, and values MLflow should answer 404 for.
SEGMENTS = {"bad-percent": "%ZZ", "truncated-utf8": "%F0%9F%98", "long-name": "n" * 300,
            "missing": "no-such-thing", "dots": "..%2F..%2Fetc"}
QUERIES = {"bad-percent": "path=%ZZ&run_id=%ZZ", "truncated-utf8": "path=%F0%9F&name=%E2%82",
           "long-path": "path=" + "p/" * 700, "huge-numbers": "max_results=" + "9" * 400 +
           "&experiment_ids=-1e999&page_token=%00",
           "wrong-types": "run_id=[]&experiment_id={}&version=x&step=-1.5e308&path=.."}


def _corpus():
    """(method, path, body) for every catalogued route: hostile bodies where a body is read,
    hostile path parameters, hostile query strings."""
    out = []
    for route in CATALOGUE:
        plain = sample_paths(route.path, limit=1)[0]
        if "x1" in plain:
            out += [(route.method, plain.replace("x1", seg, 1), b"") for seg in SEGMENTS.values()]
        out += [(route.method, f"{plain}?{query}", b"") for query in QUERIES.values()]
        if route.method != "GET":
            out += [(route.method, plain, body) for body in BODIES.values()]
    return out


def test_the_corpus_covers_every_route_of_the_catalogue():
    covered = {(m, p) for m, p, _ in _corpus()}
    for route in CATALOGUE:
        plain = sample_paths(route.path, limit=1)[0]
        assert (route.method, f"{plain}?{QUERIES['bad-percent']}") in covered, route


def test_no_route_of_the_catalogue_answers_hostile_input_with_a_5xx(sandbox):
    """As the platform admin, straight to the tracking server (what the gateway forwards to it
    after authorization, without the authorization: faster, and the server is where a 5xx is
    made), in the team's workspace. Every answer must be below 500, or 501/503 that MLflow
    gives by design for what this deployment turns off (artifact serving, jobs, assistant)."""
    import http.client

    host, port = sandbox["mlflow_url"].removeprefix("http://").split(":")
    headers = {**IN_TEAM_A, "Content-Type": "application/json",
               "X-MLflow-Caller-Arn": "-", "X-MLflow-User": "platform-admin",
               "X-MLflow-Levels": "admin"}
    corpus = [c for c in _corpus() if not c[1].split("?")[0].endswith(_OUTBOUND)]

    def attack(chunk):
        failures = []
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        for method, path, body in chunk:
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                text = response.read()[:300]
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as e:
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
                failures.append((method, path[:120], body[:40], f"{type(e).__name__}: {e}"))
                continue
            if status >= 500 and not _by_design(status, text):
                failures.append((method, path[:120], body[:40], status, text[:200]))
        connection.close()
        return failures

    chunks = [corpus[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        failures = [f for found in pool.map(attack, chunks) for f in found]
    assert failures == [], f"{len(failures)} of {len(corpus)}:\n" + "\n".join(
        map(str, failures[:40]))


# MLflow's own answers for what the landing zone turns off: artifact serving (503,
# --no-serve-artifacts: bytes go to S3 directly), from its Flask and its FastAPI routes.
_BY_DESIGN = {503: (b"running with `--no-serve-artifacts`", b"Artifact serving is disabled.")}
# Routes whose answer waits on the internet whatever the input (the AI gateway's model list
# loads LiteLLM's catalogue; the sandbox has no egress, so they hang until the client gives up).
_OUTBOUND = ("/gateway/supported-models",)


def _by_design(status, text):
    return any(marker.lower() in text.lower() for marker in _BY_DESIGN.get(status, ()))
