"""Small helpers shared by the components."""

import json

import pulumi
import pulumi_aws as aws

TYPE_PREFIX = "mlflow-landing-zone"


def type_token(module: str, name: str) -> str:
    return f"{TYPE_PREFIX}:{module}:{name}"


def child(parent: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def data_resource(parent: pulumi.Resource, protect: bool, **kwargs) -> pulumi.ResourceOptions:
    """Options of a resource that holds data: protected from deletion and replacement."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect,
                                  **kwargs)


def customer_managed_key(name, parent, description, protect, policy=None,
                         outlives_stack=False):
    """A KMS key with yearly rotation and a 30-day deletion window, protected as data.
    `outlives_stack`: kept by a destroy even when unprotected (what it encrypts does)."""
    opts = data_resource(parent, protect)
    if outlives_stack:
        opts.retain_on_delete = True
    return aws.kms.Key(name, description=description, enable_key_rotation=True,
                       deletion_window_in_days=30, policy=policy, opts=opts)


def policy_json(statements) -> pulumi.Output:
    """An IAM policy document from statements that may hold Outputs."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def assume_role_policy(service: str, source_account: str = None, source_arn: str = None) -> str:
    """A service's trust; with `source_account`, only on behalf of that account's resources
    (aws:SourceAccount), and with `source_arn` (a pattern), of those resources alone
    (aws:SourceArn): the confused deputy across accounts. Only for the services that set these
    keys when they assume a role (docs/security.md, "Service trusts"): a condition on a key
    the service does not send refuses the service itself."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    condition = {}
    if source_account:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
