import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import socket  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

from spec.edge import DEFAULT_AUTHORIZER_TTL_SECONDS  # noqa: E402
from tests.markers import NOT_FAST, needs  # noqa: E402
from tests.sandbox_process import start_sandbox, stop_sandbox  # noqa: E402

TESTS = Path(__file__).resolve().parent
# The rooms: each folder of tests/ proves the folder of the repo it is named after (or, for
# end_to_end and repo, the whole); docs/testing.md has the table, tests/repo/test_layout.py
# keeps the two equal.
ROOMS = sorted(p.name for p in TESTS.iterdir() if (p / "__init__.py").is_file())


@pytest.fixture(scope="session")
@needs("live_sandbox")
def sandbox(tmp_path_factory):
    """One `python -m sandbox` for the whole test session, as a newcomer starts it."""
    process, state = start_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.json",
                                   "--authorizer-ttl", str(DEFAULT_AUTHORIZER_TTL_SECONDS))
    yield state
    stop_sandbox(process)


# --- the browser tests' own sandbox and browser (tests/ui/test_browser*.py) ---------------------
# Tokens live 40 seconds and the authorizer caches nothing: a request that left the browser
# with an expired token would be refused, and show.
TOKEN_SECONDS = 40


@pytest.fixture(scope="session")
@needs("live_sandbox")
def ui_sandbox(tmp_path_factory):
    process, state = start_sandbox(tmp_path_factory.mktemp("ui-sandbox") / "sandbox.json",
                                   "--token-seconds", str(TOKEN_SECONDS), "--authorizer-ttl", "0")
    yield state
    stop_sandbox(process)


# Per module: Playwright's event loop must be gone before the Pulumi mocks' tests run.
@pytest.fixture(scope="module")
@needs("browser")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
@needs("browser")
def session(browser, ui_sandbox, request):
    from tests.browser import Session

    session = Session(browser, ui_sandbox)
    yield session
    session.screenshot(f"last-{request.node.name}")  # how the page ended, passed or failed
    violations = session.csp_violations()
    session.close()
    assert violations == [], "the page broke its Content-Security-Policy"


# --- markers: a room per folder, and a fast loop that stays in its own process ------------
# `pytest -m fast` (docs/testing.md) runs what needs none of NOT_FAST; `pytest` runs all.


def pytest_configure(config):
    for room in ROOMS:
        config.addinivalue_line("markers", f"{room}: a test under tests/{room}/ (marked by folder)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        if len(parts) > 1 and parts[0] in ROOMS:
            item.add_marker(parts[0])
        for name in getattr(item, "fixturenames", ()):
            definitions = item._fixtureinfo.name2fixturedefs.get(name) or ()
            for marker in getattr(definitions[-1].func, "needs", ()) if definitions else ():
                item.add_marker(marker)
        if not any(item.get_closest_marker(m) for m in NOT_FAST):
            item.add_marker(pytest.mark.fast)


class NotFast(Exception):
    """A test marked fast did what only a test with one of NOT_FAST may do."""


def _refusal(argv):
    """Why a fast test may not run `argv`, or None."""
    words = [str(w) for w in ([argv] if isinstance(argv, (str, bytes, Path)) else argv)]
    names = [Path(w).name for w in words]
    if names and names[0] in ("node", "npm", "npx"):
        return "runs Node: mark it `node`"
    if names and names[0] in ("pip", "pip3"):
        return "runs pip: mark it `pip`"
    for flag, module in zip(words, words[1:]):
        if flag == "-m" and module == "pip":
            return "runs pip: mark it `pip`"
        if flag == "-m" and module in ("sandbox", "mlflow", "ui.build"):
            return f"runs python -m {module}: mark it by what that does (`server`, `node`, `slow`)"
    return None


@pytest.fixture(autouse=True)
def _fast_means_what_it_says(request, monkeypatch):
    """In a fast test, a network socket (even to 127.0.0.1), Node, pip or a server fails at
    once: the marker is true, not a hope."""
    if request.node.get_closest_marker("fast") is None:
        yield
        return

    def refuse(why):
        raise NotFast(f"{request.node.nodeid} is marked fast (tests/markers.py) but {why}")

    def guarded(method):  # listen: a server; connect: a client (a bind alone picks a port)
        def call(sock, *args):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                refuse(f"opens a network socket ({method.__name__}{args!r}): mark it `server`")
            return method(sock, *args)
        return call

    for name in ("listen", "connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, guarded(getattr(socket.socket, name)))
    popen_init = subprocess.Popen.__init__

    def init(process, *args, **kwargs):
        why = _refusal(args[0] if args else kwargs.get("args", ()))
        if why:
            refuse(why)
        popen_init(process, *args, **kwargs)
    monkeypatch.setattr(subprocess.Popen, "__init__", init)
    yield
