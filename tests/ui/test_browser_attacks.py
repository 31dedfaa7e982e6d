"""The browser path under attack, in Debian's headless Chromium against the browser tests'
sandbox: another site tries to act as the signed-in user (cross-site request forgery), a script
in MLflow's page looks for the long-lived credential, a copied token outlives its session.
Also: the address MLflow's client prints opens the UI on that run.
"""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests

from sandbox import example

from tests.browser import log_lines, mlflow_api, run_route
from tests.sandbox_clients import assume_central, identity

EVIL_FILE = "model/code/evil.py"


@pytest.fixture(scope="module")
def other_site():
    """A page of another site: http://localhost:PORT while the UI is http://ui.localhost:PORT
    (another host, so another site to the browser). It serves whatever HTML it is given."""
    pages = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = pages.get(self.path, "<!doctype html><title>other</title>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_port}", pages
    server.shutdown()


def form(action, enctype, fields):
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    return (f'<!doctype html><form id="f" method="POST" enctype="{enctype}" '
            f'action="{action}">{inputs}</form>'
            '<script>document.getElementById("f").submit()</script>')


def artifact_keys(sandbox, run_id):
    """Every S3 key under the run's artifact root, as a platform admin lists them."""
    root = mlflow_api(sandbox, f"runs/get?run_id={run_id}")["run"]["info"]["artifact_uri"]
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    c = assume_central(sandbox, "admin")
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=sandbox["aws"]["endpoint_url"],
                      aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                      aws_session_token=c["SessionToken"])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return [o["Key"][len(prefix) + 1:] for o in listed.get("Contents", [])]


def test_another_site_cannot_act_as_the_signed_in_user(session, ui_sandbox, other_site):
    evil_origin, pages = other_site
    ui = ui_sandbox["ui_url"]
    ex = ui_sandbox["example"]
    session.open()
    session.sign_in("contributor-user")
    session.mlflow.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    upload = f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={ex['run_id']}&path={EVIL_FILE}"
    attacks = {
        # forms: top-level navigations of the UI's origin, which the service worker sees
        "/text-plain": form(ui + upload, "text/plain", {"print('pwned')#": ""}),
        "/urlencoded": form(ui + "/gateway/mlflow/v1/chat/completions",
                            "application/x-www-form-urlencoded", {"model": "gpt", "x": "y"}),
        "/multipart": form(ui + "/ajax-api/2.0/mlflow/experiments/create",
                           "multipart/form-data", {"name": "made-by-another-site"}),
    }
    pages.update(attacks)
    gets = {  # GET navigations to data and state-changing routes
        "data": "/ajax-api/2.0/mlflow/experiments/search?max_results=5",
        "artifact": f"/get-artifact?path=config/params.json&run_uuid={ex['run_id']}",
        "spend": "/gateway/mlflow/v1/models",
    }
    pages["/links"] = (
        "<!doctype html>"
        + "".join(f'<a id="{n}" href="{ui}{p}">{n}</a>' for n, p in gets.items())
        + f'<a id="blank" target="_blank" href="{ui}{gets["artifact"]}">new tab</a>'
        + "<script>function nocors(url){return fetch(url,{method:'POST',mode:'no-cors',"
        "body:'{\"name\":\"no-cors\"}'}).then(()=>'sent',e=>String(e))}</script>")
    ui_log, gateway_log = (len(log_lines(ui_sandbox, n)) for n in ("ui-access.log", "access.log"))
    other = session.context.new_page()  # the same browser profile, the user still signed in

    for path in attacks:
        other.goto(evil_origin + path)
        other.wait_for_load_state()
        other.locator("h1").wait_for()
        assert other.url.startswith(ui) and other.locator("h1").inner_text() == "Refused"
    for name, path in gets.items():
        other.goto(evil_origin + "/links")
        other.click(f"#{name}")
        other.locator("h1").wait_for()
        assert other.locator("h1").inner_text() == "Open in MLflow?", name
    other.goto(evil_origin + "/links")
    with session.context.expect_page() as opened:
        other.click("#blank")
    assert opened.value.locator("h1").inner_text() == "Open in MLflow?"
    opened.value.close()
    with session.context.expect_page() as opened:
        other.evaluate(f"window.open({ui + gets['data']!r})")
    assert opened.value.locator("h1").inner_text() == "Open in MLflow?"
    opened.value.close()
    other.goto(evil_origin + "/links")
    assert other.evaluate(f"nocors({ui + '/ajax-api/2.0/mlflow/experiments/create'!r})") == "sent"
    other.close()
    session.screenshot("another-site-refused")

    # None of it reached MLflow as the user: no attack went out with a token, and what went
    # out at all (the no-cors fetch, which no service worker sees) the edge refused.
    attack_paths = {upload.split("?")[0], "/gateway/mlflow/v1/chat/completions",
                    "/ajax-api/2.0/mlflow/experiments/create"} | {
        p.split("?")[0] for p in gets.values()}
    sent = [r for r in log_lines(ui_sandbox, "ui-access.log")[ui_log:]
            if r["path"] in attack_paths]
    assert sent and [r for r in sent if r["authorization"]] == []
    answered = [r for r in log_lines(ui_sandbox, "access.log")[gateway_log:]
                if r["path"] in attack_paths]
    assert [(r["method"], r["path"], r["status"], r["user"]) for r in answered] == [
        ("POST", "/ajax-api/2.0/mlflow/experiments/create", 403, "-")]
    assert answered[0]["error"].startswith("Refused: a page of another site")
    keys = artifact_keys(ui_sandbox, ex["run_id"])
    assert "model/MLmodel" in keys and EVIL_FILE not in keys
    for name in ("made-by-another-site", "no-cors"):
        assert mlflow_api(ui_sandbox, "experiments/search", {
            "filter": f"name = '{name}'", "max_results": 5}).get("experiments") is None

    # The user's own UI works on, downloads included.
    session.mlflow_frame().evaluate(f"location.hash = {run_route(ui_sandbox)!r}")
    session.mlflow.get_by_role("heading", name=example.RUN_NAME).wait_for()
    with session.page.expect_download() as download:
        session.mlflow_frame().evaluate(f"window.open({gets['artifact']!r})")
    assert open(download.value.path(), "rb").read() == example.ARTIFACTS["config/params.json"]
    status, _ = session.api("POST", "/ajax-api/2.0/mlflow/experiments/search",
                            {"max_results": 1})
    assert status == 200


