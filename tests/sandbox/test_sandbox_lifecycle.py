"""Start, stop and start again: the data stays, the children go, --reset forgets."""

import os
import subprocess
import sys
import time

import pytest

from sandbox import example

from tests.sandbox_clients import identity
from tests.sandbox_process import ROOT, start_sandbox, stop_sandbox


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


LOG_A_RUN = """
import mlflow, os, tempfile
mlflow.set_experiment("pasted")
run = mlflow.start_run()
mlflow.log_metric("x", 1)
path = os.path.join(tempfile.mkdtemp(), "a.txt")
open(path, "w").write("x")
mlflow.log_artifact(path)
print("logged", run.info.run_id)
mlflow.end_run()
"""


# A notebook left running across a restart: one run before, one after (a line on stdin says
# when), each with a metric and an artifact, with the environment of the first start's lines.
NOTEBOOK = """
import mlflow, os, sys, tempfile
path = os.path.join(tempfile.mkdtemp(), "a.txt")
open(path, "w").write("x")
mlflow.set_experiment("notebook")
for moment in ("before", "after"):
    if moment == "after":
        sys.stdin.readline()
    with mlflow.start_run() as run:
        mlflow.log_metric(moment, 1)
        mlflow.log_artifact(path)
    print(moment, run.info.run_id, flush=True)
"""


def printed_lines(log_text: str) -> str:
    """The export lines the sandbox printed for a newcomer to paste into another shell."""
    return "\n".join(line.strip() for line in log_text.splitlines()
                     if line.startswith("  export "))


def paste_and_log(lines: str, tmp_path, then: str = ""):
    """A new shell with nothing of ours in its environment: the pasted lines, `then` more shell
    lines, then a run."""
    script = tmp_path / "log_a_run.py"
    script.write_text(LOG_A_RUN)
    return subprocess.run(["bash", "-c", f"{lines}\n{then}\nexec {sys.executable} {script}"],
                          cwd=tmp_path, env=_new_shell(tmp_path), capture_output=True, text=True,
                          timeout=120)


def _new_shell(tmp_path) -> dict:
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if os.environ.get("PYTHONPATH"):  # a checkout's client in place of the installed copy
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def start_notebook(lines: str, tmp_path):
    """The notebook of NOTEBOOK in a new shell with the pasted lines; returns once it logged
    its run before the restart."""
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    with open(tmp_path / "notebook.err", "w") as err:
        notebook = subprocess.Popen(["bash", "-c", f"{lines}\nexec {sys.executable} {script}"],
                                    cwd=tmp_path, env=_new_shell(tmp_path), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, text=True)
    for line in notebook.stdout:  # MLflow's "View run ..." lines come first
        if line.startswith("before "):
            return notebook
    raise AssertionError((tmp_path / "notebook.err").read_text()[-3000:])


