"""Runs one command and ends it, with everything it started, once the process that started
the guard is gone.

The sandbox starts MLflow in a process group of its own (so that `stop()` ends the server, its
workers and its job runner together). Without this guard, a sandbox or a test session killed
with SIGKILL left that whole group running, about 0.8 GB a server, until the machine ran out
of memory. Run as a script (`python orphan_guard.py <starter pid> -- <command...>`), it imports
nothing of the project, so it works whatever the working directory.
"""

import os
import signal
import subprocess
import sys
import time

POLL_SECONDS = 1.0
GRACE_SECONDS = 10.0


def _end_group(child: subprocess.Popen) -> None:
    """SIGTERM to the whole group (this guard ignores it), SIGKILL after the grace period."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(0, signal.SIGTERM)
        child.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.killpg(0, signal.SIGKILL)  # the rest of the group, this guard included


def main(argv) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: orphan_guard.py <starter pid> -- <command...>", file=sys.stderr)
        return 2
    starter = int(argv[0])
    child = subprocess.Popen(argv[2:])  # in this guard's process group
    # stop() signals the whole group; the guard then only waits for the command to end.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    while child.poll() is None:
        if os.getppid() != starter:
            _end_group(child)
            break
        time.sleep(POLL_SECONDS)
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
