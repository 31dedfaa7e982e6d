"""Many teams writing at once, on PostgreSQL: the gateway against MLflow direct, in one run.

    python -m benchmarks.load [--teams 20] [--writers 10] [--runs 2] [--batches 3]
                              [--time-cap 300] [--rounds 1] [--logs DIR] [--smoke]

Generates a stack config of `--teams` teams (benchmarks.scale's: 32-character names, every
level, each workspace shared with 5 others), starts one `python -m sandbox --database
postgresql` on it, then runs the same load twice, each team in a process of its own with
`--writers` threads, every writer with the real MLflow client:

- "gateway, SigV4": as the team's contributor (this repo's client, MLFLOW_TRACKING_AUTH=
  landing-zone, assuming the central role), at the team's base URL;
- "MLflow direct": straight to MLflow's port, naming the team's workspace (MLFLOW_WORKSPACE:
  the X-MLFLOW-WORKSPACE header the gateway would set), artifacts to S3 with the same role.

A writer's run: create it, log `--batches` batches of metrics (log_batch, KEYS x STEPS each),
log a small model folder as artifacts (to S3, as the SDK does), end it. One writer per team
then registers a version from its first run. Bounded by count (`--runs` per writer) and by
time (no writer starts a run after `--time-cap` seconds). Retries are off: a failed call is
an error, not a slow success.

Afterwards every acknowledged write is counted in MLflow (runs searched per workspace, each
metric's history, each run's artifacts listed, each version READY): what is missing is "lost".
Reports ops/s, p50/p99 per path and per operation, errors, lost writes and the gateway's share
of direct throughput (target >= 90 %, a figure, not a pass mark). Exits 1 on any error or
lost write. Beside each path's errors it prints what the servers answered with 400 or more
during that path's run, from their logs (the gateway's access log says why for what it
answered itself, e.g. 504 "Endpoint request timed out"); `--logs DIR` keeps the sandbox's logs.
"""

import argparse
import collections
import json
import os
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = 3  # metrics per step in a batch
STEPS = 10  # steps per batch: a batch is KEYS x STEPS metrics
ARTIFACT_BYTES = 1024  # weights.bin, beside a small MLmodel
MLMODEL = "artifact_path: model\nflavors: {}\n"
TARGET = 0.90  # the gateway's throughput as a share of direct's (issue 25)
READY_TIMEOUT = 600  # seconds for the sandbox (20 teams' roles, groups, workspaces)
SETUP_TIMEOUT = 300  # seconds for the team processes to import MLflow and be ready
SMOKE = {"teams": 2, "writers": 2, "runs": 1, "batches": 1, "time_cap": 120}
PATHS = {"direct": "MLflow direct", "gateway": "gateway, SigV4"}
OPS = ("create_run", "log_batch", "log_artifacts", "end_run", "register")
sys.path.insert(0, str(ROOT))


def write_config(folder: Path, teams: int) -> tuple:
    """A central stack config of `teams` teams (and an empty users file: SigV4 writers sign in
    to nothing) in `folder`; their paths."""
    import yaml

    from benchmarks.scale import scale_config

    config = folder / "Pulumi.load.yaml"
    config.write_text(yaml.safe_dump({"config": scale_config(teams)}, sort_keys=False))
    users = folder / "users.yaml"
    users.write_text("users: []\n")
    return config, users


# --- one team's process ---------------------------------------------------------------------

