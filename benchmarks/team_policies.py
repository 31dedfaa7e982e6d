"""How big the team roles' execute-api policies are, at the worst case the config allows.

    python -m benchmarks.team_policies [--smoke]

Per level: the policy a team role carries for its own workspace (every SDK route under
`/<team>/`, with the longest team name the config accepts, 32 characters, and a long region),
beside the platform's `/api` policy of the same level (no team prefix); how many managed
policies of IAM's 6,144 characters it takes, the largest of them, and the room left in the 10
managed policies a role may carry after one shared workspace (reader's policies).
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roles import LEVELS, MANAGED_POLICY_LIMIT, iam_policy, managed_policies, policy_size  # noqa: E402

API_ARN = "arn:aws:execute-api:ap-southeast-2:111111111111:abcde12345/prod"
LONGEST_TEAM = "t" + "e" * 30 + "m"
ROLE_QUOTA = 10  # managed policies per role, IAM's default quota


def row(level, workspace):
    documents = managed_policies(level, API_ARN, workspace)
    whole = policy_size(iam_policy(level, API_ARN, workspace))
    return len(documents), max(policy_size(d) for d in documents), whole


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # It computes, it does not time: the smoke run (the test suite's) is the whole run.
    parser.add_argument("--smoke", action="store_true", help="the same run (for the test suite)")
    parser.parse_args(argv)
    reader = len(managed_policies("reader", API_ARN, LONGEST_TEAM))
    print(f"team name of {len(LONGEST_TEAM)} characters, {API_ARN.split(':')[3]}; "
          f"managed policy limit {MANAGED_POLICY_LIMIT}")
    print(f"{'level':15} {'/api: docs':>10} {'largest':>8} {'whole':>7}   "
          f"{'team: docs':>10} {'largest':>8} {'whole':>7}   {'left after 1 share':>18}")
    for level in LEVELS:
        a_docs, a_max, a_whole = row(level, None)
        t_docs, t_max, t_whole = row(level, LONGEST_TEAM)
        left = ROLE_QUOTA - t_docs - reader
        print(f"{level:15} {a_docs:10d} {a_max:8d} {a_whole:7d}   {t_docs:10d} {t_max:8d} "
              f"{t_whole:7d}   {left:18d}")


if __name__ == "__main__":
    main()
