"""The Pulumi program: reads the stack config and builds that half of the landing zone."""

import pulumi

ACCOUNT_TYPES = ("central", "datascience")

account_type = pulumi.Config().require("accountType")
if account_type not in ACCOUNT_TYPES:
    raise pulumi.RunError(
        f"config key mlflow-landing-zone:accountType must be one of {', '.join(ACCOUNT_TYPES)}, "
        f"got {account_type!r}"
    )
# The components of both stacks are not built yet (see the open issues); refuse to deploy
# rather than create a half landing zone.
raise pulumi.RunError(f"the {account_type} stack is not implemented yet")
