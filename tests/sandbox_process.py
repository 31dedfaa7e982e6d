"""Start and stop `python -m sandbox` as a newcomer would, and wait for its `ready` line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# The sandbox waits up to 180 s for MLflow's /health (sandbox/mlflow_server.py: a loaded
# machine's cold start); waiting less here would report a slow start as a failed one. The wait
# ends at once if the sandbox exits.
START_TIMEOUT = 300


def start_sandbox(state_file: Path, *args, timeout: float = START_TIMEOUT):
    log = state_file.parent / "stdout.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", "0", "--ui-port", "0", "--state-file", str(state_file),
             *args], cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited:\n{log.read_text()}")
        if any(line.startswith("ready ") for line in log.read_text().splitlines()):
            state = json.loads(state_file.read_text())
            state.update(_state_file=str(state_file), _log=str(log))
            return process, state
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the sandbox was not ready in {timeout:.0f} s:\n{log.read_text()}")


def stop_sandbox(process, timeout: float = 30) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
