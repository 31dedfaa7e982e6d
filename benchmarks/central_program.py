"""How long the whole central program takes under Pulumi mocks (target: under 5 s).

    python -m benchmarks.central_program [--runs 3] [--smoke]

Cold: a fresh interpreter imports everything and runs the program once (what a test session
pays). Warm: further runs in the same process (what each extra mocks test pays).
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_RUN = ("from tests.pulumi_program import run_program, stack_config; "
           "run_program(stack_config('central'))")
SMOKE = {"runs": 1}  # --smoke: one small run, for the test suite


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true",
                        help=f"one small run ({SMOKE}), for the test suite; figures meaningless")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    cold = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", ONE_RUN], cwd=ROOT, check=True)
        cold.append(time.perf_counter() - start)
    sys.path.insert(0, str(ROOT))
    from tests.pulumi_program import run_program, stack_config

    run_program(stack_config("central"))
    warm = []
    for _ in range(args.runs):
        start = time.perf_counter()
        inventory = run_program(stack_config("central"))
        warm.append(time.perf_counter() - start)
    print(f"central program under mocks, {len(inventory.resources)} resources: "
          f"cold {statistics.median(cold):.2f} s (fresh interpreter, imports included), "
          f"warm {statistics.median(warm):.2f} s; target under 5 s")


if __name__ == "__main__":
    main()
