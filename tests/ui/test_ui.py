"""The UI bundle (ui/build.py), what serves it (ui/hosting.py), and the sandbox's UI server."""

import http.client
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from authorizer.build import zip_bytes
from roles.catalogue import CATALOGUE
from sandbox.ui_server import loopback_url
from ui import build as ui_build
from ui import hosting

from tests.markers import needs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
@needs("node")  # npm ci, the first time
def bundle(tmp_path_factory):
    return ui_build.build(tmp_path_factory.mktemp("ui") / "bundle", progress=lambda m: None)


def test_the_bundle_carries_mlflows_ui_byte_for_byte(bundle):
    dist = metadata.distribution("mlflow")
    prefix = "mlflow/server/js/build/"
    shipped = [f for f in dist.files if str(f).startswith(prefix)]
    assert len(shipped) > 100
    for file in shipped:
        copied = bundle.path / "static-files" / str(file)[len(prefix):]
        assert copied.read_bytes() == Path(dist.locate_file(file)).read_bytes(), file
    # MLflow's own page, unchanged, at the root so its relative URLs resolve as under
    # `mlflow server`.
    assert (bundle.path / "mlflow.html").read_bytes() == (
        bundle.path / "static-files" / "index.html").read_bytes()
    assert bundle.mlflow_version == ui_build.pinned_mlflow_version()


def test_the_bundle_has_the_shell_and_a_manifest_of_everything(bundle):
    files = ui_build.read_bundle(bundle.path)
    for name in ("index.html", "sw.js", "shell/shell.js", "shell/session.js",
                 "shell/shell.css", "shell/amazon-cognito-identity.min.js"):
        assert files[name], name
    assert "config.json" not in files  # deploy-time, not build-time
    manifest = json.loads(files.pop("bundle-manifest.json"))
    assert manifest["mlflow_version"] == ui_build.pinned_mlflow_version()
    assert set(manifest["files"]) == set(files)
    assert bundle.files == len(files) + 1
    assert bundle.bytes == sum(len(d) for d in files.values()) + len(
        (bundle.path / "bundle-manifest.json").read_bytes())
    # Every file the bundle has is one the UI origin serves itself, never forwards.
    for name in files:
        path = "/" + name
        assert hosting.is_bundle_path(path) and hosting.api_route(path) is None, path


def test_a_build_is_reproducible_and_repairs_what_was_changed(bundle, tmp_path):
    again = ui_build.build(bundle.path, progress=lambda m: None)
    assert again.digest == bundle.digest
    shell = bundle.path / "shell" / "shell.js"
    original = shell.read_bytes()
    shell.write_bytes(original.replace(b"Sign out", b"Sign 0ut"))  # same size, other bytes
    (bundle.path / "stray.js").write_text("alert(1)")
    ui_build.build(bundle.path, progress=lambda m: None)
    assert shell.read_bytes() == original and not (bundle.path / "stray.js").exists()
    files = ui_build.read_bundle(bundle.path)
    assert zip_bytes(files) == zip_bytes(ui_build.read_bundle(bundle.path))  # what deploys
    assert not bundle.path.with_name(bundle.path.name + ".partial").exists()


