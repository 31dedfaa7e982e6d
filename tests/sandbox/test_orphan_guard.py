"""The sandbox's MLflow runs under sandbox/orphan_guard.py: a starter killed with SIGKILL (a
test session timed out, a terminal closed) leaves nothing of it running."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.mlflow_server import ORPHAN_GUARD

# The command under guard starts a grandchild of its own, as MLflow starts workers.
COMMAND = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(f"{grandchild.pid}")
time.sleep(120)
"""
STARTER = """
import os, subprocess, sys, time
guard = subprocess.Popen([sys.executable, sys.argv[1], str(os.getpid()), "--",
                          sys.executable, "-c", sys.argv[2], sys.argv[3]], start_new_session=True)
print(guard.pid, flush=True)
time.sleep(120)
"""


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie waits only for its reaper


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_starter_killed_outright_takes_the_guarded_command_and_its_children_with_it(tmp_path):
    pids = tmp_path / "grandchild.pid"
    starter = subprocess.Popen([sys.executable, "-c", STARTER, ORPHAN_GUARD, COMMAND, str(pids)],
                               stdout=subprocess.PIPE, text=True)
    try:
        guard = int(starter.stdout.readline())
        assert wait_for(lambda: pids.exists() and pids.read_text(), 30)
        grandchild = int(pids.read_text())
        assert running(guard) and running(grandchild)
        starter.kill()
        starter.wait()
        assert wait_for(lambda: not running(guard) and not running(grandchild), 20), \
            "the guarded command outlived the process that started it"
    finally:
        starter.kill()
        for pid in (locals().get("guard"), locals().get("grandchild")):
            if pid and running(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_guard_passes_the_command_s_exit_status_on():
    done = subprocess.run([sys.executable, ORPHAN_GUARD, str(os.getpid()), "--",
                           sys.executable, "-c", "raise SystemExit(3)"], timeout=30)
    assert done.returncode == 3


def test_the_guard_refuses_a_call_without_its_separator():
    done = subprocess.run([sys.executable, ORPHAN_GUARD, str(os.getpid()), sys.executable],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "usage" in done.stderr
