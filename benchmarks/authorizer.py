"""Authorizer performance: warm decision time and cold import time, measured in one run.

    python -m benchmarks.authorizer [--decisions 5000] [--imports 15] [--smoke]

Targets (issue 4): p50 under 1 ms for a valid token with cached JWKS; handler import under
300 ms. The decision is the common one since teams: a member of team-a (contributor there,
and in team-b's group as reader) calls with team-a's workspace and is allowed, with the
authorizer configured as the sandbox's (the platform's groups, team-b shared with team-a).
Each decision is timed beside one bare PyJWT RS256 decode of the same token, interleaved, so
a noisy machine slows both alike (issue 25's goal: the decision at most 1.5x the bare decode);
the authorizer's log line goes to a handler, as in Lambda, so its cost is counted. Import time
is the median of fresh interpreters importing the handler, minus the median of fresh
interpreters importing nothing, so interpreter start-up is not counted.
"""

import argparse
import io
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from authorizer.handler import Authorizer  # noqa: E402
from authorizer.tokens import JwksCache, TokenVerifier  # noqa: E402
from spec.accounts import PLATFORM_GROUP_LEVELS, team_group  # noqa: E402
from roles import authorizer_rules  # noqa: E402
from tests.cognito_keys import CLIENT_ID, ISSUER, Pool  # noqa: E402

API = "arn:aws:execute-api:us-east-1:111111111111:abcde12345/prod"
WORKSPACES = {"team-a": [], "team-b": ["team-a"]}  # as the sandbox's: team-b lets team-a read
SMOKE = {"decisions": 20, "imports": 1}  # --smoke: one small run, for the test suite


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def warm_decisions(n):
    pool = Pool()
    try:
        authorizer = Authorizer(
            TokenVerifier(issuer=ISSUER, client_ids=[CLIENT_ID], jwks=JwksCache(pool.jwks_url)),
            authorizer_rules(), PLATFORM_GROUP_LEVELS, WORKSPACES)
        token = pool.token(groups=[team_group("team-a", "contributor"),
                                   team_group("team-b", "reader")])
        event = {"methodArn": f"{API}/GET/ajax-api/2.0/mlflow/experiments/get",
                 "headers": {"Authorization": f"Bearer {token}", "X-MLFLOW-WORKSPACE": "team-a"}}
        first = authorizer.authorize(event)  # fetches the JWKS once
        effects = [s["Effect"] for s in first["policyDocument"]["Statement"]]
        if "Allow" not in effects or first["context"]["levels"] != "contributor":
            raise SystemExit(f"not the decision this measures (an allow for contributor): {first}")
        import jwt

        key = pool.keys[0].private.public_key()
        sink = logging.StreamHandler(io.StringIO())  # Lambda's runtime writes every INFO line
        logging.getLogger("authorizer").addHandler(sink)
        times, bare = [], []
        try:
            for _ in range(n):
                start = time.perf_counter()
                authorizer.authorize(event)
                middle = time.perf_counter()
                jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})
                end = time.perf_counter()
                times.append((middle - start) * 1000)
                bare.append((end - middle) * 1000)
        finally:
            logging.getLogger("authorizer").removeHandler(sink)
        return times, bare, pool.fetches
    finally:
        pool.close()


def import_time(n, statement):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--imports", type=int, default=15)
    parser.add_argument("--smoke", action="store_true",
                        help=f"one small run ({SMOKE}), for the test suite; figures meaningless")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    times, bare, fetches = warm_decisions(args.decisions)
    baseline = import_time(args.imports, "pass")
    handler = import_time(args.imports, "import authorizer.handler")
    print(f"warm decision ({args.decisions} calls, JWKS fetched {fetches}x): "
          f"p50 {percentile(times, 50):.3f} ms, p99 {percentile(times, 99):.3f} ms "
          f"(target p50 < 1 ms)")
    print(f"bare PyJWT RS256 decode of the same token, interleaved: "
          f"p50 {percentile(bare, 50):.3f} ms; the decision is "
          f"{percentile(times, 50) / percentile(bare, 50):.2f}x it (goal <= 1.5x)")
    print(f"cold import of authorizer.handler: {handler - baseline:.0f} ms "
          f"(interpreter alone {baseline:.0f} ms; target < 300 ms)")


if __name__ == "__main__":
    main()
