"""The sandbox gateway alone, against stand-in upstreams: identity headers, limits, failures."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from spec.edge import access_log_format, cross_site_body
from sandbox.gateway import Gateway

from tests.markers import needs

API_ARN = "arn:aws:execute-api:us-east-1:111111111111:lzsandbox1/prod"
# The UI always names the workspace: with caching on, API Gateway refuses a request that lacks
# one of the authorizer's identity sources.
GOOD = {"Authorization": "Bearer good", "X-MLFLOW-WORKSPACE": "team-a"}


class StubAuthorizer:
    """Allows everything for the token "good", as a user "alice" with level reader."""

    calls = 0

    def authorize(self, event):
        StubAuthorizer.calls += 1
        if event["headers"].get("Authorization") != "Bearer good":
            raise Exception("Unauthorized")
        return {"principalId": "alice", "context": {"username": "alice", "levels": "reader",
                                                    "workspace": "team-a"},
                "policyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "execute-api:Invoke",
                     "Resource": f"{API_ARN}/*/ajax-api/*"}]}}


def upstream(behaviour):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if behaviour == "slow":
                time.sleep(2)
            data = json.dumps({"headers": dict(self.headers.items()), "path": self.path,
                               "size": len(body),
                               "connection": self.client_address[1]}).encode()
            if behaviour == "huge":
                data = b"x" * (10 * 1024 * 1024 + 1)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if behaviour == "hang-up":  # closes each connection after one answer, unannounced
                self.close_connection = True

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def make_gateway(tmp_path, upstream_url, timeout=29.0, ttl=300):
    gateway = Gateway(port=0, upstream_url=upstream_url, api_arn=API_ARN,
                      account_id="111111111111", region="us-east-1",
                      authorizer=StubAuthorizer(), lookup_access_key=lambda key: None,
                      identity_policies=lambda arn: [], access_log_path=tmp_path / "access.log",
                      authorizer_ttl=ttl, integration_timeout=timeout)
    gateway.start()
    return gateway


@pytest.fixture()
@needs("server")  # the gateway and a stand-in upstream, on 127.0.0.1
def echo(tmp_path):
    server = upstream("echo")
    gateway = make_gateway(tmp_path, f"http://127.0.0.1:{server.server_port}")
    yield gateway
    gateway.stop()
    server.shutdown()


def test_identity_headers_come_from_the_authorizer_not_the_client(echo):
    response = requests.get(echo.url + "/ajax-api/2.0/mlflow/experiments/search",
                            headers={**GOOD, "X-MLflow-User": "admin",
                                     "x-mlflow-levels": "admin",
                                     "X-MLflow-Caller-Arn": "arn:aws:iam::1:role/admin"})
    assert response.status_code == 200
    seen = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert seen["x-mlflow-user"] == "alice" and seen["x-mlflow-levels"] == "reader"
    assert seen["x-mlflow-caller-arn"] == "-"  # the other channel's header: blanked
    assert seen["x-mlflow-workspace"] == "team-a"  # the one the authorizer judged
    assert seen["host"].startswith("127.0.0.1:")


def test_the_authorizer_result_is_cached_per_token(echo):
    before = StubAuthorizer.calls
    for path in ["/ajax-api/2.0/mlflow/runs/get", "/ajax-api/2.0/mlflow/experiments/get"] * 5:
        assert requests.get(echo.url + path, headers=GOOD).ok
    assert StubAuthorizer.calls - before == 1
    assert echo.stats["authorizer_cache_hits"] >= 9


def test_answers_and_messages_as_api_gateway_gives_them(echo):
    """API Gateway's own messages, in MLflow's error shape (the gateway responses of
    spec.edge), so MLflow's UI and client show them."""
    no_token = requests.get(echo.url + "/ajax-api/2.0/mlflow/runs/get")
    assert (no_token.status_code, no_token.json()) == (
        401, {"error_code": "UNAUTHENTICATED", "message": "Unauthorized"})
    bad = requests.get(echo.url + "/ajax-api/x", headers={"Authorization": "Bearer bad"})
    assert bad.status_code == 401
    outside = requests.get(echo.url + "/graphql", headers=GOOD)
    assert outside.status_code == 403
    refused = outside.json()
    assert refused["error_code"] == "PERMISSION_DENIED"
    # API Gateway's own wording stays in details; the message says who and whom to ask
    assert refused["details"]["gateway"] == "User is not authorized to access this resource"
    assert (refused["details"]["method"], refused["details"]["contact"]) == (
        "GET", "your MLflow platform team")
    assert refused["message"].startswith("Refused by the MLflow landing zone: this GET needs")
    unsigned = requests.get(echo.url + "/api/2.0/mlflow/runs/get")
    assert (unsigned.status_code, unsigned.json()) == (
        403, {"error_code": "UNAUTHENTICATED", "message": "Missing Authentication Token"})
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_payloads_over_10_mb_are_413(echo):
    response = requests.post(echo.url + "/ajax-api/2.0/mlflow/upload-artifact",
                             headers=GOOD,
                             data=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413
    ok = requests.post(echo.url + "/ajax-api/2.0/mlflow/upload-artifact",
                       headers=GOOD, data=b"x" * (10 * 1024 * 1024))
    assert ok.status_code == 200 and ok.json()["size"] == 10 * 1024 * 1024


@pytest.mark.server  # the gateway and a stand-in upstream
def test_a_slow_upstream_is_504(tmp_path):
    server = upstream("slow")
    gateway = make_gateway(tmp_path, f"http://127.0.0.1:{server.server_port}", timeout=0.5)
    try:
        response = requests.get(gateway.url + "/ajax-api/x", headers=GOOD)
        assert (response.status_code, response.json()) == (504, {"message": "Endpoint request timed out"})
    finally:
        gateway.stop()
        server.shutdown()


@pytest.mark.server  # the gateway and a stand-in upstream
def test_a_response_over_10_mb_is_502(tmp_path):
    server = upstream("huge")
    gateway = make_gateway(tmp_path, f"http://127.0.0.1:{server.server_port}")
    try:
        response = requests.get(gateway.url + "/ajax-api/x", headers=GOOD)
        assert response.status_code == 502
    finally:
        gateway.stop()
        server.shutdown()


@pytest.mark.server  # the gateway
def test_a_down_upstream_is_502_at_once(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = make_gateway(tmp_path, f"http://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        response = requests.get(gateway.url + "/ajax-api/x", headers=GOOD)
        assert (response.status_code, response.json()) == (502, {"message": "Internal server error"})
        assert time.monotonic() - started < 2
    finally:
        gateway.stop()


def test_the_upstream_connection_is_kept_for_the_next_request(echo):
    """One TCP connection to MLflow for many requests (a connect per request was a fifth of
    the gateway's time), each answered in full."""
    seen = [requests.get(echo.url + f"/ajax-api/x{i}", headers=GOOD).json() for i in range(5)]
    assert [x["path"] for x in seen] == [f"/ajax-api/x{i}" for i in range(5)]
    assert len({x["connection"] for x in seen}) == 1


@pytest.mark.server  # the gateway and a stand-in upstream
def test_a_connection_the_upstream_closed_is_not_reused(tmp_path):
    server = upstream("hang-up")
    gateway = make_gateway(tmp_path, f"http://127.0.0.1:{server.server_port}")
    try:
        answers = []
        for i in range(4):
            answers.append(requests.get(gateway.url + f"/ajax-api/x{i}", headers=GOOD))
            time.sleep(0.05)  # the upstream's close has arrived
        assert [r.status_code for r in answers] == [200] * 4
        assert len({r.json()["connection"] for r in answers}) == 4
    finally:
        gateway.stop()
        server.shutdown()


def test_answers_are_sent_without_nagles_algorithm(echo):
    """With it, an answer's body (http.server's second send) waited for the client's delayed
    ACK of its head: 40 ms on Linux, on every request (socketserver sets TCP_NODELAY on each
    connection when the handler asks)."""
    assert echo.server.RequestHandlerClass.disable_nagle_algorithm is True
    response = requests.get(echo.url + "/ajax-api/x", headers=GOOD)
    assert response.status_code == 200


def test_one_json_access_log_line_per_request_in_the_stage_format(echo, tmp_path):
    requests.get(echo.url + "/ajax-api/2.0/mlflow/runs/get", headers=GOOD)
    requests.get(echo.url + "/ajax-api/2.0/mlflow/runs/get")
    lines = [json.loads(x) for x in (tmp_path / "access.log").read_text().splitlines()]
    assert [(x["user"], x["status"]) for x in lines] == [("alice", 200), ("-", 401)]
    stage_fields = set(json.loads(access_log_format()))
    assert stage_fields <= set(lines[0])


UI = "http://127.0.0.1:8081"


@pytest.mark.parametrize("headers, rule", [
    ({"Sec-Fetch-Site": "cross-site"}, "OtherSiteRequest"),
    ({"Sec-Fetch-Site": "same-site"}, "OtherSiteRequest"),
    ({"Sec-Fetch-Site": "Cross-Site", "Origin": UI}, "OtherSiteRequest"),
    ({"Origin": "http://localhost:9000"}, "ForeignOrigin"),
    ({"Origin": "null"}, "ForeignOrigin"),
    ({"Origin": UI + ".evil.example"}, "ForeignOrigin"),
    ({"Origin": UI + "/"}, "ForeignOrigin"),
    ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost:9000"}, "ForeignOrigin"),
], ids=["cross-site", "same-site", "case", "foreign-origin", "null-origin", "suffix",
        "trailing-slash", "mixed"])
def test_a_request_another_site_started_is_refused_before_the_authorizer(echo, headers, rule):
    echo.ui_url = UI
    before = StubAuthorizer.calls
    for path in ("/ajax-api/2.0/mlflow/runs/get", "/api/2.0/mlflow/runs/get", "/graphql"):
        response = requests.post(echo.url + path, data=b"{}",
                                 headers={**GOOD, **headers})
        assert response.status_code == 403, path
        assert response.json() == cross_site_body(rule, UI)
    assert StubAuthorizer.calls == before  # refused before it, as WAF does


@pytest.mark.parametrize("headers", [
    {},  # an SDK: neither header
    {"Sec-Fetch-Site": "same-origin", "Origin": UI},  # the UI's own fetch
    {"Sec-Fetch-Site": "none"},  # typed into the address bar
    {"Sec-Fetch-Site": "same-origin"},  # a GET of the UI's (no Origin)
], ids=["sdk", "ui-post", "typed", "ui-get"])
def test_the_uis_own_requests_and_sdks_pass(echo, headers):
    echo.ui_url = UI
    response = requests.post(echo.url + "/ajax-api/2.0/mlflow/runs/get", data=b"{}",
                             headers={**GOOD, **headers})
    assert response.status_code == 200


def test_get_on_the_root_sends_a_browser_to_the_ui(echo, tmp_path):
    echo.ui_url = UI
    before = StubAuthorizer.calls
    # from anywhere: a link in a chat is a cross-site navigation
    for headers in ({}, {"Sec-Fetch-Site": "cross-site", "Accept": "text/html"}):
        response = requests.get(echo.url + "/", headers=headers, allow_redirects=False)
        assert (response.status_code, response.headers["Location"]) == (302, UI + "/")
    assert StubAuthorizer.calls == before
    # The root has no other method (API Gateway answers its "Missing Authentication Token").
    post = requests.post(echo.url + "/", headers=GOOD)
    assert (post.status_code, post.json()["message"]) == (403, "Missing Authentication Token")
    lines = [json.loads(x) for x in (tmp_path / "access.log").read_text().splitlines()]
    assert [x["status"] for x in lines[-3:]] == [302, 302, 403]


# --- workspaces: the edge decides, never the client ------------------------------------------


def test_the_workspace_and_identity_headers_a_client_sends_never_pass(echo):
    forged = [("X-MLFLOW-WORKSPACE", "team-a"), ("x-mlflow-workspace", "default"),
              ("X-Mlflow-Workspace", "team-b"), ("X-MLflow-Caller-Arn", "arn:aws:iam::1:role/x"),
              ("x-mlflow-user", "admin"), ("X-MLFLOW-LEVELS", "admin")]
    with socket.create_connection(("127.0.0.1", echo.port)) as s:
        lines = ["GET /ajax-api/2.0/mlflow/experiments/search HTTP/1.1",
                 f"Host: 127.0.0.1:{echo.port}", "Authorization: Bearer good",
                 *(f"{k}: {v}" for k, v in forged), "Connection: close", "", ""]
        s.sendall("\r\n".join(lines).encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])["headers"]
    workspace = [v for k, v in seen.items() if k.lower() == "x-mlflow-workspace"]
    assert workspace == ["team-a"]  # the authorizer's, once, whatever the client sent
    assert [v for k, v in seen.items() if k.lower() == "x-mlflow-user"] == ["alice"]
    assert [v for k, v in seen.items() if k.lower() == "x-mlflow-caller-arn"] == ["-"]


def test_without_a_workspace_the_authorizer_is_not_called_while_caching(echo):
    before = StubAuthorizer.calls
    for headers in ({"Authorization": "Bearer good"},
                    {"Authorization": "Bearer good", "X-MLFLOW-WORKSPACE": ""}):
        response = requests.get(echo.url + "/ajax-api/2.0/mlflow/runs/get", headers=headers)
        assert response.status_code == 401
    assert StubAuthorizer.calls == before


def test_the_authorizer_result_is_cached_per_token_and_workspace(echo):
    before = StubAuthorizer.calls
    for workspace in ("team-a", "team-b", "team-a", "team-b"):
        requests.get(echo.url + "/ajax-api/2.0/mlflow/runs/get",
                     headers={**GOOD, "X-MLFLOW-WORKSPACE": workspace})
    assert StubAuthorizer.calls - before == 2


def test_every_integration_sets_every_identity_header_and_the_workspace():
    from spec.edge import (
        FORWARDED_IDENTITY_HEADERS,
        NOT_THIS_CHANNEL,
        TEAM_ROUTE,
        edge_routes,
        integration_header_sources,
    )
    routes = edge_routes()
    # One SigV4 resource for every team: the workspace comes from the path, not the client.
    assert [r for r in routes if r.workspace] == [TEAM_ROUTE]
    assert TEAM_ROUTE.workspace == "method.request.path.workspace"
    sigv4 = {"identity.userArn": "arn:aws:sts::111111111111:assumed-role/r/s"}
    token = {"authorizer.username": "alice", "authorizer.levels": "reader",
             "authorizer.workspace": "team-b"}
    path = {"workspace": "team-a", "proxy": "api/2.0/mlflow/runs/get"}
    for route in routes:
        assert set(integration_header_sources(route)) == set(FORWARDED_IDENTITY_HEADERS)
        headers = Gateway.integration_headers(route, sigv4 if route.authorization == "AWS_IAM"
                                              else token, path)
        if route.authorization == "AWS_IAM":
            assert headers["X-MLflow-User"] == headers["X-MLflow-Levels"] == NOT_THIS_CHANNEL
            assert headers["X-MLFLOW-WORKSPACE"] == ("team-a" if route is TEAM_ROUTE
                                                     else "default")
            assert headers["X-MLflow-Caller-Arn"] == sigv4["identity.userArn"]
        else:
            assert headers["X-MLflow-Caller-Arn"] == NOT_THIS_CHANNEL
            assert headers["X-MLFLOW-WORKSPACE"] == "team-b"


def _signed_get(url, key, secret, token):
    """A GET signed with SigV4 for execute-api, as an SDK signs it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key, secret, token), "execute-api", "us-east-1").add_auth(request)
    return requests.get(url, headers=dict(request.headers.items()))


@pytest.mark.server  # the gateway and a stand-in upstream
def test_an_expired_session_is_refused_as_api_gateway_refuses_it(tmp_path):
    """A session past its Expiration: 403, API Gateway's EXPIRED_TOKEN, in MLflow's error
    shape (the words the SDK client refreshes on); the same key with another token is still an
    invalid one; a session that holds passes."""
    from sandbox.sigv4 import ExpiredToken

    role = "arn:aws:iam::111111111111:role/mlflow-team-a-reader"
    sessions = {"ASIAHOLDS": ("secret-1", "token-1"), "ASIAEXPIRED": ("secret-2", "token-2")}

    def lookup_access_key(key):
        if key not in sessions:
            return None
        secret, token = sessions[key]
        if key == "ASIAEXPIRED":
            raise ExpiredToken(token)
        return secret, token, role, f"{role}/session", "111111111111"

    server = upstream("echo")
    gateway = Gateway(port=0, upstream_url=f"http://127.0.0.1:{server.server_port}",
                      api_arn=API_ARN, account_id="111111111111", region="us-east-1",
                      authorizer=StubAuthorizer(), lookup_access_key=lookup_access_key,
                      identity_policies=lambda arn: [{"Version": "2012-10-17", "Statement": [
                          {"Effect": "Allow", "Action": "execute-api:Invoke",
                           "Resource": f"{API_ARN}/*"}]}],
                      access_log_path=tmp_path / "access.log")
    gateway.start()
    try:
        url = gateway.url + "/team-a/api/2.0/mlflow/experiments/search"
        assert _signed_get(url, "ASIAHOLDS", "secret-1", "token-1").status_code == 200
        expired = _signed_get(url, "ASIAEXPIRED", "secret-2", "token-2")
        assert (expired.status_code, expired.json()) == (403, {
            "error_code": "UNAUTHENTICATED",
            "message": "The security token included in the request is expired"})
        assert expired.headers["x-amzn-ErrorType"] == "ExpiredTokenException"
        other_token = _signed_get(url, "ASIAEXPIRED", "secret-2", "token-x")
        assert (other_token.status_code, other_token.json()["message"]) == (
            403, "The security token included in the request is invalid")
    finally:
        gateway.stop()
        server.shutdown()
