"""Start, stop and start again: the data stays, the children go, --reset forgets."""

import os
import subprocess
import sys
import time

import pytest

from sandbox import example

from .sandbox_clients import identity
from .sandbox_process import start_sandbox, stop_sandbox


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_a_second_start_keeps_the_data_and_reset_forgets_it(tmp_path):
    state_file = tmp_path / "sandbox.json"
    process, state = start_sandbox(state_file)
    try:
        with identity(state, "contributor", "client") as c:
            experiment = c.create_experiment("kept-between-runs")
            run = c.create_run(experiment).info.run_id
            artifact = tmp_path / "model.txt"
            artifact.write_text("weights")
            c.log_artifact(run, str(artifact))
        mlflow_pid = state["mlflow_pid"]
    finally:
        assert stop_sandbox(process) == 0
    # the run's artifact and the example's, which the sandbox seeds at its first start
    assert f"kept {1 + len(example.ARTIFACTS)} artifacts" in (tmp_path / "stdout.log").read_text()
    deadline = time.monotonic() + 10
    while alive(mlflow_pid) and time.monotonic() < deadline:  # Ctrl-C stops the children
        time.sleep(0.1)
    assert not alive(mlflow_pid)

    process, state = start_sandbox(state_file)
    try:
        with identity(state, "reader", "client") as c:
            assert c.get_experiment_by_name("kept-between-runs").experiment_id == experiment
            out = tmp_path / "out"
            out.mkdir()
            assert open(c.download_artifacts(run, "model.txt", str(out))).read() == "weights"
            # the example is seeded once, not again at each start
            seeded = c.get_experiment_by_name(example.EXPERIMENT)
            assert seeded.experiment_id == state["example"]["experiment_id"]
            assert [r.info.run_id for r in c.search_runs([seeded.experiment_id])] == [
                state["example"]["run_id"]]
    finally:
        stop_sandbox(process)

    process, state = start_sandbox(state_file, "--reset")
    try:
        with identity(state, "reader", "client") as c:
            assert c.get_experiment_by_name("kept-between-runs") is None
    finally:
        stop_sandbox(process)


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "--port must be between 0 and 65535"),
    (["--ui-port", "-1"], "--ui-port must be between 0 and 65535"),
    (["--token-seconds", "5"], "--token-seconds must be between 20 and 86400"),
])
def test_bad_arguments_are_refused_with_a_message(args, message):
    result = subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 2 and message in result.stderr
