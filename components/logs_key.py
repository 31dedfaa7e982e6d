"""One customer-managed KMS key for every log group of the central stack: the API's access log
(caller ARNs, user names, addresses), the authorizer's, the tracking server's, the web ACL's
and the VPC's flow logs. Logs hold who did what; under a key of our own, reading them needs
`kms:Decrypt` on it as well as the logs permission, and the key's use is in CloudTrail.

CloudWatch Logs encrypts with the key on the log groups' behalf: its regional service
principal may use it, and only for log groups of this account and region
(`kms:EncryptionContext:aws:logs:arn`, the context CloudWatch Logs sends).
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ._util import child, customer_managed_key, type_token

# What CloudWatch Logs needs of a key to encrypt and read a log group's data (AWS's
# "Encrypt log data in CloudWatch Logs using AWS KMS"). Its example also grants kms:Describe*
# under the same condition, which never applies (DescribeKey carries no encryption context:
# parliament says so), so it is left out.
LOGS_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
LOGS_CONTEXT_KEY = "kms:EncryptionContext:aws:logs:arn"


def logs_key_policy(account_id: str, region: str) -> dict:
    """The key's policy: the account administers it (else it can become unmanageable for
    good); CloudWatch Logs of this region uses it for this account's log groups only."""
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow",
         "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchLogsOfThisAccount", "Effect": "Allow",
         "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": list(LOGS_KEY_ACTIONS), "Resource": "*",
         # a string key (StringLike: ArnLike on it works, but is a type mismatch)
         "Condition": {"StringLike": {LOGS_CONTEXT_KEY:
                                   f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}}},
    ]}


@dataclass
class LogsKeyArgs:
    account_id: str
    region: str
    protect: bool


class LogsKey(pulumi.ComponentResource):
    arn: pulumi.Output

    def __init__(self, name: str, args: LogsKeyArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("logs_key", "LogsKey"), name, None, opts)
        self.key = customer_managed_key(
            f"{name}-key", self, "MLflow landing zone log groups", args.protect,
            policy=json.dumps(logs_key_policy(args.account_id, args.region)))
        aws.kms.Alias(f"{name}-key", name=f"alias/{name}", target_key_id=self.key.key_id,
                      opts=child(self))
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})