@pytest.mark.slow  # four starts of the sandbox
def test_a_second_start_keeps_the_data_and_reset_forgets_it(tmp_path):
    state_file = tmp_path / "sandbox.json"
    process, state = start_sandbox(state_file)
    first_state = state
    lines = printed_lines((tmp_path / "stdout.log").read_text())
    assert "export AWS_CONFIG_FILE=" in lines and "AWS_ACCESS_KEY_ID" not in lines
    # MLflow's own log is named where it is (its errors are there, not on the screen)
    assert f"Logs: MLflow's own {tmp_path.resolve() / 'mlflow.log'};" in (
        tmp_path / "stdout.log").read_text()
    notebook = None
    try:
        pasted = paste_and_log(lines, tmp_path)
        assert pasted.returncode == 0 and pasted.stdout.startswith("logged "), pasted.stderr
        notebook = start_notebook(lines, tmp_path)
        with identity(state, "contributor", "client") as c:
            experiment = c.create_experiment("kept-between-runs")
            run = c.create_run(experiment).info.run_id
            artifact = tmp_path / "model.txt"
            artifact.write_text("weights")
            c.log_artifact(run, str(artifact))
        mlflow_pid = state["mlflow_pid"]
    except BaseException:
        if notebook:
            notebook.kill()
        raise
    finally:
        assert stop_sandbox(process) == 0
    # the runs' artifacts (the pasted run's and this one's) and the example's, which the
    # sandbox seeds at its first start
    assert f"kept {3 + len(example.ARTIFACTS)} artifacts" in (tmp_path / "stdout.log").read_text()
    deadline = time.monotonic() + 10
    while alive(mlflow_pid) and time.monotonic() < deadline:  # Ctrl-C stops the children
        time.sleep(0.1)
    assert not alive(mlflow_pid)

    passwords = {u["username"]: u["password"] for u in first_state["cognito"]["users"]}
    old = next(r for r in first_state["teams"][0]["roles"]
               if r["level"] == "contributor")["credentials"]
    for restart in (1, 2):
        # restarted twice: the lines printed by the first start still log a run, the users'
        # passwords and the URLs are the same; a process still holding the first start's
        # session is told what to do
        process, state = start_sandbox(state_file)
        try:
            assert {u["username"]: u["password"] for u in state["cognito"]["users"]} == passwords
            assert (state["gateway_url"], state["ui_url"]) == (first_state["gateway_url"],
                                                               first_state["ui_url"])
            # and emulated AWS's endpoint, which the profiles (and the notebook) name
            assert state["aws"]["endpoint_url"] == first_state["aws"]["endpoint_url"]
            if restart == 1:
                # the notebook that ran before the restart: its session is unknown to this
                # start; the client fetches a fresh one (the AWS profile) and goes on
                notebook.stdin.write("go\n")
                notebook.stdin.flush()
                out, _ = notebook.communicate(timeout=120)
                assert notebook.returncode == 0, (tmp_path / "notebook.err").read_text()[-3000:]
                assert [line.split()[0] for line in out.splitlines()
                        if line.startswith(("before ", "after "))] == ["after"]
            pasted = paste_and_log(lines, tmp_path)
            assert pasted.returncode == 0 and pasted.stdout.startswith("logged "), pasted.stderr
            stale = paste_and_log(lines, tmp_path, "\n".join([
                "unset AWS_PROFILE AWS_CONFIG_FILE",
                f"export AWS_ACCESS_KEY_ID={old['AccessKeyId']}",
                f"export AWS_SECRET_ACCESS_KEY={old['SecretAccessKey']}",
                f"export AWS_SESSION_TOKEN={old['SessionToken']}",
                f"export AWS_ENDPOINT_URL={state['aws']['endpoint_url']}",
                "export AWS_DEFAULT_REGION=us-east-1"]))
            assert stale.returncode != 0
            assert "belong to an earlier session" in stale.stderr, stale.stderr[-2000:]
            assert "paste the lines it printed at its last start" in stale.stderr
            if restart == 1:
                with identity(state, "reader", "client") as c:
                    assert c.get_experiment_by_name("kept-between-runs").experiment_id == (
                        experiment)
                    out = tmp_path / "out"
                    out.mkdir()
                    assert open(c.download_artifacts(run, "model.txt", str(out))).read() == (
                        "weights")
                    # the example is seeded once, not again at each start
                    seeded = c.get_experiment_by_name(example.EXPERIMENT)
                    assert seeded.experiment_id == state["example"]["experiment_id"]
                    assert [r.info.run_id for r in c.search_runs([seeded.experiment_id])] == [
                        state["example"]["run_id"]]
        finally:
            assert stop_sandbox(process) == 0

    process, state = start_sandbox(state_file, "--reset")
    try:
        with identity(state, "reader", "client") as c:
            assert c.get_experiment_by_name("kept-between-runs") is None
        # --reset forgets the passwords too
        assert {u["username"]: u["password"] for u in state["cognito"]["users"]} != passwords
    finally:
        stop_sandbox(process)


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "--port must be between 0 and 65535"),
    (["--ui-port", "-1"], "--ui-port must be between 0 and 65535"),
    (["--token-seconds", "5"], "--token-seconds must be between 20 and 86400"),
])
@pytest.mark.slow  # a fresh interpreter imports the sandbox, per case
def test_bad_arguments_are_refused_with_a_message(args, message):
    result = subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 2 and message in result.stderr


def test_an_unreadable_earlier_state_gives_new_passwords_and_any_port():
    """What a start keeps from the last one (passwords, ports) it reads leniently: a state file
    from another version, or hand-edited, starts afresh rather than failing."""
    from sandbox.landing_zone import _passwords_of, _port_of

    for state in ({}, [], {"cognito": None}, {"cognito": [1]}, {"cognito": {"users": "x"}}):
        assert _passwords_of(state) == {}
    assert _passwords_of({"cognito": {"users": [{"username": "a", "password": "p"}, 3,
                                                {"username": "b"}]}}) == {"a": "p"}
    assert (_port_of("http://127.0.0.1:8080"), _port_of(None), _port_of("junk")) == (8080, 0, 0)