def test_a_script_in_mlflows_page_cannot_read_the_refresh_token(session, ui_sandbox):
    """An XSS in MLflow's (unmodified) page runs with the page's origin: it can read every
    storage of the origin and the shell's globals. The refresh token is in none of them."""
    session.record_cognito()
    session.open()
    session.sign_in("reader-user")
    session.mlflow.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    [refresh_token] = session.refresh_tokens()
    everything = session.mlflow_frame().evaluate("""async () => {
        const found = [];
        const seen = new WeakSet();
        const walk = (value, depth) => {
            if (value === null || depth > 4) return;
            if (typeof value === 'string') { found.push(value); return; }
            if (typeof value !== 'object' && typeof value !== 'function') return;
            if (seen.has(value)) return;
            seen.add(value);
            let keys = [];
            try { keys = Object.getOwnPropertyNames(value); } catch (e) { return; }
            for (const key of keys) {
                let v; try { v = value[key]; } catch (e) { continue; }
                if (v instanceof Node || v === window || v === parent) continue;
                walk(v, depth + 1);
            }
        };
        for (const db of await indexedDB.databases()) {
            const open = await new Promise((ok, no) => {
                const r = indexedDB.open(db.name); r.onsuccess = () => ok(r.result);
                r.onerror = () => no(r.error); });
            for (const store of open.objectStoreNames) {
                const all = await new Promise((ok) => {
                    const r = open.transaction(store).objectStore(store).getAll();
                    r.onsuccess = () => ok(r.result); });
                walk(all, 0);
            }
            open.close();
        }
        for (const storage of [localStorage, sessionStorage, parent.localStorage,
                               parent.sessionStorage]) {
            for (let i = 0; i < storage.length; i++) found.push(storage.getItem(storage.key(i)));
        }
        for (const name of await caches.keys()) {
            const cache = await caches.open(name);
            for (const request of await cache.keys()) {
                found.push(await (await cache.match(request)).text());
            }
        }
        found.push(document.cookie);
        for (const key of Object.getOwnPropertyNames(parent)) {
            let v; try { v = parent[key]; } catch (e) { continue; }
            if (typeof v === 'string' || (v && typeof v === 'object' && !(v instanceof Node)
                && v !== parent && v !== window)) walk(v, 0);
        }
        found.push(parent.document.documentElement.outerHTML);
        return found.join('\\n');
    }""")
    assert len(everything) > 1000  # it did read: the shell's DOM, MLflow's globals
    assert refresh_token not in everything
    # What the shell's page received from Cognito (through the worker) had it taken out.
    given = [body["AuthenticationResult"] for _, _, body in session.page_answers
             if body and "AuthenticationResult" in body]
    assert [a["RefreshToken"] for a in given] == ["held-by-the-service-worker"]
    # and a session the page can ask for carries no token at all
    assert set(session.session()) == {"username", "groups", "lifetime", "expiresAt", "issuedAt",
                                      "workspaces"}
    assert session.session()["workspaces"] == {"team-a": ["reader"], "team-b": ["reader"]}


