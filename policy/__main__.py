"""The CrossGuard policy pack: `pulumi preview --policy-pack policy`. Rules live in rules.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for `policy`

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policy.rules import POLICIES  # noqa: E402

PolicyPack(
    name="mlflow-landing-zone",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