def _environment(path: str, team: dict, state: dict) -> str:
    """Set this process's environment for `path`; the tracking URI."""
    role = next(r for r in team["roles"] if r["level"] == "contributor")
    os.environ.update({"AWS_ENDPOINT_URL": state["aws"]["endpoint_url"],
                       "AWS_DEFAULT_REGION": state["aws"]["region"],
                       "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # an error is an error
                       "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
                       "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"})  # a run's link
    for k in ("MLFLOW_TRACKING_AUTH", "MLFLOW_WORKSPACE", "MLFLOW_TRACKING_AWS_SIGV4",
              "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(k, None)
    if path == "gateway":  # as a SageMaker job: the team account's session, the central role
        os.environ.update({"MLFLOW_TRACKING_AUTH": "landing-zone",
                           "MLFLOW_LANDING_ZONE_ROLE_ARN": role["central_role_arn"],
                           "AWS_ACCESS_KEY_ID": role["credentials"]["AccessKeyId"],
                           "AWS_SECRET_ACCESS_KEY": role["credentials"]["SecretAccessKey"],
                           "AWS_SESSION_TOKEN": role["credentials"]["SessionToken"]})
        return team["tracking_uri"]
    import boto3  # direct: the same central role's credentials, for S3 only

    sts = boto3.client("sts", endpoint_url=state["aws"]["endpoint_url"],
                       region_name=state["aws"]["region"],
                       aws_access_key_id=role["credentials"]["AccessKeyId"],
                       aws_secret_access_key=role["credentials"]["SecretAccessKey"],
                       aws_session_token=role["credentials"]["SessionToken"])
    c = sts.assume_role(RoleArn=role["central_role_arn"],
                        RoleSessionName="load-direct")["Credentials"]
    os.environ.update({"MLFLOW_WORKSPACE": team["workspace"],
                       "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
                       "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                       "AWS_SESSION_TOKEN": c["SessionToken"]})
    return state["mlflow_url"]


def why(error: Exception) -> str:
    """An error as the report shows it: the HTTP status first where the client only says it in
    the middle of a long message ("too many 504 error responses")."""
    text = f"{type(error).__name__}: {error}"
    status = re.search(r"too many (\d{3}) error responses", text)
    return (f"HTTP {status.group(1)}: " if status else "") + text[:300]


def team_process(path, label, team, state, load, messages, start):
    """One team: set up (untimed), say ready, wait for `start`, run the writers, report."""
    try:
        uri = _environment(path, team, state)
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        experiment = client.create_experiment(label)
        model = label
        client.create_registered_model(model)
        folder = Path(tempfile.mkdtemp(prefix="load-model-"))
        (folder / "MLmodel").write_text(MLMODEL)
        (folder / "weights.bin").write_bytes(b"w" * ARTIFACT_BYTES)
    except Exception as e:
        messages.put(("ready", team["name"], f"{type(e).__name__}: {e}"))
        return
    messages.put(("ready", team["name"], None))
    start.wait()
    began = time.time()
    deadline = began + load["time_cap"]
    lock = threading.Lock()
    latencies, errors, runs, versions = [], [], {}, []

    def timed(op, call):
        t = time.perf_counter()
        try:
            result = call()
        except Exception as e:
            with lock:
                errors.append((op, why(e)))
            raise
        with lock:
            latencies.append((op, time.perf_counter() - t))
        return result

    def writer(w):
        first = None
        for r in range(load["runs"]):
            if time.time() > deadline:
                return
            try:
                run = timed("create_run", lambda: client.create_run(
                    experiment, run_name=f"w{w}-r{r}").info.run_id)
            except Exception:
                continue
            done = runs[run] = {"batches": [], "artifacts": False, "ended": False}
            try:
                for b in range(load["batches"]):
                    ms = int(time.time() * 1000)
                    metrics = [Metric(f"m{k}", float(b * STEPS + s), ms, b * STEPS + s)
                               for s in range(STEPS) for k in range(KEYS)]
                    timed("log_batch", lambda: client.log_batch(run, metrics=metrics))
                    done["batches"].append(b)
                timed("log_artifacts", lambda: client.log_artifacts(run, str(folder), "model"))
                done["artifacts"] = True
                timed("end_run", lambda: client.set_terminated(run))
                done["ended"] = True
            except Exception:
                continue
            first = first or run
        if w == 0 and first:
            try:
                versions.append(timed("register", lambda: client.create_model_version(
                    model, f"runs:/{first}/model", run_id=first).version))
            except Exception:
                pass

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(load["writers"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    messages.put(("done", team["name"], {
        "experiment": experiment, "model": model, "latencies": latencies, "errors": errors,
        "runs": runs, "versions": versions, "began": began, "ended": time.time(),
        "cut": time.time() > deadline}))


def _next(messages, deadline, why):
    import queue

    try:
        return messages.get(timeout=max(1, deadline - time.monotonic()))
    except queue.Empty:
        raise SystemExit(why) from None


def run_phase(path, label, state, load):
    """Every team's process at once; {team: its report}, and the phase's wall seconds."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    messages, start = context.Queue(), context.Event()
    processes = [context.Process(target=team_process, daemon=True,
                                 args=(path, label, team, state, load, messages, start))
                 for team in state["teams"]]
    for p in processes:
        p.start()
    reports, failed = {}, {}
    try:
        deadline = time.monotonic() + SETUP_TIMEOUT
        ready = 0
        while ready + len(failed) < len(processes):
            kind, team, error = _next(messages, deadline, f"{PATHS[path]}: teams not ready in "
                                                          f"{SETUP_TIMEOUT} s")
            if error:
                failed[team] = error
            else:
                ready += 1
        if failed:
            raise SystemExit(f"{PATHS[path]}: teams failed to set up: {failed}")
        began = time.time()
        start.set()
        deadline = time.monotonic() + load["time_cap"] + 120  # the runs under way finish
        while len(reports) < len(processes):
            kind, team, report = _next(messages, deadline, f"{PATHS[path]}: writers still "
                                                           f"busy 120 s after the time cap")
            reports[team] = report
        wall = max(r["ended"] for r in reports.values()) - began
    finally:
        for p in processes:
            p.join(10)
            if p.is_alive():
                p.kill()
    return reports, wall


# --- counted afterwards, in MLflow ------------------------------------------------------------

def count_lost(state, reports) -> tuple:
    """(writes lost, details): every acknowledged write looked up in MLflow directly."""
    import requests

    base = state["mlflow_url"] + "/api/2.0/mlflow"
    local = threading.local()

    def get(team, method, route, **kwargs):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.request(method, f"{base}/{route}", timeout=60,
                                         headers={"X-MLFLOW-WORKSPACE": team}, **kwargs)
        response.raise_for_status()
        return response.json()

    def team_lost(team, report):
        lost = []
        found, token = {}, None
        while True:
            page = get(team, "POST", "runs/search", json={
                "experiment_ids": [report["experiment"]], "max_results": 1000,
                **({"page_token": token} if token else {})})
            found.update({r["info"]["run_id"]: r["info"] for r in page.get("runs", [])})
            token = page.get("next_page_token")
            if not token:
                break
        for run, done in report["runs"].items():
            if run not in found:
                lost.append(f"{team}: run {run} not found")
                continue
            if done["ended"] and found[run]["status"] != "FINISHED":
                lost.append(f"{team}: run {run} is {found[run]['status']}, not FINISHED")
            for k in range(KEYS):
                points = get(team, "GET", "metrics/get-history", params={
                    "run_id": run, "metric_key": f"m{k}", "max_results": 25000}).get("metrics", [])
                # acknowledged batches only: a call that failed may still have been written
                expected = {b * STEPS + s for b in done["batches"] for s in range(STEPS)}
                missing = expected - {p["step"] for p in points}
                if missing:
                    lost.append(f"{team}: run {run} m{k}: {len(missing)} acknowledged points "
                                f"missing")
            if done["artifacts"]:
                files = get(team, "GET", "artifacts/list",
                            params={"run_id": run, "path": "model"}).get("files", [])
                sizes = {f["path"]: int(f.get("file_size", -1)) for f in files}
                if sizes != {"model/MLmodel": len(MLMODEL), "model/weights.bin": ARTIFACT_BYTES}:
                    lost.append(f"{team}: run {run} artifacts: {sizes}")
        for version in report["versions"]:
            status, deadline = None, time.monotonic() + 60
            while status != "READY" and time.monotonic() < deadline:
                try:
                    status = get(team, "GET", "model-versions/get", params={
                        "name": report["model"], "version": version})["model_version"]["status"]
                except requests.HTTPError as e:
                    status = f"not found ({e.response.status_code})"
                    break
                if status == "PENDING_REGISTRATION":
                    time.sleep(0.5)
            if status != "READY":
                lost.append(f"{team}: version {version} of {report['model']} is {status}")
        return lost

    with ThreadPoolExecutor(4) as pool:
        details = [x for lost in pool.map(lambda item: team_lost(*item), reports.items())
                   for x in lost]
    return len(details), details


# --- what the servers answered, from their logs ----------------------------------------------

LOGS = {"gateway": "access.log", "mlflow": "mlflow.log"}  # in the sandbox's state directory
_UVICORN_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


def log_sizes(state_dir: Path) -> dict:
    return {k: (state_dir / name).stat().st_size for k, name in LOGS.items()}


def refusals_since(state_dir: Path, sizes: dict) -> dict:
    """{"gateway": Counter, "mlflow": Counter} of the answers of 400 or more each server logged
    after `sizes`: the gateway's JSON access log (its status and why, for what it answered
    itself) and uvicorn's access lines in MLflow's log."""
    found = {k: collections.Counter() for k in LOGS}
    for key, name in LOGS.items():
        with open(state_dir / name, "rb") as log:
            log.seek(sizes[key])
            lines = log.read().decode("utf-8", "replace").splitlines()
        for line in lines:
            if key == "gateway":
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if int(record.get("status", 0)) >= 400:
                    route = record["path"].rsplit("/mlflow/", 1)[-1]
                    found[key][(record["status"], route,
                                record.get("error", "MLflow's answer"))] += 1
            else:
                match = _UVICORN_LINE.search(line)
                if match and int(match["status"]) >= 400:
                    route = match["path"].split("?")[0].rsplit("/mlflow/", 1)[-1]
                    found[key][(int(match["status"]), route, "")] += 1
    return found


# --- the report -------------------------------------------------------------------------------

def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def summary(rounds) -> dict:
    """One path's figures over its rounds: [(reports, wall seconds, writes lost, details)]."""
    reports = {f"{i}/{team}": r for i, (round_reports, *_) in enumerate(rounds)
               for team, r in round_reports.items()}
    wall, lost = sum(r[1] for r in rounds), sum(r[2] for r in rounds)
    latencies = [x for r in reports.values() for x in r["latencies"]]
    by_op = {op: [s for o, s in latencies if o == op] for op in OPS}
    return {"ops": len(latencies), "wall": wall, "ops_s": len(latencies) / wall,
            "p50": percentile([s for _, s in latencies], 0.5),
            "p99": percentile([s for _, s in latencies], 0.99),
            "errors": sum(len(r["errors"]) for r in reports.values()), "lost": lost,
            "runs": sum(len(r["runs"]) for r in reports.values()),
            "cut": sum(1 for r in reports.values() if r["cut"]),
            "by_op": {op: (len(v), percentile(v, 0.5), percentile(v, 0.99))
                      for op, v in by_op.items()},
            "error_samples": [f"{team}: {op}: {msg}" for team, r in reports.items()
                              for op, msg in r["errors"]][:5],
            "lost_samples": [x for r in rounds for x in r[3]][:5]}


def keep_logs(state_dir: Path, target: Path):
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    for name in ("access.log", "mlflow.log", "stdout.log", "postgres/postgres.log"):
        if (state_dir / name).is_file():
            shutil.copy(state_dir / name, target / Path(name).name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--writers", type=int, default=10, help="concurrent writers per team")
    parser.add_argument("--runs", type=int, default=2, help="runs per writer")
    parser.add_argument("--batches", type=int, default=3,
                        help=f"log_batch calls per run ({KEYS} x {STEPS} metrics each)")
    parser.add_argument("--time-cap", type=float, default=300,
                        help="seconds per path after which no writer starts another run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of both paths, alternating which goes first (a shared "
                             "machine's drift then hits both alike)")
    parser.add_argument("--logs", type=Path, default=None,
                        help="a folder to keep the sandbox's logs in (the gateway's access log, "
                             "MLflow's and PostgreSQL's), for a run whose errors need a look")
    parser.add_argument("--smoke", action="store_true",
                        help=f"one small run ({SMOKE}), for the test suite; figures meaningless")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    if min(args.teams, args.writers, args.runs, args.batches, args.rounds) < 1:
        parser.error("--teams, --writers, --runs, --batches and --rounds must be at least 1")
    load = {k: getattr(args, k) for k in ("writers", "runs", "batches", "time_cap")}
    from tests.sandbox_process import start_sandbox, stop_sandbox

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="load-bench-") as folder:
        folder = Path(folder)
        config, users = write_config(folder, args.teams)
        (folder / "state").mkdir()
        started = time.monotonic()
        process, state = start_sandbox(folder / "state" / "sandbox.json", "--database",
                                       "postgresql", "--stack-config", str(config),
                                       "--users", str(users), timeout=READY_TIMEOUT)
        ready_seconds = time.monotonic() - started
        rounds = {"gateway": [], "direct": []}
        refused = {path: {server: collections.Counter() for server in LOGS} for path in rounds}
        try:
            if state["database"]["kind"] != "postgresql":
                raise SystemExit(f"the sandbox runs on {state['database']['kind']}")
            for i in range(args.rounds):
                for path in ("gateway", "direct") if i % 2 == 0 else ("direct", "gateway"):
                    sizes = log_sizes(folder / "state")
                    reports, wall = run_phase(path, f"load-{path}-{i}", state, load)
                    for server, found in refusals_since(folder / "state", sizes).items():
                        refused[path][server].update(found)
                    rounds[path].append((reports, wall, *count_lost(state, reports)))
        finally:
            stop_sandbox(process)
            if args.logs:
                keep_logs(folder / "state", args.logs)
        results = {path: summary(r) for path, r in rounds.items()}
    load_after = os.getloadavg()

    print(f"load: {args.teams} teams x {args.writers} writers x {args.runs} runs, "
          f"{args.rounds} round(s) each way "
          f"({args.batches} batches of {KEYS * STEPS} metrics, "
          f"{ARTIFACT_BYTES + len(MLMODEL)} bytes of artifacts each), 1 registered version per "
          f"team; PostgreSQL; time cap {args.time_cap:.0f} s")
    print(f"sandbox start to ready: {ready_seconds:.1f} s; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'path':16} {'ops':>6} {'wall s':>7} {'ops/s':>7} {'p50 ms':>7} {'p99 ms':>8} "
          f"{'errors':>6} {'lost':>5}")
    for path in ("direct", "gateway"):
        r = results[path]
        print(f"{PATHS[path]:16} {r['ops']:6d} {r['wall']:7.1f} {r['ops_s']:7.1f} "
              f"{r['p50']:7.1f} {r['p99']:8.1f} {r['errors']:6d} {r['lost']:5d}")
    print("per operation, count p50/p99 ms:")
    for op in OPS:
        cells = "  ".join(f"{PATHS[p]}: {results[p]['by_op'][op][0]:5d} "
                          f"{results[p]['by_op'][op][1]:7.1f} / {results[p]['by_op'][op][2]:7.1f}"
                          for p in ("direct", "gateway"))
        print(f"  {op:14} {cells}")
    ratio = results["gateway"]["ops_s"] / results["direct"]["ops_s"]
    errors = results["gateway"]["errors"] + results["direct"]["errors"]
    print(f"gateway / direct throughput: {ratio:.2f} (target >= {TARGET:.2f}: "
          f"{'met' if ratio >= TARGET else 'not met'}"
          f"{'; meaningless, calls failed' if errors else ''})")
    failed = False
    for path in ("direct", "gateway"):
        r = results[path]
        if r["cut"]:
            print(f"{PATHS[path]}: the time cap stopped {r['cut']} teams' writers early "
                  f"({r['runs']} runs written)")
        for sample in r["error_samples"]:
            print(f"{PATHS[path]} error: {sample}")
        for sample in r["lost_samples"]:
            print(f"{PATHS[path]} lost: {sample}")
        for server in ("gateway", "mlflow") if path == "gateway" else ("mlflow",):
            for (status, route, reason), n in refused[path][server].most_common(5):
                print(f"{PATHS[path]}: {server} answered {status} to {route} {n} times"
                      + (f" ({reason})" if reason else ""))
        failed = failed or r["errors"] > 0 or r["lost"] > 0 or r["runs"] == 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
