"""The Pulumi program: the stack config decides which half of the landing zone this is."""

import pulumi
import pulumi_aws as aws

from components.central_account import CentralAccount
from components.config import NAMESPACE, ConfigError, load

project = pulumi.Config(NAMESPACE)
try:
    config = load(project.get_object, project.get, pulumi.Config("aws").get("region"))
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None

# An explicit provider that refuses any other account: a stack can never land in the wrong one.
provider = aws.Provider("aws", region=config.region, allowed_account_ids=[config.account_id])
opts = pulumi.ResourceOptions(providers={"aws": provider})

if config.account_type == "central":
    central = CentralAccount("mlflow", config, opts)
    for key, value in central.outputs.items():
        pulumi.export(key, value)
