"""The sandbox's AWS is not a door (issue 23, part 5): moto's own API is closed, no other web
origin may call the emulated AWS, no one resets a password or signs up without the platform
team, the files that hold secrets are their owner's alone, and a stalled client does not hold
a server thread."""

import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests

from sandbox import aws as emulated
from sandbox.credentials import CONFIG_NAME, write_aws_config
from sandbox.landing_zone import LandingZone
from sandbox.ui_server import UI_ADDRESS, UiServer, loopback_url

from .test_gateway import GOOD, make_gateway, upstream

EVIL = "https://evil.example"
TARGET = "AWSCognitoIdentityProviderService."


def secrets_of(sandbox) -> list:
    """Every password and secret key the state file holds."""
    found = [u["password"] for u in sandbox["cognito"]["users"]]
    found.append(sandbox["cognito"]["platform_admin"]["SecretAccessKey"])
    found += [r["credentials"]["SecretAccessKey"] for t in sandbox["teams"] for r in t["roles"]]
    return found


def cognito_call(url, operation, body, headers=None):
    """An unsigned Cognito call, as anyone who reaches the address can send it."""
    return requests.post(url, data=json.dumps(body), timeout=30, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation,
        **(headers or {})})


def user(sandbox, username):
    return next(u for u in sandbox["cognito"]["users"] if u["username"] == username)


def signs_in(sandbox, username, password) -> bool:
    response = cognito_call(sandbox["aws"]["endpoint_url"] + "/", "InitiateAuth", {
        "ClientId": sandbox["cognito"]["client_id"], "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": username, "PASSWORD": password}})
    if response.status_code == 200:
        return "IdToken" in response.json()["AuthenticationResult"]
    assert response.json()["__type"] == "NotAuthorizedException", response.text
    return False


def platform_admin(sandbox):
    keys = sandbox["cognito"]["platform_admin"]
    return boto3.client("cognito-idp", region_name=sandbox["aws"]["region"],
                        endpoint_url=sandbox["aws"]["endpoint_url"],
                        aws_access_key_id=keys["AccessKeyId"],
                        aws_secret_access_key=keys["SecretAccessKey"])


# --- a. moto's own API, and CORS -------------------------------------------------------------


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/moto-api/data.json", None),  # every secret key and password
    ("GET", "/moto-api/", None),  # the dashboard
    ("POST", "/moto-api/reset-auth", b"0"),  # "0" keeps enforcement on even where it answers
    ("GET", "/moto-api/reset", None),  # (a POST would wipe the session's sandbox if it answered)
    ("GET", "/%6Doto-api/data.json", None),
    ("GET", "/moto-api/recorder/download-recording", None),
], ids=["data.json", "dashboard", "reset-auth", "reset", "encoded", "recorder"])
def test_motos_own_api_is_not_reachable_over_http(sandbox, method, path, body):
    response = requests.request(method, sandbox["aws"]["endpoint_url"] + path, data=body,
                                headers={"Origin": EVIL}, timeout=30, allow_redirects=False)
    assert (response.status_code, response.text) == (404, "Not Found")
    assert "Access-Control-Allow-Origin" not in response.headers
    for secret in secrets_of(sandbox):
        assert secret not in response.text


