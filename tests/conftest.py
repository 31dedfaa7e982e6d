import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))



import pytest  # noqa: E402

from tests.sandbox_process import start_sandbox, stop_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One `python -m sandbox` for the whole test session, as a newcomer starts it."""
    process, state = start_sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox.json",
                                   "--authorizer-ttl", "300")
    yield state
    stop_sandbox(process)
