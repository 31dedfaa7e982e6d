"""What the service worker costs a request, and how long sign-in takes, in one run.

    python -m benchmarks.ui_service_worker [--requests 200] [--smoke]

Starts `python -m sandbox`, then in headless Chromium makes the same API request from a page
of the UI's origin two ways, in alternating rounds: through the service worker (which holds
the session in its memory and adds the token, as for every request of MLflow's UI), and with
the token set by the page itself in a context where service workers are blocked (the token
from a sign-in of the same user at the emulated Cognito, as the shell's would be; the page
never sees the worker's). Both name team-a's workspace, as MLflow's UI does. Reports p50/p99
latency of each and the worker's overhead, plus the time from pressing "Sign in" to MLflow's
first page showing the example experiment.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from .sandbox_gateway import ROOT, start_sandbox, stop

sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM_ARGS, Session, chromium_path  # noqa: E402
from tests.sandbox_clients import id_token  # noqa: E402

ROUNDS = 3
SMOKE = {"requests": 5, "rounds": 1}  # --smoke: one small run, for the test suite
USER, WORKSPACE = "reader-user", "team-a"
PATH = "/ajax-api/2.0/mlflow/experiments/search?max_results=1"
LOOP = """async ([path, n, headers]) => {
    const times = [];
    for (let i = 0; i < n; i++) {
        const started = performance.now();
        const r = await fetch(path, {headers});
        await r.text();
        if (r.status !== 200) throw new Error('status ' + r.status);
        times.push(performance.now() - started);
    }
    return times;
}"""


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ui_service_worker")
    parser.add_argument("--requests", type=int, default=200, help="per way and round")
    parser.add_argument("--smoke", action="store_true",
                        help=f"one small run ({SMOKE}), for the test suite; figures meaningless")
    args = parser.parse_args(argv)
    args.rounds = ROUNDS
    if args.smoke:
        vars(args).update(SMOKE)
    with tempfile.TemporaryDirectory() as folder:
        process, state, _ = start_sandbox(Path(folder))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_path(),
                                                     args=CHROMIUM_ARGS)
                sign_in = []
                for _ in range(args.rounds):
                    session = Session(browser, state)
                    session.open()
                    started = time.perf_counter()
                    session.sign_in(USER)
                    session.mlflow.get_by_role("link", name="sandbox-example").first.wait_for()
                    sign_in.append(time.perf_counter() - started)
                    session.close()

                worker = Session(browser, state)
                worker.open()
                worker.sign_in(USER)
                plain_context = browser.new_context(service_workers="block")
                plain = plain_context.new_page()
                plain.goto(state["ui_url"] + "/bundle-manifest.json")
                # The worker keeps its tokens from every page; the page's own comes from a
                # sign-in of the same user.
                token = id_token(state, USER)
                through_worker, by_page = [], []
                for _ in range(args.rounds):
                    through_worker += worker.page.evaluate(
                        LOOP, [PATH, args.requests, {"X-MLFLOW-WORKSPACE": WORKSPACE}])
                    by_page += plain.evaluate(
                        LOOP, [PATH, args.requests, {"Authorization": "Bearer " + token,
                                                     "X-MLFLOW-WORKSPACE": WORKSPACE}])
                browser.close()
        finally:
            stop(process)

    rows = [("through the service worker", through_worker), ("token set by the page", by_page)]
    print(f"{args.rounds} rounds x {args.requests} requests each way, {PATH}")
    print(f"{'way':30} {'p50 ms':>8} {'p99 ms':>8}")
    for name, times in rows:
        print(f"{name:30} {statistics.median(times):8.2f} {percentile(times, 0.99):8.2f}")
    overhead = statistics.median(through_worker) - statistics.median(by_page)
    print(f"service worker overhead: {overhead:.2f} ms per request at p50 "
          f"({statistics.median(through_worker) / statistics.median(by_page):.2f}x)")
    print(f"sign-in to MLflow's first page: median {statistics.median(sign_in):.2f} s "
          f"of {args.rounds} (fresh browser profile each)")


if __name__ == "__main__":
    main()