@pytest.mark.node  # python -m ui.build: npm ci, the first time
def test_the_build_command_reports_the_size(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ui.build", "--out", str(tmp_path / "ui")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"UI bundle {tmp_path / 'ui'}: ")
    assert f" MB (MLflow {ui_build.pinned_mlflow_version()} UI " in result.stdout
    assert "sign-in shell" in result.stdout


def test_a_requirements_file_without_the_pin_is_a_clear_error(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pulumi>=3\n")
    with pytest.raises(ui_build.BuildError, match="pins no mlflow version"):
        ui_build.pinned_mlflow_version(requirements)


def test_every_browser_route_of_mlflow_is_forwarded_or_served_and_no_sdk_route_is():
    for route in CATALOGUE:
        path = route.path.split("{")[0]  # the fixed part of the template
        forwarded = hosting.api_route(path if not path.endswith("/") else path + "x")
        if route.path == "/api" or route.path.startswith("/api/"):
            assert forwarded is None, route  # SigV4 only: no browser has a use for it
        elif route.path == "/" or route.path.startswith("/static-files/"):
            assert forwarded is None and hosting.is_bundle_path(path), route
        else:
            assert forwarded is not None, route
    assert [r.source for r in hosting.API_ROUTES] == [
        "/ajax-api/<*>", "/build/<*>", "/gateway/<*>", "/get-artifact", "/graphql", "/health",
        "/model-versions/get-artifact", "/v1/traces", "/version"]


def test_the_rewrites_send_each_api_path_to_the_same_path_on_the_stage():
    rules = hosting.rewrite_rules("https://abc1234567.execute-api.eu-west-1.amazonaws.com/prod/")
    assert rules[0] == {
        "source": "/ajax-api/<*>",
        "target": "https://abc1234567.execute-api.eu-west-1.amazonaws.com/prod/ajax-api/<*>",
        "status": "200"}
    assert {"source": "/get-artifact", "status": "200",
            "target": "https://abc1234567.execute-api.eu-west-1.amazonaws.com/prod/get-artifact",
            } in rules
    assert len(rules) == len(hosting.API_ROUTES)


def test_the_security_headers():
    studio = "https://d-abc123xyz.studio.eu-west-1.sagemaker.aws"
    headers = hosting.security_headers(hosting.cognito_origin("eu-west-1"), [studio])
    assert headers["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; "
        "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com; "
        "worker-src 'self' blob:; frame-src 'self' blob:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; "
        f"frame-ancestors 'self' {studio}")
    assert headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"  # the worker judges navigations by it
    assert "X-Frame-Options" not in headers  # frame-ancestors decides, Studio may frame
    assert hosting.headers_for("/sw.js", "x")["Cache-Control"] == "no-cache"
    assert "Cache-Control" not in hosting.headers_for("/static-files/static/js/main.js", "x")
    with pytest.raises(ValueError, match="not a SageMaker Studio origin"):
        hosting.frame_ancestors(["https://evil.example.com"])


def test_the_amplify_headers_document_gives_the_same_headers():
    document = json.loads(hosting.amplify_custom_headers("https://c.example", ()))
    every = next(r for r in document["customHeaders"] if r["pattern"] == "**")
    assert {h["key"]: h["value"] for h in every["headers"]} == hosting.security_headers(
        "https://c.example")
    for path in hosting.NO_CACHE:
        rule = next(r for r in document["customHeaders"] if r["pattern"] == path)
        assert rule["headers"] == [{"key": "Cache-Control", "value": "no-cache"}]


def test_the_shell_config():
    config = hosting.shell_config(region="eu-west-1", user_pool_id="eu-west-1_abc",
                                  client_id="client", group_levels={"readers": "reader"},
                                  refresh_margin=150.0)
    assert config["authFlow"] == "USER_SRP_AUTH"
    assert config["refreshMarginSeconds"] == 150.0
    assert config["cognitoEndpoint"] == "https://cognito-idp.eu-west-1.amazonaws.com/"
    assert config["apiRoutes"][0] == {"path": "/ajax-api/", "prefix": True}
    with pytest.raises(ValueError, match="auth_flow"):
        hosting.shell_config(region="r", user_pool_id="p", client_id="c", group_levels={},
                             refresh_margin=150.0, auth_flow="CUSTOM_AUTH")


# --- the sandbox's UI server ----------------------------------------------------------------


def test_the_readme_shows_screenshots_the_browser_tests_take():
    readme = (ROOT / "README.md").read_text()
    scenarios = (ROOT / "tests" / "ui" / "test_browser.py").read_text()
    for name in ("sign-in", "mlflow-ui"):
        assert f"](docs/screenshots/{name}.png)" in readme
        assert (ROOT / "docs" / "screenshots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'session.screenshot("{name}")' in scenarios


def test_the_sandbox_serves_the_bundle_with_the_headers(sandbox):
    ui = loopback_url(sandbox["ui_url"])  # Python may not resolve *.localhost itself
    page = requests.get(ui + "/")
    assert page.status_code == 200 and "Sign in to MLflow" in page.text
    expected = hosting.headers_for("/", sandbox["aws"]["endpoint_url"])
    assert {k: page.headers[k] for k in expected} == expected
    config = requests.get(ui + "/config.json").json()
    assert config["authFlow"] == "USER_PASSWORD_AUTH"  # moto checks no SRP proof
    assert config["cognitoEndpoint"] == sandbox["ui_url"] + "/cognito/"
    assert config["clientId"] == sandbox["cognito"]["client_id"]
    bundle_dir = Path(sandbox["_state_file"]).parent / "ui"
    script = requests.get(ui + "/static-files/static/js/" + next(
        p.name for p in (bundle_dir / "static-files" / "static" / "js").glob("main.*.js")))
    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript"


def raw_get(url, path):
    """GET with the path exactly as written (requests would remove dot segments first)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_sandbox_forwards_only_api_paths(sandbox):
    ui = loopback_url(sandbox["ui_url"])
    # An API path reaches the gateway, whose authorizer wants a token.
    response = requests.get(ui + "/ajax-api/2.0/mlflow/experiments/search?max_results=1")
    assert response.status_code == 401 and response.json()["error_code"] == "UNAUTHENTICATED"
    # The SigV4 half of the API is not the browser's: not forwarded.
    assert requests.get(ui + "/api/2.0/mlflow/experiments/search").status_code == 404
    assert requests.post(ui + "/index.html").status_code == 405
    assert raw_get(ui, "/static-files/../../../etc/passwd") == 404
    assert raw_get(ui, "/static-files/%2e%2e/%2e%2e/sandbox.json") == 404
    # The Cognito passage takes Cognito's JSON API and nothing else.
    assert requests.post(ui + "/cognito/", headers={
        "X-Amz-Target": "AmazonS3.ListBuckets"}).status_code == 404
    assert requests.get(ui + "/cognito/").status_code == 404


@pytest.mark.node  # the bundle: npm ci, the first time
def test_the_deploy_zip_is_the_bundle_without_its_config(tmp_path):
    """What `pulumi up` uploads (components.builds, before any component): the bundle, built
    once per content, zipped without config.json (written at deploy time)."""
    import hashlib
    import zipfile

    from components.builds import ui_bundle_zip

    path, digest = ui_bundle_zip(tmp_path / "ui", progress=lambda m: None)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    names = zipfile.ZipFile(path).namelist()
    assert {"index.html", "sw.js", "mlflow.html", "static-files/index.html"} <= set(names)
    assert "config.json" not in names
    assert ui_bundle_zip(tmp_path / "ui", progress=lambda m: None) == (path, digest)  # reused


@pytest.mark.node  # runs a program named npm (a stand-in here, not Node's)
def test_two_starts_together_run_npm_ci_once(tmp_path, monkeypatch):
    """Two sandboxes (or two test workers) on a fresh checkout: one `npm ci`, the other waits
    for it and reads the library it installed, rather than both emptying node_modules."""
    import os
    import threading

    ui_dir, bin_dir = tmp_path / "ui", tmp_path / "bin"
    ui_dir.mkdir()
    bin_dir.mkdir()
    runs = tmp_path / "npm-runs"
    library = ui_dir / ui_build.COGNITO_JS
    npm = bin_dir / "npm"
    npm.write_text(f"""#!{sys.executable}
import pathlib, time
with open({str(runs)!r}, "a") as f:
    f.write("ci\\n")
time.sleep(1)
library = pathlib.Path({str(library)!r})
library.parent.mkdir(parents=True, exist_ok=True)
library.write_text("// the library")
""")
    npm.chmod(0o755)
    monkeypatch.setattr(ui_build, "UI_DIR", ui_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    found, errors = [], []

    def start():
        try:
            found.append(ui_build.ensure_node_modules(progress=lambda m: None))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert found == [library, library] and library.read_text() == "// the library"
    assert runs.read_text() == "ci\n"
