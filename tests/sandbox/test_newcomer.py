"""What a newcomer meets on a fresh clone: the lines to paste, the logs, a second start."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.__main__ import newcomer_lines
from sandbox.landing_zone import AlreadyRunning, hold_state_dir

ROOT = Path(__file__).resolve().parents[2]

STATE = {
    "ui_url": "http://127.0.0.1:8081", "gateway_url": "http://127.0.0.1:8080",
    "cognito": {"users": [{"username": "reader-user", "password": "pw"}]},
    "teams": [{"name": "team-a", "workspace": "team-a",
               "tracking_uri": "http://127.0.0.1:8080/team-a",
               "roles": [{"level": "contributor",
                          "central_role_arn": "arn:aws:iam::111111111111:role/"
                                              "mlflow-team-a-contributor"}]}],
}


def test_the_pasted_run_names_this_interpreter_not_whatever_python_is_on_path(tmp_path):
    lines = newcomer_lines(STATE, tmp_path / "sandbox.json").splitlines()
    runs = [line for line in lines if " -c " in line]
    assert len(runs) == 1
    assert runs[0].startswith(f"  {sys.executable} -c \"import mlflow; ")


def test_the_logs_are_named_where_they_are(tmp_path):
    text = newcomer_lines(STATE, tmp_path / "state" / "sandbox.json")
    state_dir = (tmp_path / "state").resolve()
    assert (f"Logs: MLflow's own {state_dir / 'mlflow.log'}; the gateway's access log "
            f"{state_dir / 'access.log'};\nthe UI's access log {state_dir / 'ui-access.log'}\n"
            ) in text


@pytest.mark.slow  # a fresh interpreter imports the sandbox, to be refused
def test_a_second_sandbox_on_the_same_state_directory_is_refused_at_once(tmp_path):
    state_file = tmp_path / "state" / "sandbox.json"
    held = hold_state_dir(state_file)
    state_file.write_text(json.dumps({"pid": os.getpid(), "gateway_url": "http://127.0.0.1:8080",
                                      "ui_url": "http://127.0.0.1:8081"}))
    try:
        started = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "sandbox", "--state-file",
                                 str(state_file), "--reset"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert time.monotonic() - started < 15  # not a second MLflow first
        assert second.returncode == 1
        assert second.stderr == (
            f"sandbox: a sandbox is already running on {state_file.parent.resolve()}: pid "
            f"{os.getpid()} (gateway http://127.0.0.1:8080, UI http://127.0.0.1:8081). Stop "
            f"it (Ctrl-C in its shell, or `kill {os.getpid()}`), or start another with its "
            f"own state: --state-file <another directory>/sandbox.json\n")
        assert state_file.exists()  # --reset did not pull the state from under it
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()} "):
            hold_state_dir(state_file)
    finally:
        held.close()
    hold_state_dir(state_file).close()  # the first one gone, the directory is free again
