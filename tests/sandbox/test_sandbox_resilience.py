"""Load and failure through the live sandbox: nothing acknowledged is ever lost."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import requests

from tests.sandbox_clients import id_token, identity


def test_eight_concurrent_clients_log_2000_metrics_without_an_error(sandbox):
    errors, runs = [], []
    with identity(sandbox, "contributor", "client") as c:
        exp = c.create_experiment(f"load-{time.time_ns()}")
        runs = [c.create_run(exp).info.run_id for _ in range(8)]

        def worker(run_id):
            for step in range(250):
                try:
                    c.log_metric(run_id, "value", float(step), step=step)
                except Exception as e:  # counted, not raised: the assertion names them
                    errors.append(repr(e)[:200])

        threads = [threading.Thread(target=worker, args=(r,)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for run_id in runs:
            history = c.get_metric_history(run_id, "value")
            assert sorted(m.step for m in history) == list(range(250))


def test_mlflow_dying_mid_load_loses_nothing_acknowledged(sandbox):
    state_file = Path(sandbox["_state_file"])
    acknowledged, stop = [], threading.Event()
    with identity(sandbox, "contributor", "client") as c:
        exp = c.create_experiment(f"fault-{time.time_ns()}")
        runs = [c.create_run(exp).info.run_id for _ in range(4)]

        def worker(run_id):
            step = 0
            while not stop.is_set():
                try:
                    c.log_metric(run_id, "value", float(step), step=step)
                    acknowledged.append((run_id, step))
                except Exception:
                    time.sleep(0.05)  # refused or failed: not acknowledged, try the next
                step += 1

        threads = [threading.Thread(target=worker, args=(r,), daemon=True) for r in runs]
        for t in threads:
            t.start()
        try:
            check_outage_and_recovery(sandbox, state_file)
        finally:
            stop.set()
            for t in threads:
                t.join()
        for run_id in runs:
            present = {m.step for m in c.get_metric_history(run_id, "value")}
            missing = [s for r, s in acknowledged if r == run_id and s not in present]
            assert missing == []
        assert len(acknowledged) > 40


def check_outage_and_recovery(sandbox, state_file):
    """Kill MLflow; the gateway answers 502 at once; the sandbox brings MLflow back."""
    time.sleep(1.0)
    pid = json.loads(state_file.read_text())["mlflow_pid"]
    os.killpg(pid, signal.SIGKILL)
    token = id_token(sandbox, "reader-user")
    saw_502 = False
    for _ in range(20):
        started = time.monotonic()
        r = requests.get(sandbox["gateway_url"] + "/ajax-api/2.0/mlflow/experiments/search?max_results=1",
                         headers={"Authorization": f"Bearer {token}",
                                  "X-MLFLOW-WORKSPACE": "team-a"}, timeout=30)
        assert time.monotonic() - started < 5
        if r.status_code == 502:
            saw_502 = True
            break
        time.sleep(0.05)
    assert saw_502
    # The sandbox starts MLflow again (as ECS replaces a stopped task); wait for it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = requests.get(sandbox["gateway_url"] + "/ajax-api/2.0/mlflow/experiments/search?max_results=1",
                         headers={"Authorization": f"Bearer {token}",
                                  "X-MLFLOW-WORKSPACE": "team-a"}, timeout=30)
        if r.status_code == 200:
            break
        time.sleep(0.5)
    assert r.status_code == 200
    # The state file names the new process (written just after it answers).
    deadline = time.monotonic() + 10
    while json.loads(state_file.read_text())["mlflow_pid"] == pid and time.monotonic() < deadline:
        time.sleep(0.2)
    assert json.loads(state_file.read_text())["mlflow_pid"] != pid
    time.sleep(1.0)
