"""Drive the sandbox's UI in Debian's headless Chromium with Playwright, and keep screenshots.

Playwright's own browser download cannot run here (nor in CI); it drives the system Chromium
(`apt-get install chromium`, which `.ci/run` does). Screenshots go to test-results/browser/.
"""

import os
import shutil
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

    def session(self):
        """The session as the shell keeps it (IndexedDB), or None."""
        return self.page.evaluate("LZSession.get().then(s => s || null)")

    def api(self, method, path, body=None):
        """A request from the page, as MLflow's UI makes them (the service worker adds the
        token): (status, JSON body or text)."""
        return self.page.evaluate("""async ([method, path, body]) => {
            const r = await fetch(path, {method, headers: {'Content-Type': 'application/json'},
                                         body: body === null ? undefined : JSON.stringify(body)});
            const text = await r.text();
            try { return [r.status, JSON.parse(text)]; } catch (e) { return [r.status, text]; }
        }""", [method, path, body])

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
