"""The example a newcomer finds in the sandbox's UI, in the first team's workspace: one experiment, one finished run with
parameters, a metric over 30 steps, two files and a model (an MLmodel a model approver can
register). Written once, straight to MLflow and
S3 (as the tracking server itself would store it); kept across restarts with the rest."""

import json
import math
import time
import urllib.request
from importlib.metadata import version

from spec.edge import WORKSPACE_HEADER

EXPERIMENT = "sandbox-example"
RUN_NAME = "first-run"
METRIC = "loss"
ARTIFACTS = {
    "notes.txt": b"Logged by the sandbox at start-up.\nThese bytes are what Download returns.\n",
    "config/params.json": json.dumps({"learning_rate": 0.01, "epochs": 30}, indent=2).encode(),
    "model/MLmodel": f"""artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
    python_version: 3.11.7
mlflow_version: {version("mlflow")}
""".encode(),
}


def _call(mlflow_url, workspace, method, path, body=None):
    request = urllib.request.Request(
        f"{mlflow_url}/api/2.0/mlflow/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", WORKSPACE_HEADER: workspace})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def seed(mlflow_url: str, s3, bucket: str, workspace: str) -> dict:
    """Create the example in `workspace` (the first team's) if it is not there yet; return its
    ids."""
    def call(*args):
        return _call(mlflow_url, workspace, *args)

    found = call("POST", "experiments/search",
                 {"filter": f"name = '{EXPERIMENT}'", "max_results": 1}).get("experiments")
    if found:
        experiment_id = found[0]["experiment_id"]
        runs = call("POST", "runs/search",
                    {"experiment_ids": [experiment_id], "max_results": 1}).get("runs", [])
        if runs:
            return {"experiment": EXPERIMENT, "experiment_id": experiment_id,
                    "run_id": runs[0]["info"]["run_id"], "artifacts": sorted(ARTIFACTS),
                    "workspace": workspace}
    else:
        experiment_id = call("POST", "experiments/create",
                             {"name": EXPERIMENT})["experiment_id"]
    now = int(time.time() * 1000)
    run = call("POST", "runs/create", {
        "experiment_id": experiment_id, "run_name": RUN_NAME, "start_time": now,
        "tags": [{"key": "mlflow.user", "value": "sandbox"}]})["run"]["info"]
    call("POST", "runs/log-batch", {
        "run_id": run["run_id"],
        "params": [{"key": "learning_rate", "value": "0.01"}, {"key": "epochs", "value": "30"}],
        "metrics": [{"key": METRIC, "value": round(2.0 * math.exp(-step / 8) + 0.1, 4),
                     "timestamp": now + step, "step": step} for step in range(30)]})
    prefix = run["artifact_uri"].removeprefix(f"s3://{bucket}/")
    for name, data in ARTIFACTS.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=data)
    call("POST", "runs/update", {"run_id": run["run_id"], "status": "FINISHED",
                                 "end_time": now + 30})
    return {"experiment": EXPERIMENT, "experiment_id": experiment_id, "run_id": run["run_id"],
            "artifacts": sorted(ARTIFACTS), "workspace": workspace}
