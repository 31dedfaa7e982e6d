"""Drive the sandbox's UI in Debian's headless Chromium with Playwright, and keep screenshots.

Playwright's own browser download cannot run here (nor in CI); it drives the system Chromium
(`apt-get install chromium`, which `.ci/run` does). Screenshots go to test-results/browser/.
"""

import json
import os
import shutil
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-results" / "browser"
CHROMIUM = os.environ.get("LZ_CHROMIUM", "/usr/bin/chromium")
# Headless, and quiet: this machine's network is closed, so Chromium's background calls home
# would only fail (many at a time).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT_MS = 30_000


def chromium_path() -> str:
    """LZ_CHROMIUM, else Debian's /usr/bin/chromium, else a Chromium or Chrome on the PATH."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise RuntimeError(f"no Chromium at {CHROMIUM}: install Debian's chromium package "
                       "(apt-get install chromium; .ci/run does) or set LZ_CHROMIUM")


def user(sandbox, username):
    return next(u for u in sandbox["cognito"]["users"] if u["username"] == username)


class Session:
    """One browser context (a fresh profile): the shell page and MLflow's frame in it."""

    def __init__(self, browser, sandbox):
        self.sandbox = sandbox
        self.context = browser.new_context(viewport={"width": 1280, "height": 800},
                                           accept_downloads=True)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.console = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    @property
    def mlflow(self):
        return self.page.frame_locator("#mlflow")

    def mlflow_frame(self):
        return next(f for f in self.page.frames if f.url.split("#")[0].endswith("/mlflow.html"))

    def open(self, route=""):
        self.page.goto(self.sandbox["ui_url"] + "/" + route)
        self.page.wait_for_selector("#username", state="visible")

    def sign_in(self, username, password=None, wait=True):
        password = password if password is not None else user(self.sandbox, username)["password"]
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#submit")
        if wait:
            self.page.wait_for_selector("#bar", state="visible")

    def close_mlflow_assistant(self):
        """MLflow's assistant panel opens itself on a first visit; close it for the view."""
        close = self.mlflow.get_by_role("button", name="Close", exact=True)
        if close.count():
            close.first.click()

    def tell_worker(self, message_type):
        """A message to the service worker, as the shell sends them: its answer."""
        return self.page.evaluate("""async (type) => {
            const registration = await navigator.serviceWorker.ready;
            return await new Promise((resolve) => {
                const channel = new MessageChannel();
                channel.port1.onmessage = (event) => resolve(event.data);
                registration.active.postMessage({type}, [channel.port2]);
            });
        }""", message_type)

    def session(self):
        """What the service worker tells a page of the session (no tokens), or None."""
        answer = self.tell_worker("session")
        return answer["session"] if answer["ok"] else None

    def record_cognito(self):
        """From now on, every Cognito answer this browser receives from the network (the
        service worker's), in `self.cognito_answers`: (target, request body, response body);
        and what the page got for its own calls (through the worker) in `self.page_answers`."""
        self.cognito_answers, self.page_answers = [], []

        def answered(response):
            request = response.request
            if not request.url.endswith("/cognito/"):
                return
            try:
                body = response.json()
            except Exception:
                body = None
            answers = self.page_answers if response.from_service_worker else self.cognito_answers
            answers.append((request.headers.get("x-amz-target", ""), request.post_data_json, body))

        self.context.on("response", answered)

    def refresh_tokens(self):
        """The refresh tokens Cognito handed out to this browser so far."""
        return [body["AuthenticationResult"]["RefreshToken"]
                for _, _, body in self.cognito_answers
                if body and "RefreshToken" in body.get("AuthenticationResult", {})]

    def api(self, method, path, body=None, workspace=None):
        """A request from the page, as MLflow's UI makes them (the service worker adds the
        token; `workspace`: the X-MLFLOW-WORKSPACE MLflow's UI would name): (status, JSON body
        or text)."""
        return self.page.evaluate("""async ([method, path, body, workspace]) => {
            const headers = {'Content-Type': 'application/json'};
            if (workspace !== null) headers['X-MLFLOW-WORKSPACE'] = workspace;
            const r = await fetch(path, {method, headers,
                                         body: body === null ? undefined : JSON.stringify(body)});
            const text = await r.text();
            try { return [r.status, JSON.parse(text)]; } catch (e) { return [r.status, text]; }
        }""", [method, path, body, workspace])

    def cognito(self, target, body):
        """A call to Cognito's JSON API from the page, as the shell makes them."""
        return self.page.evaluate("""async ([endpoint, target, body]) => {
            const r = await fetch(endpoint, {method: 'POST', body: JSON.stringify(body),
                headers: {'Content-Type': 'application/x-amz-json-1.1',
                          'X-Amz-Target': 'AWSCognitoIdentityProviderService.' + target}});
            return [r.status, await r.json().catch(() => null)];
        }""", [self.sandbox["ui_url"] + "/cognito/", target, body])

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def csp_violations(self):
        return [line for line in self.console if "Content Security Policy" in line]

    def close(self):
        self.context.close()


def mlflow_api(sandbox, path, body=None, workspace="team-a"):
    """MLflow itself, behind the gateway: what the UI did, seen from the server."""
    request = urllib.request.Request(
        f"{sandbox['mlflow_url']}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json", "X-MLFLOW-WORKSPACE": workspace})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def log_lines(sandbox, name):
    """A JSON-lines log next to the state file: `access.log` (the gateway's, one line per
    request it answered) or `ui-access.log` (the UI host's, one per request the browser sent)."""
    with open(sandbox["_state_file"].replace("sandbox.json", name)) as f:
        return [json.loads(line) for line in f]


def logged_at(record) -> int:
    return int(datetime.strptime(record["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp())


def run_route(sandbox, tab=""):
    """The example run's route in MLflow's UI, in its workspace (as MLflow's links have it)."""
    ex = sandbox["example"]
    return f"#/experiments/{ex['experiment_id']}/runs/{ex['run_id']}{tab}?workspace={ex['workspace']}"
