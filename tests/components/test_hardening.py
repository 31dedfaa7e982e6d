"""The scanners' findings on the central stack, fixed (issue 29): WAF's log with credentials
redacted, every log group under the stack's own logs key, aborted multipart uploads on every
bucket, the authorizer's reserved concurrency, the source keys on the service trusts."""

import json

import pytest

from roles.policy_eval import ALLOW, evaluate
from spec.config import ApiSettings

from tests.pulumi_program import run_program, stack_config

ACCOUNT = "111111111111"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def stack():
    return run_program(stack_config("central"))


def doc(resource, key):
    value = resource.inputs[key]
    return json.loads(value) if isinstance(value, str) else value


def logs_key(stack):
    return stack.one("aws:kms/key:Key", "logs-key")


def test_the_web_acl_logs_every_request_with_credentials_redacted(stack):
    group = stack.one("aws:cloudwatch/logGroup:LogGroup", "firewall-logs")
    assert group.inputs["name"] == "aws-waf-logs-mlflow-firewall"  # WAF's required prefix
    assert group.inputs["retentionInDays"] == 90  # logRetentionDays: weeks, not WAF's 3 hours
    logging = stack.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration").inputs
    assert logging["resourceArn"] == stack.one("aws:wafv2/webAcl:WebAcl").outputs["arn"]
    assert logging["logDestinationConfigs"] == [group.outputs["arn"]]
    assert logging["redactedFields"] == [{"singleHeader": {"name": "authorization"}},
                                         {"singleHeader": {"name": "cookie"}},
                                         {"singleHeader": {"name": "x-amz-security-token"}}]
    delivery = stack.one("aws:cloudwatch/logResourcePolicy:LogResourcePolicy", "log-delivery")
    assert doc(delivery, "policyDocument") == {"Version": "2012-10-17", "Statement": [{
        "Sid": "WafLogDeliveryOfThisAccount", "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"{group.outputs['arn']}:*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:*"}}}]}


def test_every_log_group_is_under_the_stacks_logs_key(stack):
    key = logs_key(stack)
    groups = stack.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert sorted(g.name for g in groups) == [
        "mlflow-edge-access-logs", "mlflow-edge-authorizer-logs", "mlflow-firewall-logs",
        "mlflow-network-flow-logs", "mlflow-registry-events-audit", "mlflow-server-logs",
        "mlflow-server-migration-logs",
        "mlflow-server-migration-runner-logs", "mlflow-status-logs"]
    for group in groups:
        assert group.inputs["kmsKeyId"] == key.outputs["arn"], group.name
    assert key.protect and key.inputs["enableKeyRotation"] is True


def test_the_logs_key_serves_cloudwatch_logs_for_this_accounts_log_groups_only(stack):
    policy = doc(logs_key(stack), "policy")
    assert policy == {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "CloudWatchLogsOfThisAccount", "Effect": "Allow",
         "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
         "Resource": "*",
         "Condition": {"StringLike": {"kms:EncryptionContext:aws:logs:arn":
                                   f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"}}}]}
    logs_statement = policy["Statement"][1]
    ours = {"kms:EncryptionContext:aws:logs:arn":
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws-waf-logs-mlflow-firewall"}
    theirs = {"kms:EncryptionContext:aws:logs:arn":
              f"arn:aws:logs:{REGION}:999999999999:log-group:x"}
    logs = {"Service": f"logs.{REGION}.amazonaws.com"}
    for context, decision in ((ours, True), (theirs, False), ({}, False)):
        assert (evaluate([{"Statement": [logs_statement]}], "kms:GenerateDataKey", "*", context,
                         principal=logs) == ALLOW) is decision, context


def test_every_bucket_aborts_incomplete_multipart_uploads(stack):
    buckets = {b.name for b in stack.of_type("aws:s3/bucket:Bucket")}
    lifecycles = {lc.name: lc.inputs for lc in stack.of_type(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")}
    assert set(lifecycles) == buckets == {"mlflow-store-access-logs", "mlflow-store-artifacts"}
    for name, lifecycle in lifecycles.items():
        assert [r["abortIncompleteMultipartUpload"] for r in lifecycle["rules"]
                if r["status"] == "Enabled" and r["filter"] == {"prefix": ""}] == [
            {"daysAfterInitiation": 7}], name


def test_the_authorizer_has_its_reserved_concurrency():
    assert ApiSettings.authorizer_reserved_concurrency == 50
    function = run_program(stack_config("central")).one("aws:lambda/function:Function", "authorizer")
    assert function.inputs["reservedConcurrentExecutions"] == 50
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["api"]["authorizerReservedConcurrency"] = 0
    unreserved = run_program(config).one("aws:lambda/function:Function", "authorizer")
    # 0 reserves none (Lambda's own 0 would stop the function)
    assert "reservedConcurrentExecutions" not in unreserved.inputs


ECS = {"Service": "ecs-tasks.amazonaws.com"}


def trust_of(stack, name_part):
    [statement] = doc(stack.one("aws:iam/role:Role", name_part), "assumeRolePolicy")["Statement"]
    return statement


def test_the_service_trusts_name_this_account_where_the_service_sends_the_key(stack):
    assert trust_of(stack, "server-execution")["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert trust_of(stack, "server-task")["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"}}
    # ECS acting for another account's task is refused
    task = trust_of(stack, "server-task")
    other = {"aws:SourceAccount": "999999999999",
             "aws:SourceArn": f"arn:aws:ecs:{REGION}:999999999999:task/c/1"}
    assert evaluate([{"Statement": [task]}], "sts:AssumeRole", "*", other, principal=ECS) != ALLOW
    ours = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/c/1"}
    assert evaluate([{"Statement": [task]}], "sts:AssumeRole", "*", ours, principal=ECS) == ALLOW
    # Lambda and API Gateway document no source key for these roles: without a condition,
    # each an exception the pack names (policy.rules SERVICES_WITHOUT_SOURCE_KEYS)
    for part, service in (("edge-authorizer", "lambda.amazonaws.com"),
                          ("edge-cloudwatch", "apigateway.amazonaws.com")):
        statement = trust_of(stack, part)
        assert statement["Principal"] == {"Service": service}
        assert "Condition" not in statement
