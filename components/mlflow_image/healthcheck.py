"""The container's health check: MLflow answers a query that needs its database.

`/health` answers "OK" without touching the database, so a task whose database connections
fail (a rotated password, a lost network path) would stay in service. ECS runs this every 30 s
(components/tracking_server.py: healthCheck); three failures in a row and ECS replaces the
task. Exit 0 healthy, 1 not, with one line saying why.
"""

import os
import sys
import urllib.error
import urllib.request

from mlflow_landing_zone_server._spec import HEALTH_PATH, LOCAL_HOST, PORT

# MLflow's own address inside the task: allowed by MLFLOW_SERVER_ALLOWED_HOSTS (its job
# runner uses the same), and a search in the `default` workspace reads the database.
URL = f"http://{LOCAL_HOST}:{PORT}{HEALTH_PATH}"


def check(url: str = URL, timeout: float = 5.0) -> tuple:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"{response.status}"
    except urllib.error.HTTPError as e:
        return False, f"{e.code} {e.read()[:200]!r}"
    except OSError as e:
        return False, f"unreachable: {e}"


def main() -> int:
    healthy, detail = check(os.environ.get("MLFLOW_HEALTH_URL", URL))
    print(f"healthcheck: {'healthy' if healthy else 'unhealthy'} ({detail})", flush=True)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
