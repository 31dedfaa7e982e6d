import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402

from spec.edge import DEFAULT_AUTHORIZER_TTL_SECONDS  # noqa: E402
from tests.sandbox_process import start_sandbox, stop_sandbox  # noqa: E402


@pytest.fixture(scope="session")
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
def ui_sandbox(tmp_path_factory):
    process, state = start_sandbox(tmp_path_factory.mktemp("ui-sandbox") / "sandbox.json",
                                   "--token-seconds", str(TOKEN_SECONDS), "--authorizer-ttl", "0")
    yield state
    stop_sandbox(process)


# Per module: Playwright's event loop must be gone before the Pulumi mocks' tests run.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def session(browser, ui_sandbox, request):
    from tests.browser import Session

    session = Session(browser, ui_sandbox)
    yield session
    session.screenshot(f"last-{request.node.name}")  # how the page ended, passed or failed
    violations = session.csp_violations()
    session.close()
    assert violations == [], "the page broke its Content-Security-Policy"


# --- markers: a fast loop without what needs a sandbox, a browser or a server of its own -----
# `pytest -m fast` (README, "The fast loop") runs everything else; `pytest` runs all.
SANDBOX_FIXTURES = {"sandbox", "ui_sandbox"}
BROWSER_FIXTURES = {"browser", "session"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SANDBOX_FIXTURES:
            item.add_marker(pytest.mark.sandbox)
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if not any(item.get_closest_marker(m) for m in ("sandbox", "browser", "slow")):
            item.add_marker(pytest.mark.fast)
