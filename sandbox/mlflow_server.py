"""`mlflow server` as a child process, with the Fargate task's flags where they apply."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from spec.server import POOL_ENV, REGISTRY_ROOT_ENV, SERVER_FLAGS

from .local_server import READ_TIMEOUT_SECONDS

ORPHAN_GUARD = str(Path(__file__).with_name("orphan_guard.py"))
WORKERS = 2  # the Fargate task runs 4 on 1 vCPU; two cores here
# How long MLflow keeps a client's idle connection open: as long as the sandbox's gateway keeps
# one (uvicorn's own 5 s closes a connection the SDK still holds in its pool while a writer
# uploads to S3, and the SDK's next call on it is reset), so that a client straight to MLflow
# meets the same rule as one through the gateway.
KEEP_ALIVE_SECONDS = READ_TIMEOUT_SECONDS
# How long uvicorn waits for a worker's answer to its health ping before it kills the worker as
# hung and starts another: its 5 s kills healthy workers on a loaded machine (seen 18 times in
# one start at a load average of 65), and each new worker's start loads the machine more.
WORKER_HEALTHCHECK_SECONDS = 60


class MlflowServer:
    def __init__(self, port: int, backend_store_uri: str, artifact_root: str, registry_root: str,
                 aws_env: dict, log_path: Path, ui_origin: str = None, python: str = None):
        self.port = port
        self.python = python or sys.executable  # another's: an upgrade's rehearsal
        self.url = f"http://127.0.0.1:{port}"
        self.backend_store_uri = backend_store_uri
        self.artifact_root = artifact_root
        self.registry_root = registry_root
        self.ui_origin = ui_origin  # the one browser origin MLflow admits writes from
        self.aws_env = aws_env
        self.log_path = log_path
        self.process = None

    def command(self):
        # The image's flags (spec.server.SERVER_FLAGS: artifacts to S3 directly, workspaces
        # on, registered versions frozen), and only the host the gateway sends is allowed.
        return [self.python, "-m", "mlflow", "server",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(WORKERS),
                "--uvicorn-opts", f"--timeout-keep-alive {KEEP_ALIVE_SECONDS} "
                                  f"--timeout-worker-healthcheck {WORKER_HEALTHCHECK_SECONDS}",
                "--backend-store-uri", self.backend_store_uri,
                "--default-artifact-root", self.artifact_root,
                *SERVER_FLAGS,
                "--allowed-hosts", f"127.0.0.1:{self.port},localhost:{self.port}"]

    # A cold start takes ~10 s on a quiet laptop and several times that on a loaded CI machine;
    # the wait ends early when the process exits, so a generous bound costs nothing.
    def start(self, timeout: float = 180.0):
        env = {**os.environ, **self.aws_env, REGISTRY_ROOT_ENV: self.registry_root,
               **({"MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": self.ui_origin}
                  if self.ui_origin else {}),
               "MLFLOW_DISABLE_TELEMETRY": "true",
               "DO_NOT_TRACK": "true", "PYTHONUNBUFFERED": "1",
               # each worker's database pool, as the image's entrypoint sets it: two
               # connections for each handler the app runs at once (spec/server.py); 2 workers
               # x 20 per store stay under PostgreSQL's 100
               **{k: v for k, v in POOL_ENV.items() if k not in os.environ}}
        log = open(self.log_path, "ab")
        # The server runs under a guard that ends its process group if this process dies
        # without stopping it (sandbox/orphan_guard.py).
        self.process = subprocess.Popen(
            [sys.executable, ORPHAN_GUARD, str(os.getpid()), "--", *self.command()],
            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.wait_healthy(timeout)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_healthy(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}; "
                                   f"see {self.log_path}")
            if self.healthy():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer /health within {timeout:.0f} s; "
                           f"see {self.log_path}")

    def stop(self, timeout: float = 10.0):
        if self.process is None or self.process.poll() is not None:
            return
        # The server and its workers share a process group: stop them all.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def ensure_workspaces(mlflow_url: str, names) -> list:
    """Create the workspaces that do not exist yet (what the tracking server's entrypoint does
    on AWS at every start); return the names created."""
    created = []
    for name in names:
        request = urllib.request.Request(
            f"{mlflow_url}/api/3.0/mlflow/workspaces", method="POST",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30):
                created.append(name)
        except urllib.error.HTTPError as e:
            if json.loads(e.read() or b"{}").get("error_code") != "RESOURCE_ALREADY_EXISTS":
                raise
    return created
