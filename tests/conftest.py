import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One `python -m sandbox` for the whole test session, as a newcomer starts it."""
    state_file = tmp_path_factory.mktemp("sandbox") / "sandbox.json"
    log = state_file.parent / "stdout.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", "0", "--state-file", str(state_file),
             "--authorizer-ttl", "300"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited:\n{log.read_text()}")
        if any(line.startswith("ready ") for line in log.read_text().splitlines()):
            break
        time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(f"the sandbox was not ready in 90 s:\n{log.read_text()}")
    state = json.loads(state_file.read_text())
    state["_state_file"] = str(state_file)
    state["_log"] = str(log)
    yield state
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
