"""Per-request signing overhead: this client against MLflow's built-in SigV4, in one run.

    python -m benchmarks.client_signing [--requests 2000] [--smoke]

Both sign the same prepared request with the same static credentials. MLflow's built-in path
(`MLFLOW_TRACKING_AWS_SIGV4=true`) builds `AWSSigV4("execute-api")` for every request, which
creates a boto3 session each time; this client resolves credentials once. Target: at least 20x
less overhead. Overhead is signing time minus the time to prepare the unsigned request.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

URL = "https://abcde12345.execute-api.us-east-1.amazonaws.com/prod/api/2.0/mlflow/runs/log-metric"
BODY = {"run_id": "0123456789abcdef", "key": "loss", "value": 0.25, "timestamp": 1, "step": 7}
SMOKE = {"requests": 20}  # --smoke: one small run, for the test suite


def prepared():
    return requests.Request("POST", URL, json=BODY).prepare()


def timed(fn, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6  # microseconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true",
                        help=f"one small run ({SMOKE}), for the test suite; figures meaningless")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    os.environ.update({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
                       "AWS_SESSION_TOKEN": "token", "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.pop("MLFLOW_LANDING_ZONE_ROLE_ARN", None)
    from requests_auth_aws_sigv4 import AWSSigV4

    from mlflow_landing_zone_client.provider import LandingZoneAuthProvider

    ours = LandingZoneAuthProvider().get_auth()
    builtin_n = max(50, args.requests // 10)  # it is slow; fewer samples suffice
    baseline = timed(prepared, args.requests)
    ours_t = timed(lambda: ours(prepared()), args.requests) - baseline
    builtin_t = timed(lambda: AWSSigV4("execute-api")(prepared()), builtin_n) - baseline
    print(f"prepare only: {baseline:.0f} us per request")
    print(f"signing overhead, this client: {ours_t:.0f} us per request")
    print(f"signing overhead, MLflow built-in (MLFLOW_TRACKING_AWS_SIGV4): {builtin_t:.0f} us")
    print(f"ratio: {builtin_t / ours_t:.0f}x less overhead (target >= 20x)")


if __name__ == "__main__":
    main()