def test_the_emulated_aws_answers_no_other_origin_with_cors(sandbox):
    aws = sandbox["aws"]["endpoint_url"]
    client_id = sandbox["cognito"]["client_id"]
    preflight = requests.options(aws + "/", timeout=30, headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target"})
    sign_in = cognito_call(aws + "/", "InitiateAuth", {
        "ClientId": client_id, "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "reader-user", "PASSWORD": "wrong-Password-1!"}},
        headers={"Origin": EVIL})
    assert sign_in.json()["__type"] == "NotAuthorizedException"
    jwks = requests.get(f"{aws}/{sandbox['cognito']['user_pool_id']}/.well-known/jwks.json",
                        headers={"Origin": EVIL}, timeout=30)
    assert jwks.status_code == 200 and jwks.json()["keys"]
    bucket = requests.get(f"{aws}/{emulated.BUCKET}", headers={"Origin": EVIL}, timeout=30)
    for response in (preflight, sign_in, jwks, bucket):
        cors = {k for k in response.headers if k.lower().startswith("access-control-")}
        assert cors == set(), response.request.method + " " + response.request.url
    # The UI's own sign-in needs none: the browser calls Cognito on the UI's origin.
    ui = cognito_call(loopback_url(sandbox["ui_url"]) + "/cognito/", "InitiateAuth", {
        "ClientId": client_id, "AuthFlow": "USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "reader-user",
                           "PASSWORD": user(sandbox, "reader-user")["password"]}},
        headers={"Origin": sandbox["ui_url"]})
    assert ui.status_code == 200 and ui.json()["AuthenticationResult"]["IdToken"]


@pytest.mark.slow  # a fresh interpreter imports the sandbox
def test_only_install_closes_motos_api_and_cors_and_check_moto_watches_both():
    """The mends follow emulation.py's rule: importing changes nothing in moto; install does;
    a moto whose dispatcher changes shape is named."""
    probe = """
import moto.moto_server.werkzeug_app as app
original = app.DomainDispatcherApplication.__call__
import sandbox.aws, sandbox.emulation as emulation, sandbox.landing_zone
assert app.DomainDispatcherApplication.__call__ is original and not app.DISABLE_GLOBAL_CORS
emulation.install("111111111111")
assert app.DomainDispatcherApplication.__call__.__wrapped_by_sandbox__ is original
assert app.DISABLE_GLOBAL_CORS is True
def problems():  # (after install, other mends' replacements are named too)
    try:
        emulation.check_moto()
    except emulation.MotoChanged as e:
        return str(e)
    return ""
assert "werkzeug_app" not in problems(), problems()
app.DomainDispatcherApplication.__call__.__wrapped_by_sandbox__ = lambda self, environ: None
assert "DomainDispatcherApplication.__call__ is now (self, environ)," in problems(), problems()
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert run.stdout.strip() == "ok", run.stderr


# --- b. no password reset, no sign-up from outside ---------------------------------------------


@pytest.mark.parametrize("channel", ["aws", "ui"])
def test_a_password_reset_with_a_made_up_code_changes_nothing(sandbox, channel):
    url = (sandbox["aws"]["endpoint_url"] + "/" if channel == "aws"
           else loopback_url(sandbox["ui_url"]) + "/cognito/")
    victim = user(sandbox, "no-group-user")
    new = "Zz-made-up-reset-1!"
    try:
        forgot = cognito_call(url, "ForgotPassword", {
            "ClientId": sandbox["cognito"]["client_id"], "Username": victim["username"]})
        assert not forgot.ok
        assert "x-moto-forgot-password-confirmation-code" not in forgot.headers
        reset = cognito_call(url, "ConfirmForgotPassword", {
            "ClientId": sandbox["cognito"]["client_id"], "Username": victim["username"],
            "Password": new, "ConfirmationCode": "000000"})
        assert not reset.ok
        assert signs_in(sandbox, victim["username"], victim["password"])
        assert not signs_in(sandbox, victim["username"], new)
    finally:  # should it ever pass, the session's other tests keep their user
        if signs_in(sandbox, victim["username"], new):
            platform_admin(sandbox).admin_set_user_password(
                UserPoolId=sandbox["cognito"]["user_pool_id"], Username=victim["username"],
                Password=victim["password"], Permanent=True)


@pytest.mark.parametrize("channel", ["aws", "ui"])
def test_no_one_signs_up_or_confirms_a_user_without_the_platform_team(sandbox, channel):
    """The pool lets only administrators create users (AllowAdminCreateUserOnly)."""
    url = (sandbox["aws"]["endpoint_url"] + "/" if channel == "aws"
           else loopback_url(sandbox["ui_url"]) + "/cognito/")
    pool, client_id = sandbox["cognito"]["user_pool_id"], sandbox["cognito"]["client_id"]
    admin = platform_admin(sandbox)
    mallory = f"mallory-{channel}-{time.time_ns()}"
    new_user = user(sandbox, "new-user")  # still on the administrator's temporary password
    try:
        sign_up = cognito_call(url, "SignUp", {"ClientId": client_id, "Username": mallory,
                                               "Password": "Zz-mallorys-own-1!"})
        assert not sign_up.ok
        with pytest.raises(admin.exceptions.UserNotFoundException):
            admin.admin_get_user(UserPoolId=pool, Username=mallory)
        confirm = cognito_call(url, "ConfirmSignUp", {"ClientId": client_id,
                                                      "Username": new_user["username"],
                                                      "ConfirmationCode": "000000"})
        assert not confirm.ok
        assert admin.admin_get_user(UserPoolId=pool, Username=new_user["username"])[
            "UserStatus"] == "FORCE_CHANGE_PASSWORD"
    finally:  # should it ever pass, the session's other tests keep their user
        if admin.admin_get_user(UserPoolId=pool, Username=new_user["username"])[
                "UserStatus"] != "FORCE_CHANGE_PASSWORD":
            admin.admin_set_user_password(UserPoolId=pool, Username=new_user["username"],
                                          Password=new_user["password"], Permanent=False)


# --- c. the files that hold secrets ------------------------------------------------------------


def test_the_running_sandboxs_state_file_and_aws_config_are_its_owners_alone(sandbox):
    state_file = Path(sandbox["_state_file"])
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((state_file.parent / CONFIG_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(state_file.parent.stat().st_mode) & 0o077 == 0


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the common default, which makes a new file world-readable
    yield
    os.umask(old)


def test_secret_files_are_never_readable_by_others_not_even_while_written(
        tmp_path, monkeypatch, umask_022):
    state_file = tmp_path / "sandbox.json"
    config = tmp_path / CONFIG_NAME
    config.write_text("an earlier start's, world-readable")
    config.chmod(0o644)
    modes_when_named = []
    real_replace = os.replace

    def replace(source, target):  # the file as it is the moment it gets its name
        modes_when_named.append((Path(target).name, stat.S_IMODE(os.stat(source).st_mode)))
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    state = {"aws": {"endpoint_url": "http://127.0.0.1:1", "region": "us-east-1"},
             "teams": [{"name": "team-a", "roles": [{"level": "reader"}]}]}
    write_aws_config(state, state_file)
    zone = LandingZone(state_file)
    monkeypatch.setattr(zone, "state", lambda: {**state, "cognito": {"users": []}})
    zone.write_state()
    assert modes_when_named == [(CONFIG_NAME, 0o600), ("sandbox.json", 0o600),
                                (CONFIG_NAME, 0o600)]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_NAME, "sandbox.json"]


@pytest.mark.parametrize("existing", [False, True], ids=["new", "left-open-by-an-earlier-start"])
def test_the_state_directory_is_its_owners_alone(tmp_path, monkeypatch, umask_022, existing):
    state_dir = tmp_path / "state"
    if existing:
        state_dir.mkdir(mode=0o755)
        state_dir.chmod(0o755)

    def no_aws(*args, **kwargs):  # the start stops here: the directory is made before
        raise RuntimeError("no emulated AWS in this test")

    monkeypatch.setattr(emulated, "start_aws", no_aws)
    with pytest.raises(RuntimeError, match="no emulated AWS"):
        LandingZone(state_dir / "sandbox.json", port=0, ui_port=0).start(progress=lambda m: None)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


# --- d. a stalled client ----------------------------------------------------------------------


def send_and_wait(port, request: bytes, host="127.0.0.1", limit=6.0):
    """Send `request`, then read until the server closes: (answer, seconds until closed)."""
    started = time.monotonic()
    with socket.create_connection((host, port)) as s:
        s.settimeout(limit)
        s.sendall(request)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except socket.timeout:
            pytest.fail(f"still open after {limit} s; answered {answer[:80]!r}")
    return answer, time.monotonic() - started


def a_lying_post(path, port, extra=""):
    """Content-Length 100, and then 10 bytes."""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\": 123}}"
            ).encode()


@pytest.mark.server  # the gateway and a stand-in upstream
def test_a_stalled_request_to_the_gateway_is_answered_408_and_closed(tmp_path):
    server = upstream("echo")
    gateway = make_gateway(tmp_path, f"http://127.0.0.1:{server.server_port}")
    gateway.read_timeout = 1.0
    try:
        headers = "".join(f"{k}: {v}\r\n" for k, v in GOOD.items())
        served_meanwhile = []
        other = threading.Thread(target=lambda: served_meanwhile.append(requests.get(
            gateway.url + "/ajax-api/2.0/mlflow/runs/get", headers=GOOD, timeout=5).status_code))
        other.start()
        answer, seconds = send_and_wait(gateway.port, a_lying_post(
            "/ajax-api/2.0/mlflow/runs/create", gateway.port, headers))
        other.join()
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"\r\nConnection: close\r\n" in answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"message": "Request Timeout"}
        assert 0.9 < seconds < 4
        assert served_meanwhile == [200]
        # a connection that sends nothing at all is closed too
        idle, seconds = send_and_wait(gateway.port, b"")
        assert idle == b"" and 0.9 < seconds < 4
        after = requests.get(gateway.url + "/ajax-api/2.0/mlflow/runs/get", headers=GOOD,
                             timeout=5)
        assert after.status_code == 200
        log = [json.loads(x) for x in (tmp_path / "access.log").read_text().splitlines()]
        assert sorted(x["status"] for x in log) == [200, 200, 408]
    finally:
        gateway.stop()
        server.shutdown()


@pytest.mark.server  # the UI server
def test_a_stalled_request_to_the_ui_host_is_closed(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "index.html").write_text("<!doctype html>")
    ui = UiServer(bundle_dir=bundle, gateway_url="http://127.0.0.1:9", config={"a": 1},
                  cognito_url="http://127.0.0.1:9", cognito_origin="http://127.0.0.1:9",
                  revoke_token=lambda client_id, token: True)
    ui.read_timeout = 1.0
    ui.start()
    try:
        for path, extra in (("/cognito/", f"X-Amz-Target: {TARGET}RevokeToken\r\n"),
                            ("/ajax-api/2.0/mlflow/runs/create", "")):
            served_meanwhile = []
            other = threading.Thread(target=lambda: served_meanwhile.append(
                requests.get(loopback_url(ui.url) + "/config.json", timeout=5).json()))
            other.start()
            answer, seconds = send_and_wait(ui.port, a_lying_post(path, ui.port, extra),
                                            host=UI_ADDRESS)
            other.join()
            assert answer == b"", path  # nothing was forwarded or answered
            assert 0.9 < seconds < 4
            assert served_meanwhile == [{"a": 1}]
        idle, seconds = send_and_wait(ui.port, b"", host=UI_ADDRESS)
        assert idle == b"" and 0.9 < seconds < 4
        assert requests.get(loopback_url(ui.url) + "/config.json", timeout=5).json() == {"a": 1}
    finally:
        ui.stop()


def test_a_ui_host_that_cannot_listen_says_what_to_do(tmp_path, monkeypatch, capsys):
    """The UI's host listens on 127.0.0.1, which every machine has. Where it cannot (the
    loopback interface down), the start fails at once and names the fix, not another port."""
    from sandbox import __main__ as cli
    from sandbox import ui_server

    monkeypatch.setattr(ui_server, "UI_ADDRESS", "192.0.2.1")  # TEST-NET-1: no machine's own
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # pytest keeps its Ctrl-C
    started = time.monotonic()
    assert cli.main(["--port", "0", "--ui-port", "8081",
                     "--state-file", str(tmp_path / "sandbox.json")]) == 1
    assert time.monotonic() - started < 10  # before MLflow or emulated AWS started
    error = capsys.readouterr().err
    assert error.startswith("sandbox: could not start: the UI's host cannot listen on "
                            "192.0.2.1 (")
    assert "Another port would not help" in error
    assert "`sudo ip link set lo up`" in error and "`sudo ifconfig lo0 up`" in error
    assert "--ui-port 0" not in error and "in use?" not in error
    # The server itself, asked to listen there, says the same.
    with pytest.raises(ui_server.UiHostUnavailable, match="cannot listen on 192.0.2.1 .*lo up"):
        UiServer(bundle_dir=tmp_path, gateway_url="http://127.0.0.1:9", config={},
                 cognito_url="http://127.0.0.1:9", cognito_origin="http://127.0.0.1:9")


def test_the_ui_is_addressed_by_a_name_mlflow_does_not_exempt():
    """Browsers resolve `*.localhost` to loopback; MLflow exempts only localhost, 127.0.0.1 and
    [::1] from its CORS check, so the UI's origin is judged as the Amplify domain is on AWS."""
    from mlflow.server.security_utils import is_localhost_origin

    from sandbox.ui_server import UI_HOST

    assert UI_HOST.endswith(".localhost")
    assert not is_localhost_origin(f"http://{UI_HOST}:8081")
    assert is_localhost_origin(f"http://{UI_ADDRESS}:8081")  # why it is not the address
    assert loopback_url(f"http://{UI_HOST}:8081/cognito/") == f"http://{UI_ADDRESS}:8081/cognito/"


@pytest.mark.server  # the gateway and a stand-in upstream
def test_the_servers_read_timeout_is_bounded_by_default(tmp_path):
    from sandbox.local_server import READ_TIMEOUT_SECONDS

    server = upstream("echo")
    gateway = make_gateway(tmp_path, f"http://127.0.0.1:{server.server_port}")
    try:
        assert gateway.read_timeout == READ_TIMEOUT_SECONDS == 30
    finally:
        gateway.stop()
        server.shutdown()


def test_a_folder_of_the_users_keeps_its_mode(tmp_path, monkeypatch, umask_022):
    """`--state-file ./sandbox.json` in a project folder: the sandbox's files are 0600, the
    folder (which holds the user's other files) is not the sandbox's to close."""
    folder = tmp_path / "project"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "notes.md").write_text("the user's own file")

    def no_aws(*args, **kwargs):
        raise RuntimeError("no emulated AWS in this test")

    monkeypatch.setattr(emulated, "start_aws", no_aws)
    with pytest.raises(RuntimeError, match="no emulated AWS"):
        LandingZone(folder / "sandbox.json", port=0, ui_port=0).start(progress=lambda m: None)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
