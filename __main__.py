"""The Pulumi program: the stack config decides which half of the landing zone this is."""

import pulumi
import pulumi_aws as aws

from components.builds import build_central
from components.central_account import CentralAccount
from spec.config import NAMESPACE, ConfigError, load, workspaces
from components.datascience_account import DataScienceAccount

project = pulumi.Config(NAMESPACE)
try:
    config = load(project.get_object, project.get, pulumi.Config("aws").get("region"))
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

# An explicit provider that refuses any other account: a stack can never land in the wrong one.
provider = aws.Provider("aws", region=config.region, allowed_account_ids=[config.account_id])
opts = pulumi.ResourceOptions(providers={"aws": provider})

if config.account_type == "central":
    # built first, on this machine (pip download, npm ci once): the components only declare
    builds = build_central(workspaces=workspaces(config.teams), progress=pulumi.log.info)
    account = CentralAccount("mlflow", config, builds, opts)
else:
    account = DataScienceAccount(f"mlflow-{config.team}", config, opts)
for key, value in account.outputs.items():
    pulumi.export(key, value)