def test_the_view_run_address_mlflows_client_prints_opens_that_run(session, ui_sandbox, capfd):
    """`mlflow.start_run()` prints "View run ... at: <tracking URI>/#/experiments/.../runs/...
    ?workspace=<team>", the team's base URL on the API (as a SageMaker job with the team stack's
    jobEnvironment has it); a browser that opens it lands, after signing in, on that run, in
    that team's workspace."""
    import mlflow

    team = next(t for t in ui_sandbox["teams"] if t["name"] == "team-a")
    with identity(ui_sandbox, "contributor", "client"):
        os.environ["MLFLOW_WORKSPACE"] = team["workspace"]
        try:
            mlflow.set_tracking_uri(team["tracking_uri"])
            experiment = mlflow.set_experiment("printed-links")
            with mlflow.start_run(run_name="the-printed-run"):
                mlflow.log_metric("x", 1.0)
        finally:
            os.environ.pop("MLFLOW_WORKSPACE")
    printed = capfd.readouterr().out
    line = next(line for line in printed.splitlines() if "View run the-printed-run at: " in line)
    url = line.split(" at: ", 1)[1].strip()
    assert url.startswith(team["tracking_uri"] + "/#/experiments/" + experiment.experiment_id)
    assert url.endswith("?workspace=team-a")

    first = requests.get(url.split("#")[0], allow_redirects=False, timeout=10)
    assert (first.status_code, first.headers["Location"]) == (302, ui_sandbox["ui_url"] + "/")
    session.page.goto(url)
    session.page.wait_for_selector("#username", state="visible")
    assert session.page.url == ui_sandbox["ui_url"] + "/#" + url.split("#", 1)[1]
    session.sign_in("reader-user")
    session.mlflow.get_by_role("heading", name="the-printed-run").wait_for()
    session.screenshot("printed-link-opened")


def test_a_copied_token_dies_with_its_lifetime_after_sign_out_and_removal(ui_sandbox):
    """The worst case the README states: a token copied out of a browser, of a user who then
    signed out and was removed by an administrator (docs/deploy.md: "Remove a user"), works no longer
    than its own lifetime plus the leeway. Its refresh token is dead at once."""
    from spec.edge import TOKEN_LEEWAY_SECONDS

    from tests.sandbox_clients import id_token_and_refresh

    admin = ui_sandbox["cognito"]["platform_admin"]
    idp = boto3.client("cognito-idp", region_name="us-east-1",
                       endpoint_url=ui_sandbox["aws"]["endpoint_url"],
                       aws_access_key_id=admin["AccessKeyId"],
                       aws_secret_access_key=admin["SecretAccessKey"])
    pool, client = ui_sandbox["cognito"]["user_pool_id"], ui_sandbox["cognito"]["client_id"]
    username = "two-groups-user"
    token, refresh, claims = id_token_and_refresh(ui_sandbox, username)
    url = ui_sandbox["gateway_url"] + "/ajax-api/2.0/mlflow/experiments/search?max_results=1"
    headers = {"Authorization": f"Bearer {token}", "X-MLFLOW-WORKSPACE": "team-a"}
    assert requests.get(url, headers=headers, timeout=10).status_code == 200

    # The administrator's removal, as documented.
    idp.admin_user_global_sign_out(UserPoolId=pool, Username=username)
    for group in ("team-a:contributor", "team-a:model-approver"):
        idp.admin_remove_user_from_group(UserPoolId=pool, Username=username, GroupName=group)
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.initiate_auth(ClientId=client, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": refresh})
    try:
        statuses = []
        while time.time() < claims["exp"] + TOKEN_LEEWAY_SECONDS + 3:
            statuses.append((time.time(), requests.get(url, headers=headers, timeout=10).status_code))
            time.sleep(0.5)
        worked = [t for t, status in statuses if status == 200]
        refused = [t for t, status in statuses if status == 401]
        assert worked and refused and max(worked) < min(refused)
        assert max(worked) <= claims["exp"] + TOKEN_LEEWAY_SECONDS
        assert min(refused) <= claims["exp"] + TOKEN_LEEWAY_SECONDS + 1
    finally:
        for group in ("team-a:contributor", "team-a:model-approver"):
            idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)
