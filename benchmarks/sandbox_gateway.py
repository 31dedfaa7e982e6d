"""The gateway's cost per request: a mixed read/write workload three ways, in one run.

    python -m benchmarks.sandbox_gateway [--requests 300] [--clients 4] [--smoke]

Starts `python -m sandbox`, then runs the same workload (2 reads : 1 metric write) against
MLflow directly, through the gateway with SigV4 (this repo's client, at team-a's base URL), and
through the gateway with a Cognito token on the browser paths (naming team-a's workspace, as the
UI does), all in team-a's workspace. Reports requests per second, p50/p99 latency, the
gateway's overhead per request, start-to-ready time and the authorizer's cache hit rate.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3
WARM_UP = 60  # requests to MLflow before measuring
# --smoke: one small run for the test suite (per round and path: one read of each kind and one
# write); figures meaningless
SMOKE = {"requests": 9, "clients": 1, "warm_up": 3}
READY_TIMEOUT = 180  # seconds: a sandbox that never comes up fails the run instead of hanging
sys.path.insert(0, str(ROOT))


def start_sandbox(folder: Path):
    state_file = folder / "sandbox.json"
    log = open(folder / "stdout.log", "w")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--port", "0", "--ui-port", "0",
                                "--state-file", str(state_file)],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    while not any(l.startswith("ready") for l in (folder / "stdout.log").read_text().splitlines()):
        if process.poll() is not None:
            raise SystemExit((folder / "stdout.log").read_text())
        if time.monotonic() - started > READY_TIMEOUT:
            stop(process)
            raise SystemExit(f"the sandbox was not ready in {READY_TIMEOUT} s:\n"
                             + (folder / "stdout.log").read_text())
        time.sleep(0.1)
    return process, json.loads(state_file.read_text()), time.monotonic() - started


def stop(process):
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def workload(base, prefix, auth, run_id, n, clients):
    latencies, errors = [], []
    lock = threading.Lock()

    def one(i):
        session = requests.Session()
        session.headers["X-MLFLOW-WORKSPACE"] = "team-a"  # the edge sets it; direct, we do
        for k in range(n // clients):
            if k % 3 == 2:
                method, path, kwargs = "POST", f"{prefix}/2.0/mlflow/runs/log-metric", {"json": {
                    "run_id": run_id, "key": "bench", "value": float(k), "timestamp": 0,
                    "step": i * n + k}}
            elif k % 3 == 1:
                method, path, kwargs = "GET", f"{prefix}/2.0/mlflow/runs/get", {
                    "params": {"run_id": run_id}}
            else:
                method, path, kwargs = "GET", f"{prefix}/2.0/mlflow/metrics/get-history", {
                    "params": {"run_id": run_id, "metric_key": "bench", "max_results": 10}}
            started = time.perf_counter()
            response = session.request(method, base + path, auth=auth, timeout=30, **kwargs)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status_code != 200:
                    errors.append(response.status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - started


def summary(rounds):
    latencies = sorted(x for r in rounds for x in r[0])
    wall = sum(r[2] for r in rounds)
    return {"rps": len(latencies) / wall, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000,
            "errors": sum(len(r[1]) for r in rounds)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--smoke", action="store_true",
                        help=f"one small run ({SMOKE}), for the test suite; figures meaningless")
    args = parser.parse_args(argv)
    args.warm_up = WARM_UP
    if args.smoke:
        vars(args).update(SMOKE)
    from tests.sandbox_clients import assume_central, id_token
    from mlflow_landing_zone_client import CentralRoleCredentials, SigV4Auth

    with tempfile.TemporaryDirectory() as folder:
        process, state, ready_seconds = start_sandbox(Path(folder))
        try:
            creds = assume_central(state, "contributor")

            class Static(CentralRoleCredentials):
                def frozen(self):
                    from botocore.credentials import Credentials
                    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                                       creds["SessionToken"]).get_frozen_credentials()

            sigv4 = SigV4Auth(Static(None, "us-east-1"), "us-east-1")
            token = id_token(state, "contributor-user")

            def bearer(r):
                r.headers["Authorization"] = f"Bearer {token}"
                return r

            base_gw, base_direct = state["gateway_url"], state["mlflow_url"]
            team = next(t for t in state["teams"] if t["name"] == "team-a")["tracking_uri"]
            run = requests.post(team + "/api/2.0/mlflow/runs/create", auth=sigv4,
                                json={"experiment_id": state["example"]["experiment_id"]}
                                ).json()["run"]["info"]["run_id"]
            access_log = Path(folder) / "access.log"
            before = len(access_log.read_text().splitlines())
            modes = {"MLflow direct": (base_direct, "/api", None),
                     "gateway, SigV4": (team, "/api", sigv4),
                     "gateway, token": (base_gw, "/ajax-api", bearer)}
            workload(base_direct, "/api", None, run, args.warm_up, args.clients)  # warm MLflow up
            rounds = {name: [] for name in modes}
            for _ in range(ROUNDS):  # interleaved, so drift hits every path alike
                for name, (base, prefix, auth) in modes.items():
                    rounds[name].append(workload(base, prefix, auth, run,
                                                 args.requests // ROUNDS, args.clients))
            results = {name: summary(r) for name, r in rounds.items()}
            token_lines = [json.loads(l) for l in access_log.read_text().splitlines()[before:]
                           if '"user": "contributor-user"' in l]
            misses = sum(1 for l in token_lines if l["authorizerLatencyMs"] != "-")
        finally:
            stop(process)
    direct = results["MLflow direct"]
    print(f"start to ready: {ready_seconds:.1f} s (target < 30 s)")
    print(f"{'path':16} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for name, r in results.items():
        print(f"{name:16} {r['rps']:7.0f} {r['p50']:7.1f} {r['p99']:7.1f} {r['errors']:6d}")
    for name in ("gateway, SigV4", "gateway, token"):
        print(f"overhead per request, {name}: {results[name]['p50'] - direct['p50']:.1f} ms at p50")
    if token_lines:
        print(f"authorizer cache hit rate: {1 - misses / len(token_lines):.1%} "
              f"({misses} authorizer calls for {len(token_lines)} token requests)")


if __name__ == "__main__":
    main()
