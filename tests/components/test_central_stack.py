"""The central stack under Pulumi mocks: every part registered, security inputs exact."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from spec.accounts import access_role_trust_policy as trust_policy
from roles import LEVELS
from roles.policy_eval import ALLOW, DENY, evaluate, invoke_allowed, wildcard_match
from spec.accounts import (
    access_role_scope,
    invoke_policy_documents,
    invoke_policy_keys,
    invoke_policy_name,
)
from spec.accounts import artifact_policy
from spec.edge import gateway_response_template

from tests.pulumi_program import API_ID, prebuilt, run_program, stack_config


ACCOUNT = "111111111111"
REGION = "us-east-1"
API_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod"
EXECUTION_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}"
ATTACHMENTS = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"


@pytest.fixture(scope="module")
def stack():
    inventory = run_program(stack_config("central"))
    print("\n" + inventory.render())  # what `pulumi preview` would list (run with -s to see)
    return inventory


def policy(resource, key="policy"):
    value = resource.inputs[key]
    return json.loads(value) if isinstance(value, str) else value


def test_every_part_is_registered(stack):
    counts = {}
    for r in stack.resources:
        counts[r.type] = counts.get(r.type, 0) + 1
    expected = {
        # S3's gateway; ECR (2), logs, Secrets Manager, STS (the workspace role) interfaces
        "awsx:ec2:Vpc": 1, "aws:ec2/vpcEndpoint:VpcEndpoint": 6,
        # the artifacts', the database's, the alarm topic's and the log groups' keys
        "aws:s3/bucket:Bucket": 2, "aws:kms/key:Key": 4,
        # the API's access log, the authorizer's, the server's, WAF's, the VPC's flows, the
        # migration task's and its runner's, the deployment status writer's, the registry
        # events' audit
        "aws:cloudwatch/logGroup:LogGroup": 9,
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": 1,
        "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": 2,  # WAF's, the audit's
        "aws:rds/cluster:Cluster": 1, "aws:rds/clusterInstance:ClusterInstance": 1,
        "aws:ecs/cluster:Cluster": 1, "aws:ecs/service:Service": 1,
        # the service's and the schema migration's
        "aws:ecs/taskDefinition:TaskDefinition": 2, "docker-build:index:Image": 1,
        "aws:lambda/invocation:Invocation": 1,
        "aws:ecr/lifecyclePolicy:LifecyclePolicy": 1,
        "aws:lb/loadBalancer:LoadBalancer": 1, "aws:appautoscaling/policy:Policy": 1,
        # 23 proxies (10 browser segments and their {proxy+}, /api, /api/*, /{workspace}/*:
        # the same for any number of teams), 2 redirects (/, /{workspace})
        "aws:apigateway/restApi:RestApi": 1, "aws:apigateway/method:Method": 25,
        "aws:apigateway/integration:Integration": 25, "aws:apigateway/authorizer:Authorizer": 1,
        "aws:apigateway/resource:Resource": 24,
        "aws:apigateway/methodResponse:MethodResponse": 2,
        "aws:apigateway/integrationResponse:IntegrationResponse": 2,
        "aws:wafv2/webAcl:WebAcl": 1, "aws:wafv2/webAclAssociation:WebAclAssociation": 1,
        "aws:apigateway/stage:Stage": 1, "aws:apigateway/vpcLink:VpcLink": 1,
        # the authorizer, the migration's runner, the deployment status writer
        "aws:lambda/function:Function": 3, "aws:cognito/userPool:UserPool": 1,
        # platform-admins, and <team>:<level> for 2 teams and 4 levels
        "aws:cognito/userGroup:UserGroup": 9, "aws:cognito/userPoolClient:UserPoolClient": 1,
        "aws:amplify/app:App": 1, "aws:amplify/branch:Branch": 1,
        "pulumi-python:dynamic:Resource": 1, "aws:apigateway/response:Response": 5,
        # 9 on one metric each, and running tasks below desired
        "aws:cloudwatch/metricAlarm:MetricAlarm": 10, "aws:cloudwatch/dashboard:Dashboard": 1,
        "aws:sns/topic:Topic": 1, "aws:sns/topicPolicy:TopicPolicy": 1,
    }
    assert {t: counts.get(t, 0) for t in expected} == expected
    # Six team roles (team-a: 4 levels, team-b: 2) plus the server's, authorizer's, API's.
    assert len([r for r in stack.of_type("aws:iam/role:Role") if r.name.startswith("mlflow-access")]) == 6


def test_every_child_has_a_parent_and_a_derived_name(stack):
    for r in stack.resources:
        if r.type in ("pulumi:providers:aws", "mlflow-landing-zone:central_account:CentralAccount"):
            continue
        assert r.parent is not None, r.name
        assert r.name.startswith("mlflow-"), r.name


def test_the_service_runs_without_nat_through_endpoints(stack):
    endpoints = {r.inputs["serviceName"]: r.inputs
                 for r in stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert endpoints["com.amazonaws.us-east-1.s3"]["vpcEndpointType"] == "Gateway"
    for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"):
        endpoint = endpoints[f"com.amazonaws.us-east-1.{service}"]
        assert endpoint["vpcEndpointType"] == "Interface" and endpoint["privateDnsEnabled"]
        assert endpoint["subnetIds"] == ["subnet-p1", "subnet-p2"]


def test_the_vpc_is_laid_out_with_the_subnet_sizes_the_config_checks(stack):
    from spec.sizing import SUBNET_MASKS

    specs = stack.one("awsx:ec2:Vpc").inputs["subnetSpecs"]
    assert [(s["type"], s["cidrMask"]) for s in specs] == list(zip(("Private", "Public"),
                                                                    SUBNET_MASKS["single"]))


def test_no_nat_uses_isolated_subnets(tmp_path):
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["network"]["natGateways"] = "none"
    stack = run_program(config)
    vpc = stack.one("awsx:ec2:Vpc").inputs
    assert vpc["natGateways"] == {"strategy": "None"}
    assert vpc["subnetSpecs"] == [{"type": "Isolated", "cidrMask": 20}]
    assert stack.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"] == [
        "subnet-i1", "subnet-i2"]


def test_artifact_bucket_is_private_encrypted_versioned_and_tls_only(stack):
    pab = stack.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "artifacts")
    assert {k: pab.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy",
                                       "ignorePublicAcls", "restrictPublicBuckets")} == dict.fromkeys(
        ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"], True)
    sse = stack.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                    "BucketServerSideEncryptionConfiguration", "artifacts")
    key = stack.one("aws:kms/key:Key", "store-key")
    assert sse.inputs["rules"] == [{
        "applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-mlflow-store-key"},
        "bucketKeyEnabled": True}]
    assert key.inputs["enableKeyRotation"] is True
    versioning = stack.one("aws:s3/bucketVersioning:BucketVersioning", "artifacts")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    bucket = "arn:aws:s3:::mlflow-store-artifacts-1a2b3c4"
    statements = policy(stack.one("aws:s3/bucketPolicy:BucketPolicy", "artifacts"))["Statement"]
    assert statements[0] == {
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket, f"{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    # Every object SSE-KMS with the bucket's own key: a write asking for anything else fails.
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-mlflow-store-key"
    # Approved bytes cannot change: only the tracking server (its workspace role) writes under
    # registry/, and nobody deletes there, whatever an identity policy says.
    assert statements[3] == {
        "Sid": "OnlyTheTrackingServerWritesTheRegistry", "Effect": "Deny", "Principal": "*",
        "Action": ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                   "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:PutObjectTagging",
                   "s3:PutObjectRetention", "s3:PutObjectLegalHold", "s3:RestoreObject"],
        "Resource": f"{bucket}/registry/*",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn":
                                       f"arn:aws:iam::{ACCOUNT}:role/"
                                       "mlflow-tracking-server-workspace"}}}
    assert statements[4:6] == [
        {"Sid": "OnlySseKms", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"{bucket}/*", "Condition": {"StringNotEqualsIfExists": {
             "s3:x-amz-server-side-encryption": "aws:kms"}}},
        {"Sid": "OnlyTheBucketKey", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"{bucket}/*", "Condition": {"StringNotEqualsIfExists": {
             "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}}}]
    logging = stack.one("aws:s3/bucketLogging:BucketLogging", "artifacts")
    assert logging.inputs["targetBucket"] == "mlflow-store-access-logs-1a2b3c4"
    lifecycle = stack.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                          "artifacts")
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"] == {"noncurrentDays": 90}


def test_bucket_and_key_admit_exactly_the_server_and_tagged_access_roles(stack):
    """Neither policy lists a team: the server's workspace role by its ARN, an access role by
    its ARN's shape (mlflow-*-<level>) and its team tag. Their size is the same at any number
    of teams (tests/test_scale.py measures it at 300)."""
    server = f"arn:aws:iam::{ACCOUNT}:role/mlflow-tracking-server-workspace"
    shapes = [f"arn:aws:iam::{ACCOUNT}:role/mlflow-*-{level}" for level in LEVELS]
    assert stack.outputs["trackingServerWorkspaceRoleArn"] == server
    # the task role itself is admitted nowhere: it touches no object
    task = stack.outputs["trackingServerTaskRoleArn"]
    assert not any(wildcard_match(p, task) for p in [server] + shapes)
    for arn in stack.outputs["accessRoleArns"].values():
        assert sum(wildcard_match(p, arn) for p in shapes) == 1, arn
    serving = "arn:aws:iam::*:role/mlflow-*-serving"  # a team account's endpoints' role
    not_shaped = {"ArnNotLike": {"aws:PrincipalArn": [server] + shapes + [serving]}}
    not_tagged = {"ArnNotEquals": {"aws:PrincipalArn": [server]},
                  "Null": {"aws:PrincipalTag/team": "true"},
                  "ArnNotLike": {"aws:PrincipalArn": [serving]}}
    serving_untagged = {"ArnLike": {"aws:PrincipalArn": [serving]},
                        "Null": {"aws:PrincipalTag/mlflow-team": "true"}}
    teams = ["222222222222", "333333333333"]
    statements = policy(stack.one("aws:s3/bucketPolicy:BucketPolicy", "artifacts"))["Statement"]
    bucket = "arn:aws:s3:::mlflow-store-artifacts-1a2b3c4"
    objects = ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject",
               "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    assert statements[1:3] == [
        {"Sid": "OnlyAdmittedRolesTouchObjects", "Effect": "Deny", "Principal": "*",
         "Action": objects, "Resource": f"{bucket}/*", "Condition": not_shaped},
        {"Sid": "NoUntaggedRoleTouchesObjects", "Effect": "Deny", "Principal": "*",
         "Action": objects, "Resource": f"{bucket}/*", "Condition": not_tagged}]
    own_serving = "arn:aws:iam::*:role/mlflow-${aws:PrincipalTag/mlflow-team}-serving"
    who = {"StringEquals": {"aws:PrincipalAccount": teams},
           "ArnLike": {"aws:PrincipalArn": own_serving}}
    assert statements[6:] == [
        {"Sid": "NoUntaggedServingRoleTouchesObjects", "Effect": "Deny", "Principal": "*",
         "Action": objects, "Resource": f"{bucket}/*", "Condition": serving_untagged},
        {"Sid": "ServingRolesReadTheirTeamsFrozenCopies", "Effect": "Allow",
         "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
         "Resource": f"{bucket}/registry/workspaces/${{aws:PrincipalTag/mlflow-team}}/*",
         "Condition": who},
        {"Sid": "ServingRolesListTheirTeamsRegistry", "Effect": "Allow",
         "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": bucket,
         "Condition": {**who, "StringLike": {
             "s3:prefix": "registry/workspaces/${aws:PrincipalTag/mlflow-team}/*"}}}]
    # the admitted get what SSE-KMS needs (a data key, Decrypt); everyone else is denied any use
    use = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    allowed = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    root = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert policy(stack.one("aws:kms/key:Key", "store-key"))["Statement"][1:] == [
        {"Sid": "TheServerUsesTheKey", "Effect": "Allow", "Principal": root,
         "Action": allowed, "Resource": "*",
         "Condition": {"ArnEquals": {"aws:PrincipalArn": [server]}}},
        {"Sid": "AccessRolesUseTheKey", "Effect": "Allow", "Principal": root,
         "Action": allowed, "Resource": "*",
         "Condition": {"ArnLike": {"aws:PrincipalArn": shapes},
                       "StringLike": {"aws:PrincipalTag/team": "?*"}}},
        {"Sid": "NobodyElseUsesTheKey", "Effect": "Deny", "Principal": "*", "Action": use,
         "Resource": "*", "Condition": not_shaped},
        {"Sid": "NoUntaggedRoleUsesTheKey", "Effect": "Deny", "Principal": "*", "Action": use,
         "Resource": "*", "Condition": not_tagged},
        {"Sid": "NoUntaggedServingRoleUsesTheKey", "Effect": "Deny", "Principal": "*",
         "Action": use, "Resource": "*", "Condition": serving_untagged},
        {"Sid": "ServingRolesDecryptThroughS3", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": teams,
                                        "kms:ViaService": f"s3.{REGION}.amazonaws.com"},
                       "ArnLike": {"aws:PrincipalArn": serving},
                       "StringLike": {"aws:PrincipalTag/mlflow-team": "?*"}}}]
    # Judged as IAM does: who gets an object, who is refused
    get = f"{bucket}/artifacts/workspaces/team-a/x"
    for principal, tags, refused in [
            (server, {}, False),
            (stack.outputs["accessRoleArns"]["team-a/reader"], {"team": "team-a"}, False),
            (stack.outputs["accessRoleArns"]["team-a/reader"], {}, True),  # untagged
            (task, {}, True),
            (f"arn:aws:iam::{ACCOUNT}:role/admin", {"team": "team-a"}, True),
            (f"arn:aws:iam::{ACCOUNT}:role/mlflow-team-a-reader-sagemaker", {"team": "team-a"},
             True),
            ("arn:aws:iam::222222222222:role/mlflow-team-a-reader", {"team": "team-a"}, True)]:
        context = {"aws:PrincipalArn": principal,
                   **{f"aws:PrincipalTag/{k}": v for k, v in tags.items()}}
        decision = evaluate([{"Statement": statements[1:3]}], "s3:GetObject", get, context,
                            principal=principal)
        assert (decision == DENY) == refused, (principal, tags)
    # A team account's serving role: the bucket alone must allow it (another account), and only
    # its own team's frozen copies, from a team's account, with its name matching its tag
    frozen = f"{bucket}/registry/workspaces/team-a/churn/v1-abc/MLmodel"
    serving_a = "arn:aws:iam::222222222222:role/mlflow-team-a-serving"
    for principal, tags, resource, allowed in [
            (serving_a, {"mlflow-team": "team-a"}, frozen, True),
            (serving_a, {"mlflow-team": "team-a"}, frozen.replace("team-a/", "team-b/"), False),
            (serving_a, {"mlflow-team": "team-a"}, get, False),  # run artifacts: no
            (serving_a, {"mlflow-team": "team-b"}, frozen.replace("team-a/", "team-b/"), False),
            (serving_a, {}, frozen, False),
            ("arn:aws:iam::444444444444:role/mlflow-team-a-serving", {"mlflow-team": "team-a"},
             frozen, False),  # not a team's account
            ("arn:aws:iam::222222222222:role/mlflow-team-a-reader-sagemaker",
             {"mlflow-team": "team-a"}, frozen, False)]:
        context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": principal.split(":")[4],
                   **{f"aws:PrincipalTag/{k}": v for k, v in tags.items()}}
        decision = evaluate([{"Statement": statements}], "s3:GetObject", resource, context,
                            principal=principal)
        assert (decision == ALLOW) == allowed, (principal, tags, resource)


def test_database_is_encrypted_private_protected_and_serverless_v2(stack):
    cluster = stack.one("aws:rds/cluster:Cluster").inputs
    assert cluster["storageEncrypted"] is True
    assert cluster["kmsKeyId"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-mlflow-db-key"
    assert cluster["deletionProtection"] is True
    assert cluster["skipFinalSnapshot"] is False and cluster["finalSnapshotIdentifier"]
    assert cluster["manageMasterUserPassword"] is True and "masterPassword" not in cluster
    assert cluster["engineMode"] == "provisioned" and cluster["engineVersion"] == "16.8"
    assert cluster["serverlessv2ScalingConfiguration"] == {"minCapacity": 0.5, "maxCapacity": 4}
    assert cluster["backupRetentionPeriod"] == 14
    assert stack.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"] == [
        "subnet-p1", "subnet-p2"]
    assert stack.one("aws:rds/clusterInstance:ClusterInstance").inputs["publiclyAccessible"] is False
    params = stack.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs
    # TLS on every connection; slow statements (over 1 s) and every schema change logged
    assert params["parameters"] == [{"name": "rds.force_ssl", "value": "1"},
                                    {"name": "log_min_duration_statement", "value": "1000"},
                                    {"name": "log_statement", "value": "ddl"}]
    assert cluster["enabledCloudwatchLogsExports"] == ["postgresql"]
    instance = stack.one("aws:rds/clusterInstance:ClusterInstance").inputs
    assert (instance["performanceInsightsEnabled"], instance["performanceInsightsRetentionPeriod"],
            instance["performanceInsightsKmsKeyId"]) == (True, 7, cluster["kmsKeyId"])
    # the key's own policy: administered by the account, used only through RDS and Secrets
    # Manager (the master secret the tasks read)
    key = next(k for k in stack.of_type("aws:kms/key:Key") if k.name == "mlflow-db-key")
    administer, use = json.loads(key.inputs["policy"])["Statement"]
    root = f"arn:aws:iam::{ACCOUNT}:root"
    assert administer["Principal"] == use["Principal"] == {"AWS": root}
    assert not [a for a in administer["Action"]
                if a in ("kms:Decrypt", "kms:Encrypt", "kms:*") or a.startswith("kms:Generate")]
    assert use["Condition"] == {"StringEquals": {
        "kms:CallerAccount": ACCOUNT,
        "kms:ViaService": [f"rds.{REGION}.amazonaws.com", f"secretsmanager.{REGION}.amazonaws.com"]}}
    db_sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "db-sg").inputs
    assert not db_sg.get("ingress")
    rule = stack.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                     "to-database").inputs
    assert rule["referencedSecurityGroupId"] == "mlflow-server-sg-id"
    assert rule["securityGroupId"] == "mlflow-db-sg-id" and rule["fromPort"] == 5432


def test_the_task_role_only_acts_for_one_workspace_at_a_time(stack):
    """The server's own identity reaches no object: it may assume the workspace role, tagged
    with a workspace and a purpose, and nothing else on the bucket or its key."""
    workspace_role = f"arn:aws:iam::{ACCOUNT}:role/mlflow-tracking-server-workspace"
    task_policies = [policy(p)["Statement"] for p in stack.of_type("aws:iam/rolePolicy:RolePolicy")
                     if p.inputs["role"] == "mlflow-server-task-id"]
    assert task_policies == [
        [{"Sid": "ActForOneWorkspaceAtATime", "Effect": "Allow",
          "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": workspace_role,
          "Condition": {"StringLike": {"aws:RequestTag/workspace": "?*"},
                        "StringEquals": {"aws:RequestTag/purpose": ["serve", "freeze"]}}}],
        # the registry's events: put on the central bus, nothing else of EventBridge
        [{"Sid": "RegistryEventsToTheCentralBus", "Effect": "Allow",
          "Action": "events:PutEvents",
          "Resource": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/mlflow-landing-zone"}],
        [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
          "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-1-AbCdEf"},
         {"Effect": "Allow", "Action": "kms:Decrypt",
          "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-mlflow-db-key"}]]


def test_the_workspace_role_reaches_one_workspace_named_by_its_session_tag(stack):
    bucket = "arn:aws:s3:::mlflow-store-artifacts-1a2b3c4"
    role = stack.one("aws:iam/role:Role", "server-workspace").inputs
    assert role["name"] == "mlflow-tracking-server-workspace"
    assert role["maxSessionDuration"] == 3600
    assert json.loads(role["assumeRolePolicy"]) == {"Version": "2012-10-17", "Statement": [{
        "Sid": "TheTrackingServerForOneWorkspace", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"ArnEquals": {"aws:PrincipalArn":
                                    f"arn:aws:iam::{ACCOUNT}:role/mlflow-tracking-server-task"},
                      "StringLike": {"aws:RequestTag/workspace": "?*"},
                      "StringEquals": {"aws:RequestTag/purpose": ["serve", "freeze"]}}}]}
    statements = policy(stack.one("aws:iam/rolePolicy:RolePolicy", "workspace-artifacts")
                        )["Statement"]
    ws = "${aws:PrincipalTag/workspace}"
    assert statements == [
        {"Sid": "BucketLocation", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
         "Resource": bucket},
        {"Sid": "ListOneWorkspace", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": bucket, "Condition": {"StringLike": {"s3:prefix": [
             f"artifacts/workspaces/{ws}/*", f"registry/workspaces/{ws}/*"]}}},
        {"Sid": "OneWorkspacesArtifacts", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject",
                    "s3:AbortMultipartUpload"],
         "Resource": f"{bucket}/artifacts/workspaces/{ws}/*"},
        {"Sid": "ReadOneWorkspacesRegistry", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": f"{bucket}/registry/workspaces/{ws}/*"},
        # only the store's copy (a `freeze` session) writes, and nobody deletes, there
        {"Sid": "FreezeIntoOneWorkspacesRegistry", "Effect": "Allow",
         "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": f"{bucket}/registry/workspaces/{ws}/*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/purpose": "freeze"}}},
        {"Sid": "ArtifactKey", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
         "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/key-mlflow-store-key"}]


def test_the_status_writer_records_the_team_deployers_status_through_the_api(stack):
    """Issue 27: the deployers' status events on the central bus, onto the versions as the
    one role the server admits for `landing_zone.*` tags."""
    from deployer.build import archive_files
    from spec.serving import status_writer_policy

    function = stack.one("aws:lambda/function:Function", "status")
    assert function.inputs["name"] == "mlflow-platform-status-writer"
    assert function.inputs["handler"] == "deployer.status_writer.handler"
    assert function.inputs["environment"]["variables"] == {"API_URL": stack.outputs["apiUrl"]}
    role = stack.one("aws:iam/role:Role", "status-role")
    assert role.outputs["arn"] == f"arn:aws:iam::{ACCOUNT}:role/mlflow-platform-status-writer"
    logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "status-logs").outputs["arn"]
    assert policy(stack.one("aws:iam/rolePolicy:RolePolicy", "status-role")) == \
        status_writer_policy(stack.outputs["apiArn"], logs)
    assert invoke_allowed([status_writer_policy(stack.outputs["apiArn"], logs)],
                          f"{stack.outputs['apiArn']}/POST/team-a/api/2.0/mlflow/model-versions/"
                          "set-tag")
    for other in ("POST/team-a/api/2.0/mlflow/model-versions/delete",
                  "POST/team-a/api/2.0/mlflow/registered-models/set-tag",
                  "GET/team-a/api/2.0/mlflow/model-versions/get"):
        assert not invoke_allowed([status_writer_policy(stack.outputs["apiArn"], logs)],
                                  f"{stack.outputs['apiArn']}/{other}"), other
    rule = stack.one("aws:cloudwatch/eventRule:EventRule", "status")
    assert rule.inputs["eventBusName"] == "mlflow-landing-zone"
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["mlflow.landing-zone.deployer"], "detail-type": ["Model deployment status"]}
    teams = json.loads(archive_files({"team-a": "222222222222", "team-b": "333333333333"})[
        "deployer/teams.json"])
    assert teams == {"team-a": "222222222222", "team-b": "333333333333"}


def test_no_secret_in_the_task_definition_and_no_public_ip(stack):
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-task").inputs
    [container] = json.loads(task["containerDefinitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert "DB_PASSWORD" not in env and not any("password" in v.lower() for v in env.values())
    assert container["secrets"] == [{
        "name": "DB_PASSWORD",
        "valueFrom": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-1-AbCdEf:"
                     "password::"}]
    assert "command" not in container
    assert env["MLFLOW_DEFAULT_ARTIFACT_ROOT"] == "s3://mlflow-store-artifacts-1a2b3c4/artifacts"
    assert env["MLFLOW_LZ_REGISTRY_ROOT"] == "s3://mlflow-store-artifacts-1a2b3c4/registry"
    assert env["MLFLOW_LZ_WORKSPACE_ROLE_ARN"] == (
        f"arn:aws:iam::{ACCOUNT}:role/mlflow-tracking-server-workspace")
    assert env["MLFLOW_SERVER_ALLOWED_HOSTS"].startswith("mlflow-server-nlb-123.elb.")
    assert env["MLFLOW_LZ_PLATFORM_WRITER_ARNS"] == (
        f"arn:aws:iam::{ACCOUNT}:role/mlflow-platform-status-writer")
    service = stack.one("aws:ecs/service:Service").inputs
    assert service["networkConfiguration"]["assignPublicIp"] is False
    assert service["desiredCount"] == 2
    assert stack.one("aws:lb/loadBalancer:LoadBalancer").inputs["internal"] is True
    health = stack.one("aws:lb/targetGroup:TargetGroup").inputs["healthCheck"]
    assert health["path"] == "/health" and health["protocol"] == "HTTP"
    cluster = stack.one("aws:ecs/cluster:Cluster").inputs
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]


def test_methods_take_sigv4_on_api_and_the_authorizer_elsewhere(stack):
    from spec.edge import BROWSER_SEGMENTS

    methods = {r.name: r.inputs for r in stack.of_type("aws:apigateway/method:Method")}
    authorizer_id = "mlflow-edge-authorizer-id"
    browser = {f"mlflow-edge-any-{segment}{proxy}": ("CUSTOM", authorizer_id)
               for segment in BROWSER_SEGMENTS for proxy in ("", "-proxy")}
    assert {n: (m["authorization"], m.get("authorizerId")) for n, m in methods.items()} == {
        "mlflow-edge-get-root": ("NONE", None),  # the redirects to the UI, below
        "mlflow-edge-get-workspace": ("NONE", None),  # every team's base path
        **browser,
        "mlflow-edge-any-api": ("AWS_IAM", None),
        "mlflow-edge-any-api-proxy": ("AWS_IAM", None),
        "mlflow-edge-any-workspace-proxy": ("AWS_IAM", None),  # every team's SigV4 base path
    }
    assert {"ajax-api", "graphql", "get-artifact", "gateway", "v1", "version"} <= set(
        BROWSER_SEGMENTS) and "api" not in BROWSER_SEGMENTS
    assert methods["mlflow-edge-any-workspace-proxy"]["requestParameters"] == {
        "method.request.path.workspace": True, "method.request.path.proxy": True}
    resources = {r.name: r.inputs for r in stack.of_type("aws:apigateway/resource:Resource")}
    # the teams' one path variable beside the literals at the root (API Gateway allows one)
    root_parts = sorted(r["pathPart"] for r in resources.values() if r["parentId"] == "root123")
    assert root_parts == sorted([*BROWSER_SEGMENTS, "api", "{workspace}"])
    workspace = resources["mlflow-edge-res-workspace"]
    assert workspace["pathPart"] == "{workspace}"
    assert resources["mlflow-edge-res-workspace-proxy"]["pathPart"] == "{proxy+}"
    authorizer = stack.one("aws:apigateway/authorizer:Authorizer").inputs
    assert authorizer["type"] == "REQUEST"
    # Cached per (token, workspace): a user's policy is their level in the workspace named.
    assert authorizer["identitySource"] == ("method.request.header.Authorization,"
                                            "method.request.header.X-MLFLOW-WORKSPACE")
    assert authorizer["authorizerResultTtlInSeconds"] == 60
    fn = stack.one("aws:lambda/function:Function", "authorizer").inputs
    assert authorizer["authorizerUri"].endswith(f"function:{fn['name']}/invocations")
    assert fn["handler"] == "authorizer.handler.handler" and fn["runtime"] == "python3.12"
    # A token must outlive its cached policy: the authorizer knows the cache's TTL.
    env = fn["environment"]["variables"]
    assert (env["CACHE_TTL_SECONDS"], env["LEEWAY_SECONDS"], env["TOKEN_USE"]) == ("60", "5", "id")
    # the teams' workspaces are in the archive (read at cold start), not in the environment
    assert "WORKSPACES" not in env
    code = fn["code"]
    with zipfile.ZipFile(getattr(code, "path", None) or code.assets["."].path) as archive:
        assert json.loads(archive.read("authorizer/workspaces.json")) == {
            "team-a": [], "team-b": ["team-a"]}
    assert json.loads(env["GROUP_LEVELS"]) == {"platform-admins": "admin"}


UI_URL = "https://main.d1a2b3c4d5e6f7.amplifyapp.com"


def test_get_on_the_api_root_sends_a_browser_to_the_ui(stack):
    """What MLflow's client prints ("View run ... at: <apiUrl>/#/experiments/...") opens the UI:
    a MOCK integration answers 302 to the stage variable uiUrl, without authorizer or MLflow."""
    integration = stack.one("aws:apigateway/integration:Integration", "to-ui-root").inputs
    assert (integration["type"], integration["resourceId"], integration["httpMethod"]) == (
        "MOCK", "root123", "GET")
    assert integration["requestTemplates"] == {"application/json": '{"statusCode": 302}'}
    # The root and the teams' base path (a team's printed links): two, alike.
    for response in stack.of_type("aws:apigateway/methodResponse:MethodResponse"):
        assert (response.inputs["statusCode"], response.inputs["responseParameters"]) == (
            "302", {"method.response.header.Location": True})
    for mapping in stack.of_type("aws:apigateway/integrationResponse:IntegrationResponse"):
        assert (mapping.inputs["statusCode"], mapping.inputs["responseParameters"]) == (
            "302", {"method.response.header.Location": "stageVariables.uiUrl"})
        assert "selectionPattern" not in mapping.inputs  # the default response: every answer
    team = stack.one("aws:apigateway/integration:Integration", "to-ui-workspace").inputs
    assert (team["type"], team["httpMethod"]) == ("MOCK", "GET")
    [workspace] = [r for r in stack.of_type("aws:apigateway/resource:Resource")
                   if r.name == "mlflow-edge-res-workspace"]
    assert team["resourceId"] == workspace.outputs["id"]
    stage = stack.one("aws:apigateway/stage:Stage").inputs
    assert stage["variables"] == {"uiUrl": UI_URL + "/"}
    assert stack.outputs["uiUrl"] == UI_URL


def test_the_web_acl_guards_the_stage_against_other_sites(stack):
    acl = stack.one("aws:wafv2/webAcl:WebAcl").inputs
    association = stack.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs
    assert association["resourceArn"] == f"arn:aws:apigateway:{REGION}::/restapis/{API_ID}/stages/prod"
    assert association["webAclArn"] == stack.one("aws:wafv2/webAcl:WebAcl").outputs["arn"]
    assert acl["scope"] == "REGIONAL" and acl["defaultAction"] == {"allow": {}}
    rules = {r["name"]: r for r in acl["rules"]}
    # refused as forged first, whatever the rate; then the edge protection (below). The first
    # rule only labels the redirects' paths, which the cross-site rules spare.
    assert list(rules)[:3] == ["RedirectPath", "OtherSiteRequest", "ForeignOrigin"]
    assert rules["RedirectPath"]["action"] == {"count": {}}
    assert rules["RedirectPath"]["ruleLabels"] == [{"name": "landing-zone:redirect-path"}]
    assert [r["priority"] for r in acl["rules"]] == list(range(len(rules)))
    for rule in list(rules.values())[1:3]:
        assert rule["action"]["block"]["customResponse"]["responseCode"] == 403
    bodies = {b["key"]: json.loads(b["content"]) for b in acl["customResponseBodies"]}
    assert bodies["foreign-origin"] == {
        "error_code": "PERMISSION_DENIED",
        "message": f"Refused: this request does not come from the MLflow UI ({UI_URL})."}
    # The one Origin allowed is the UI's, exactly (tests/components/test_web_acl.py evaluates the rules).
    origin_check = rules["ForeignOrigin"]["statement"]["andStatement"]["statements"][2]
    assert origin_check["notStatement"]["statement"]["byteMatchStatement"]["searchString"] == UI_URL


def test_the_web_acl_limits_each_address_and_uses_awss_managed_rules(stack):
    from components.web_acl import MANAGED_RULE_GROUPS

    acl = stack.one("aws:wafv2/webAcl:WebAcl").inputs
    rules = {r["name"]: r for r in acl["rules"]}
    assert list(rules)[3:] == ["RequestsPerSession", "RequestsPerUser", "RequestsPerAddress",
                               "AWSManagedRulesAmazonIpReputationList",
                               "AWSManagedRulesKnownBadInputsRuleSet",
                               "AWSManagedRulesCommonRuleSet"]
    none = [{"priority": 0, "type": "NONE"}]
    # Per caller: a SigV4 session by its session token, a browser user by their token (only
    # a Bearer Authorization: a SigV4 one differs on every request), then per address.
    assert rules["RequestsPerSession"]["statement"]["rateBasedStatement"] == {
        "limit": 10000, "aggregateKeyType": "CUSTOM_KEYS", "evaluationWindowSec": 300,
        "customKeys": [{"header": {"name": "x-amz-security-token",
                                   "textTransformations": none}}]}
    assert rules["RequestsPerUser"]["statement"]["rateBasedStatement"] == {
        "limit": 10000, "aggregateKeyType": "CUSTOM_KEYS", "evaluationWindowSec": 300,
        "customKeys": [{"header": {"name": "authorization", "textTransformations": none}}],
        "scopeDownStatement": {"byteMatchStatement": {
            "positionalConstraint": "STARTS_WITH", "searchString": "Bearer ",
            "fieldToMatch": {"singleHeader": {"name": "authorization"}},
            "textTransformations": none}}}
    assert rules["RequestsPerAddress"]["statement"]["rateBasedStatement"] == {
        "limit": 20000, "aggregateKeyType": "IP", "evaluationWindowSec": 300}
    bodies = {b["key"]: json.loads(b["content"]) for b in acl["customResponseBodies"]}
    for rule, key, whom, limit in (
            ("RequestsPerSession", "requests-per-session", "your session", 10000),
            ("RequestsPerUser", "requests-per-user", "your signed-in session", 10000),
            ("RequestsPerAddress", "requests-per-address", "your address", 20000)):
        assert rules[rule]["action"]["block"]["customResponse"] == {
            "responseCode": 429, "customResponseBodyKey": key}
        assert bodies[key]["error_code"] == "REQUEST_LIMIT_EXCEEDED"
        assert f"more than {limit} requests from {whom}" in bodies[key]["message"]
        assert "in 5 minutes" in bodies[key]["message"]
    for group, counted in MANAGED_RULE_GROUPS:
        rule = rules[group]
        assert rule["overrideAction"] == {"none": {}} and "action" not in rule
        statement = rule["statement"]["managedRuleGroupStatement"]
        assert (statement["vendorName"], statement["name"]) == ("AWS", group)
        # only the rules that would refuse ordinary MLflow traffic are counted, not blocked
        assert [(o["name"], o["actionToUse"]) for o in statement.get("ruleActionOverrides", [])
                ] == [(name, {"count": {}}) for name in counted]
    assert "SizeRestrictions_BODY" in dict(MANAGED_RULE_GROUPS)["AWSManagedRulesCommonRuleSet"]


def test_edge_protection_is_sized_and_turned_off_by_config():
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["api"]["waf"] = {"rateLimit": 2000,
                                                           "callerRateLimit": 1500}
    acl = run_program(config).one("aws:wafv2/webAcl:WebAcl").inputs
    assert [r["statement"]["rateBasedStatement"]["limit"] for r in acl["rules"][3:6]] == [
        1500, 1500, 2000]
    config["mlflow-landing-zone:central"]["api"]["waf"] = {"enabled": False}
    acl = run_program(config).one("aws:wafv2/webAcl:WebAcl").inputs
    assert [r["name"] for r in acl["rules"]] == ["RedirectPath", "OtherSiteRequest",
                                                 "ForeignOrigin"]
    assert [b["key"] for b in acl["customResponseBodies"]] == ["other-site-request",
                                                               "foreign-origin"]


def test_integrations_forward_identity_that_clients_cannot_forge(stack):
    integrations = {r.name: r.inputs for r in stack.of_type("aws:apigateway/integration:Integration")}
    api = integrations["mlflow-edge-to-mlflow-api-proxy"]
    assert api["type"] == "HTTP_PROXY" and api["connectionType"] == "VPC_LINK"
    assert api["uri"] == f"http://mlflow-server-nlb-123.elb.{REGION}.amazonaws.com/api/{{proxy}}"
    # Every integration sets every identity header (the other channel's to "-") and the
    # workspace: none that a client sends reaches MLflow.
    def sigv4(workspace):
        return {"integration.request.header.X-MLflow-Caller-Arn": "context.identity.userArn",
                "integration.request.header.X-MLflow-User": "'-'",
                "integration.request.header.X-MLflow-Levels": "'-'",
                "integration.request.header.X-MLFLOW-WORKSPACE": f"'{workspace}'",
                "integration.request.path.proxy": "method.request.path.proxy"}

    assert api["requestParameters"] == sigv4("default")
    # Every team's resource: MLflow gets the path below the team's base path, in the
    # workspace the path's first segment names (never a header the client sent).
    team = integrations["mlflow-edge-to-mlflow-workspace-proxy"]
    assert team["uri"] == f"http://mlflow-server-nlb-123.elb.{REGION}.amazonaws.com/{{proxy}}"
    assert team["requestParameters"] == {
        **sigv4("default"),
        "integration.request.header.X-MLFLOW-WORKSPACE": "method.request.path.workspace"}
    token = {
        "integration.request.header.X-MLflow-Caller-Arn": "'-'",
        "integration.request.header.X-MLflow-User": "context.authorizer.username",
        "integration.request.header.X-MLflow-Levels": "context.authorizer.levels",
        "integration.request.header.X-MLFLOW-WORKSPACE": "context.authorizer.workspace"}
    ui = integrations["mlflow-edge-to-mlflow-ajax-api-proxy"]
    assert ui["uri"] == f"http://mlflow-server-nlb-123.elb.{REGION}.amazonaws.com/ajax-api/{{proxy}}"
    assert ui["requestParameters"] == {
        **token, "integration.request.path.proxy": "method.request.path.proxy"}
    graphql = integrations["mlflow-edge-to-mlflow-graphql"]
    assert graphql["uri"] == f"http://mlflow-server-nlb-123.elb.{REGION}.amazonaws.com/graphql"
    assert graphql["requestParameters"] == token
    from spec.edge import BROWSER_SEGMENTS
    for segment in BROWSER_SEGMENTS:  # the browser's: every one alike
        assert integrations[f"mlflow-edge-to-mlflow-{segment}"]["requestParameters"] == token
        assert integrations[f"mlflow-edge-to-mlflow-{segment}-proxy"]["requestParameters"] == {
            **token, "integration.request.path.proxy": "method.request.path.proxy"}
    assert {i["timeoutMilliseconds"] for i in integrations.values()
            if i["type"] == "HTTP_PROXY"} == {29000}
    assert sorted(i["type"] for i in integrations.values()) == ["HTTP_PROXY"] * 23 + ["MOCK"] * 2


def test_resource_policy_restricts_only_the_sigv4_paths(stack):
    assert policy(stack.one("aws:apigateway/restApiPolicy:RestApiPolicy")) == {
        "Version": "2012-10-17", "Statement": [
            {"Sid": "SigV4OnlyFromThisAccount", "Effect": "Deny", "Principal": "*",
             "Action": "execute-api:Invoke",
             # every path: it names no team (tests/test_scale_edge.py: constant in teams)
             "Resource": f"{EXECUTION_ARN}/*",
             # only IAM principals: a browser's request has no principal account
             "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT},
                           "Null": {"aws:PrincipalAccount": "false"}}}]}


def test_stage_logs_json_without_data_tracing_and_throttles(stack):
    stage = stack.one("aws:apigateway/stage:Stage").inputs
    fields = json.loads(stage["accessLogSettings"]["format"])
    assert {"requestId", "caller", "user", "method", "path", "status", "latencyMs"} <= set(fields)
    settings = {r.inputs["methodPath"]: r.inputs["settings"]
                for r in stack.of_type("aws:apigateway/methodSettings:MethodSettings")}
    # every method's default, and the one method all teams' SDKs and jobs share
    assert {path: (s["throttlingRateLimit"], s["throttlingBurstLimit"])
            for path, s in settings.items()} == {"*/*": (100, 200),
                                                 "{workspace}/{proxy+}/ANY": (1000, 2000)}
    for s in settings.values():
        assert (s["dataTraceEnabled"], s["metricsEnabled"], s["loggingLevel"]) == (
            False, True, "ERROR")
    assert stack.one("aws:apigateway/restApi:RestApi").inputs["binaryMediaTypes"] == ["*/*"]
    deployment = stack.one("aws:apigateway/deployment:Deployment").inputs
    assert len(deployment["triggers"]["redeployment"]) == 64
    for log_group in stack.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert log_group.inputs["retentionInDays"] == 90, log_group.name


def test_cognito_has_no_self_signup_and_a_strong_password_policy(stack):
    pool = stack.one("aws:cognito/userPool:UserPool").inputs
    assert pool["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}
    assert pool["passwordPolicy"]["minimumLength"] >= 14
    assert pool["mfaConfiguration"] == "OPTIONAL"
    client = stack.one("aws:cognito/userPoolClient:UserPoolClient").inputs
    assert client["generateSecret"] is False
    assert client["explicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    # Short-lived access: id and access tokens of tokenMinutes (10), the sign-in of 12 hours,
    # revocable (sign-out, admin-user-global-sign-out).
    assert {k: client[k] for k in ("idTokenValidity", "accessTokenValidity",
                                   "refreshTokenValidity", "tokenValidityUnits",
                                   "enableTokenRevocation")} == {
        "idTokenValidity": 10, "accessTokenValidity": 10, "refreshTokenValidity": 12,
        "tokenValidityUnits": {"idToken": "minutes", "accessToken": "minutes",
                               "refreshToken": "hours"},
        "enableTokenRevocation": True}
    groups = {r.inputs["name"] for r in stack.of_type("aws:cognito/userGroup:UserGroup")}
    assert groups == {"platform-admins"} | {f"{team}:{level}" for team in ("team-a", "team-b")
                                            for level in LEVELS}


@pytest.mark.parametrize("team, account, level", [
    ("team-a", "222222222222", "reader"), ("team-a", "222222222222", "model-approver"),
    ("team-b", "333333333333", "contributor")])
def test_team_roles_trust_one_sagemaker_role_and_carry_the_compiled_policies(stack, team,
                                                                            account, level):
    role_resource = stack.one("aws:iam/role:Role", f"access-{team}-{level}")
    role = role_resource.inputs
    assert role["name"] == f"mlflow-{team}-{level}"
    assert role["maxSessionDuration"] == 3600
    assert policy(role_resource, "assumeRolePolicy") == {"Version": "2012-10-17", "Statement": [{
        "Sid": "TeamSageMakerRoleOfThisLevel", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn":
                                    f"arn:aws:iam::{account}:role/mlflow-{team}-{level}-sagemaker"}}}]}
    assert policy(role_resource, "assumeRolePolicy") == trust_policy(account, team, level)
    # Its team and level as tags: its shared policies name "the caller's team" by them
    assert role["tags"] == {"team": team, "level": level}
    # Its level's policies (by its team tag) and, as reader, those of the shared workspaces'
    # name lengths (team-b shares with team-a), attached from one set per key, shared by
    # every role; its inline scope keeps them inside its own and its shared workspaces.
    readable = {"team-a": ["team-b"], "team-b": []}[team]
    [attachments] = [r for r in stack.of_type(ATTACHMENTS)
                     if r.inputs["roleName"] == role_resource.outputs["name"]]
    attached = attachments.inputs["policyArns"]
    keys = invoke_policy_keys(team, level, readable)
    assert keys == [("own", level)] + [("shared", 6)] * bool(readable)
    expected = []
    for key in keys:
        documents = [(p.outputs["arn"], policy(p)) for p in sorted(
            [r for r in stack.of_type("aws:iam/policy:Policy")
             if r.name.startswith(f"mlflow-access-{invoke_policy_name(key)}-invoke-")],
            key=lambda r: r.name)]
        assert [d for _, d in documents] == invoke_policy_documents(key, API_ARN)
        expected += [arn for arn, _ in documents]
    assert attached == expected and len(expected) <= 10
    scope = policy(stack.one("aws:iam/rolePolicy:RolePolicy", f"{team}-{level}-workspaces"))
    assert scope == access_role_scope(API_ARN, team, readable)
    assert scope == {"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyOwnAndSharedWorkspaces", "Effect": "Deny", "Action": "execute-api:Invoke",
        "NotResource": [f"{API_ARN}/{m}/{team}/*" for m in
                        ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")]
        + [f"{API_ARN}/{m}/{w}/*" for w in readable for m in ("GET", "POST")]}, {
        "Sid": "OnlyAsItsOwnTeam", "Effect": "Deny", "Action": "execute-api:Invoke",
        "Resource": "*", "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": team}}}]}
    artifacts = policy(stack.one("aws:iam/rolePolicy:RolePolicy", f"{team}-{level}-artifacts"))
    bucket = stack.one("aws:s3/bucket:Bucket", "artifacts").outputs["arn"]
    key = stack.one("aws:kms/key:Key", "store-key").outputs["arn"]
    assert artifacts == artifact_policy(level, bucket, key, team=team, readable=readable)
    assert {r for s in artifacts["Statement"] for r in (
        s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])} <= {
        bucket, key, f"{bucket}/artifacts/workspaces/{team}/*"} | {
        f"{bucket}/{root}/workspaces/{w}/*" for w in [team, *readable]
        for root in ("artifacts", "registry")}
    # Registered versions' files are read-only to every level, the team's admin included.
    writes = {a for s in artifacts["Statement"] for a in s["Action"]
              if a.startswith(("s3:Put", "s3:Delete", "s3:Abort"))}
    assert {r for s in artifacts["Statement"] if writes & set(s["Action"])
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
            } <= {f"{bucket}/artifacts/workspaces/{team}/*"}


def test_every_team_role_reaches_only_its_own_and_shared_workspaces(stack):
    """Judged as IAM does, with each role's tags: its whole grant (managed and inline) under
    its own base path, reader's under a shared one, nothing under another team's, MLflow's
    own paths or a name that shares a prefix; and an untagged or mistagged role nothing."""
    documents = {p.outputs["arn"]: policy(p) for p in stack.of_type("aws:iam/policy:Policy")}
    from roles import allows_any
    samples = [("GET", "/api/2.0/mlflow/runs/get"), ("POST", "/api/2.0/mlflow/runs/create"),
               ("POST", "/api/2.0/mlflow/registered-models/alias"),
               ("DELETE", "/api/2.0/mlflow/registered-models/delete"),
               ("GET", "/get-artifact"), ("POST", "/api/2.0/mlflow/runs/search")]
    checked = 0
    for role in stack.of_type("aws:iam/role:Role"):
        if not role.name.startswith("mlflow-access-"):
            continue
        team, level = role.inputs["tags"]["team"], role.inputs["tags"]["level"]
        attached = [documents[arn] for a in stack.of_type(ATTACHMENTS)
                    if a.inputs["roleName"] == role.outputs["name"]
                    for arn in a.inputs["policyArns"]]
        inline = [policy(p) for p in stack.of_type("aws:iam/rolePolicy:RolePolicy")
                  if p.inputs["role"] == role.outputs["id"]]
        assert len(inline) == 2
        shared = {"team-a": ["team-b"], "team-b": []}[team]
        tagged = {"aws:PrincipalTag/team": team, "aws:PrincipalTag/level": level}
        for method, path in samples:
            def allowed(full_path, context=tagged):
                return invoke_allowed(attached + inline, f"{API_ARN}/{method}{full_path}",
                                      context)
            assert allowed(f"/{team}{path}") == allows_any((level,), method, path,
                                                           in_team=True), (team, level, path)
            for other in ("team-a", "team-b"):
                if other != team:
                    assert allowed(f"/{other}{path}") == (
                        other in shared and allows_any(("reader",), method, path, in_team=True))
                    # a mistagged role: nothing (never another team's grant)
                    assert not allowed(f"/{other}{path}", {"aws:PrincipalTag/team": other})
            for beyond in (path, f"/team-c{path}", f"/{team}x{path}", f"/{team[:-1]}{path}",
                           f"/team-b/x/{team}{path}", f"/{team}/x{path}"):
                # outside the team's base path nothing; inside it, what the model says of the
                # rest of the path (a team's admin holds the whole workspace, others its routes)
                inside = beyond.startswith(f"/{team}/")
                assert allowed(beyond) == (inside and allows_any(
                    (level,), method, beyond[len(team) + 1:], in_team=True)), (level, beyond)
            assert not allowed(f"/{team}{path}", {})  # untagged: nothing
            checked += 1
    roles = len(stack.outputs["accessRoleArns"])
    assert roles == 6 and checked == roles * len(samples)


def test_data_resources_are_protected(stack):
    for typ, part in [("aws:s3/bucket:Bucket", "artifacts"), ("aws:kms/key:Key", "store-key"),
                      ("aws:kms/key:Key", "db-key"), ("aws:rds/cluster:Cluster", ""),
                      ("aws:cognito/userPool:UserPool", "")]:
        resource = stack.one(typ, part)
        assert resource.protect and resource.retain_on_delete, resource.name
    assert stack.one("aws:cognito/userPool:UserPool").inputs["deletionProtection"] == "ACTIVE"


def test_refusals_come_back_in_mlflows_error_shape(stack):
    """Every 403 names whom to ask (the config's platformContact) and the caller; the clients
    add the level the call needs (roles.refusals)."""
    responses = {r.inputs["responseType"]: r.inputs
                 for r in stack.of_type("aws:apigateway/response:Response")}
    assert {t: (r["statusCode"], r["responseTemplates"]) for t, r in responses.items()} == {
        "ACCESS_DENIED": ("403", {"application/json": gateway_response_template(
            "ACCESS_DENIED", "the MLflow platform team (#mlflow-platform)")}),
        "UNAUTHORIZED": ("401", {"application/json":
            '{"error_code":"UNAUTHENTICATED","message":$context.error.messageString}'}),
        "MISSING_AUTHENTICATION_TOKEN": ("403", {"application/json":
            '{"error_code":"UNAUTHENTICATED","message":$context.error.messageString}'}),
        "INVALID_SIGNATURE": ("403", {"application/json":
            '{"error_code":"UNAUTHENTICATED","message":$context.error.messageString}'}),
        "EXPIRED_TOKEN": ("403", {"application/json":
            '{"error_code":"UNAUTHENTICATED","message":$context.error.messageString}'}),
    }
    assert {r["restApiId"] for r in responses.values()} == {API_ID}


STAGE_URL = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/prod"


def test_the_ui_forwards_every_api_path_to_the_stage(stack):
    app = stack.one("aws:amplify/app:App").inputs
    assert app["platform"] == "WEB" and app["enableBranchAutoBuild"] is False
    assert "repository" not in app and "buildSpec" not in app  # no Git, no CodeCommit
    assert app["customRules"] == [
        {"source": source, "target": STAGE_URL + source, "status": "200"} for source in (
            "/ajax-api/<*>", "/build/<*>", "/gateway/<*>", "/get-artifact", "/graphql",
            "/health", "/model-versions/get-artifact", "/v1/traces", "/version")]
    branch = stack.one("aws:amplify/branch:Branch").inputs
    assert branch == {"appId": "d1a2b3c4d5e6f7", "branchName": "main", "stage": "PRODUCTION",
                      "enableAutoBuild": False}


def test_the_ui_sends_the_security_headers(stack):
    document = json.loads(stack.one("aws:amplify/app:App").inputs["customHeaders"])
    every = next(r for r in document["customHeaders"] if r["pattern"] == "**")
    assert {h["key"]: h["value"] for h in every["headers"]} == {
        "Content-Security-Policy":
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; "
            f"connect-src 'self' https://cognito-idp.{REGION}.amazonaws.com; "
            "worker-src 'self' blob:; frame-src 'self' blob:; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'self'",
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    no_cache = {r["pattern"] for r in document["customHeaders"]
                if r["headers"] == [{"key": "Cache-Control", "value": "no-cache"}]}
    assert no_cache == {"/", "/index.html", "/mlflow.html", "/sw.js", "/config.json"}


def test_studio_domains_from_config_may_frame_the_ui():
    config = stack_config("central")
    studio = ["https://d-abc123xyz.studio.us-east-1.sagemaker.aws",
              "https://d-def456uvw.studio.eu-west-1.sagemaker.aws"]
    config["mlflow-landing-zone:central"]["ui"] = {"studioOrigins": studio}
    document = json.loads(run_program(config).one("aws:amplify/app:App").inputs["customHeaders"])
    csp = next(h["value"] for r in document["customHeaders"] if r["pattern"] == "**"
               for h in r["headers"] if h["key"] == "Content-Security-Policy")
    assert csp.endswith(f"; frame-ancestors 'self' {studio[0]} {studio[1]}")


def test_the_ui_is_deployed_by_pulumi_up_with_the_cognito_settings(stack):
    deployment = stack.one("pulumi-python:dynamic:Resource", "ui-deployment").inputs
    assert (deployment["app_id"], deployment["branch_name"]) == ("d1a2b3c4d5e6f7", "main")
    assert (deployment["region"], deployment["account_id"]) == (REGION, ACCOUNT)
    # the zip components.builds made before the program declared anything (its content:
    # tests/ui/test_ui.py), checked again at deploy time against this digest
    builds = prebuilt()
    assert (deployment["zip_path"], deployment["zip_sha256"]) == (str(builds.ui_zip),
                                                                  builds.ui_zip_sha256)
    config = deployment["config"]
    client = stack.one("aws:cognito/userPoolClient:UserPoolClient")
    assert config["userPoolId"] == f"{REGION}_AbCdEf123"
    assert config["clientId"] == client.outputs["id"]
    assert config["cognitoEndpoint"] == f"https://cognito-idp.{REGION}.amazonaws.com/"
    # The shell's sign-in flow is one the app client allows.
    assert "ALLOW_" + config["authFlow"] in client.inputs["explicitAuthFlows"]
    assert config["groupLevels"] == stack_config("central")["mlflow-landing-zone:central"][
        "cognitoGroups"]


def test_a_changed_bundle_or_config_deploys_again_and_nothing_else_does():
    from components.amplify_deployment import _Provider

    old = {"app_id": "a", "branch_name": "main", "zip_sha256": "1", "config": {"x": 1},
           "region": REGION, "account_id": ACCOUNT, "zip_path": "/one/path.zip", "job_id": "7"}
    provider = _Provider()
    assert provider.diff("a/main", old, {**old, "zip_path": "/elsewhere.zip"}).changes is False
    for key, value in [("zip_sha256", "2"), ("config", {"x": 2})]:
        diff = provider.diff("a/main", old, {**old, key: value})
        assert diff.changes is True and diff.replaces == []
    assert provider.diff("a/main", old, {**old, "app_id": "b"}).replaces == ["app_id"]


def test_the_deployments_provider_loads_from_its_pickle_anywhere(stack, tmp_path):
    """Pulumi keeps the provider pickled in the state and loads it in a process of its own: it
    must carry its code, so it loads and works with neither the project on the path nor this
    module where it was (the provider the program registered, loaded from another directory)."""
    pickled = stack.one("pulumi-python:dynamic:Resource", "ui-deployment").inputs["__provider"]
    pickled = pickled["value"] if isinstance(pickled, dict) else pickled  # a secret's wrapper
    zip_path = tmp_path / "bundle.zip"
    zip_path.write_bytes(b"not the previewed bundle")
    probe = textwrap.dedent(f"""
        import base64, sys
        import dill
        import importlib.util
        assert importlib.util.find_spec("components") is None, sys.path  # the project is not here
        provider = dill.loads(base64.b64decode({pickled!r}))
        old = {{"app_id": "a", "branch_name": "main", "zip_sha256": "1"}}
        print(provider.diff("a/main", old, {{**old, "app_id": "b"}}).replaces)
        check = provider.create.__globals__["_zip_with_config"]
        try:
            check({str(zip_path)!r}, "0" * 64, {{}})
        except Exception as e:
            print(type(e).__name__, e)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "['app_id']", f"DeploymentError {zip_path} changed after the preview; run `pulumi up` again"]


def test_outputs(stack):
    assert stack.outputs["apiUrl"] == f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/prod"
    assert stack.outputs["apiArn"] == API_ARN
    assert stack.outputs["accessRoleArns"]["team-b/contributor"] == (
        f"arn:aws:iam::{ACCOUNT}:role/mlflow-team-b-contributor")
    assert set(stack.outputs) >= {"userPoolId", "userPoolClientId", "artifactBucket"}
    assert stack.outputs["uiUrl"] == "https://main.d1a2b3c4d5e6f7.amplifyapp.com"


def test_the_provider_refuses_other_accounts(stack):
    provider = stack.one("pulumi:providers:aws").inputs
    assert json.loads(provider["allowedAccountIds"]) == [ACCOUNT]
    assert provider["region"] == REGION


def test_the_program_builds_nothing_while_it_declares_resources():
    """Builds run in components.builds before any component (pulumi up calls it first); the
    stack tests hand in prebuilt artifacts and refuse npm and pip, so they run offline, and a
    component that builds in its constructor fails them."""
    import components.builds
    from tests.pulumi_program import BuildDuringEvaluation, offline_builds

    with offline_builds():
        assert components.builds.build_central() == prebuilt()
        for argv in (["npm", "ci"], ["/usr/bin/npm", "ci"], [sys.executable, "-m", "pip",
                                                             "download", "x"]):
            with pytest.raises(BuildDuringEvaluation, match="builds belong to components.builds"):
                subprocess.run(argv, capture_output=True)
        assert subprocess.run(["true"]).returncode == 0  # anything else runs


def test_the_tasks_reach_https_and_their_database_only_and_write_only_to_tmp(stack):
    task_sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "server-sg")
    assert not task_sg.inputs.get("egress")  # no inline allow-all: only the rules below
    egress = {r.name.removeprefix("mlflow-server-"): r.inputs for r in stack.of_type(
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == task_sg.outputs["id"]}
    assert {name: (rule["ipProtocol"], rule["fromPort"], rule["toPort"], rule.get("cidrIpv4"),
                   rule.get("referencedSecurityGroupId"))
            for name, rule in egress.items()} == {
        "https-out": ("tcp", 443, 443, "0.0.0.0/0", None),
        "database-out": ("tcp", 5432, 5432, None, "mlflow-db-sg-id")}
    every_rule = stack.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") + \
        stack.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert all(r.inputs.get("description") for r in every_rule)
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-task").inputs
    [container] = json.loads(task["containerDefinitions"])
    assert container["readonlyRootFilesystem"] is True
    assert container["mountPoints"] == [{"sourceVolume": "scratch", "containerPath": "/tmp",
                                         "readOnly": False}]
    assert task["volumes"] == [{"name": "scratch"}]  # no host path: Fargate's ephemeral storage
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert (environment["HOME"], environment["TMPDIR"]) == ("/tmp", "/tmp")
    assert stack.one("aws:lb/loadBalancer:LoadBalancer").inputs["enableDeletionProtection"] is True


def test_the_vpc_logs_every_connection(stack):
    flow = stack.one("aws:ec2/flowLog:FlowLog").inputs
    group = next(g for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")
                 if g.name.endswith("flow-logs"))
    assert (flow["trafficType"], flow["logDestinationType"]) == ("ALL", "cloud-watch-logs")
    assert flow["logDestination"] == group.outputs["arn"]
    assert group.inputs["retentionInDays"] == 90
    role = next(r for r in stack.of_type("aws:iam/role:Role") if r.name.endswith("flow-logs"))
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc-flow-log/*"}}
    default = stack.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert (default.get("ingress"), default.get("egress")) == ([], [])


# --- the registry's events (components/registry_events.py) -----------------------------------

def test_the_central_bus_forwards_each_teams_events_to_its_account_only(stack):
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/mlflow-landing-zone"
    bus = stack.one("aws:cloudwatch/eventBus:EventBus")
    assert bus.inputs["name"] == "mlflow-landing-zone"
    rules = {r.inputs["name"]: r for r in stack.of_type("aws:cloudwatch/eventRule:EventRule")}
    # beside the audit and forward rules, the status writer's (the team deployers' reports)
    assert set(rules) == {"mlflow-landing-zone-audit", "mlflow-landing-zone-to-team-a",
                          "mlflow-landing-zone-to-team-b", "mlflow-deployment-status"}
    assert all(r.inputs["eventBusName"] == "mlflow-landing-zone" for r in rules.values())
    # the bus admits the team accounts' deployers, for their status events alone
    bus_policy = json.loads(stack.one("aws:cloudwatch/eventBusPolicy:EventBusPolicy")
                            .inputs["policy"])
    [admitted] = bus_policy["Statement"]
    assert admitted["Condition"]["StringEquals"]["events:source"] == \
        "mlflow.landing-zone.deployer"
    assert admitted["Condition"]["ArnLike"]["aws:PrincipalArn"] == \
        "arn:aws:iam::*:role/mlflow-*-deployer"
    targets = {t.inputs["rule"]: t for t in stack.of_type("aws:cloudwatch/eventTarget:EventTarget")}
    for team, account in (("team-a", "222222222222"), ("team-b", "333333333333")):
        rule = rules[f"mlflow-landing-zone-to-{team}"]
        assert json.loads(rule.inputs["eventPattern"]) == {
            "source": ["mlflow.landing-zone"], "detail": {"team": [team]}}
        target = targets[f"mlflow-landing-zone-to-{team}"]
        team_bus = f"arn:aws:events:{REGION}:{account}:event-bus/mlflow-landing-zone"
        assert target.inputs["arn"] == team_bus
        assert target.inputs["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/mlflow-events-to-{team}"
        role = stack.one("aws:iam/role:Role", f"registry-events-to-{team}")
        assert policy(role, "assumeRolePolicy") == {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnEquals": {
                "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/mlflow-landing-zone/"
                                 f"mlflow-landing-zone-to-{team}"}}}]}
        assert policy(stack.one("aws:iam/rolePolicy:RolePolicy", f"registry-events-to-{team}")
                      ) == {"Version": "2012-10-17", "Statement": [{
                          "Sid": "PutOnTheTeamsBusOnly", "Effect": "Allow",
                          "Action": "events:PutEvents", "Resource": team_bus}]}
    # every event into the audit log group, which only that rule writes to
    audit = targets["mlflow-landing-zone-audit"]
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/events/mlflow-landing-zone/" \
            "registry-events"
    assert audit.inputs["arn"] == group
    assert json.loads(rules["mlflow-landing-zone-audit"].inputs["eventPattern"]) == {
        "source": ["mlflow.landing-zone", "mlflow.landing-zone.deployer"]}
    logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "registry-events-audit")
    assert logs.inputs["retentionInDays"] == 90 and logs.protect
    delivery = stack.one("aws:cloudwatch/logResourcePolicy:LogResourcePolicy", "audit")
    assert policy(delivery, "policyDocument")["Statement"] == [{
        "Sid": "EventBridgeWritesTheRegistryEvents", "Effect": "Allow",
        "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{group}:*",
        "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"
                                    "mlflow-landing-zone/mlflow-landing-zone-audit"}}}]
    assert stack.outputs["registryEventBusArn"] == bus_arn


def test_the_server_learns_the_bus_and_only_the_teams_that_change_the_approval_rule():
    from components.tracking_server import container_definitions

    args = ("image", REGION, "logs", "bucket", "db", "secret", "nlb", ("team-a",), 1024, 2048,
            None, "arn:aws:iam::111111111111:role/w")
    plain = {e["name"]: e["value"] for e in container_definitions(*args)[0]["environment"]}
    assert not {"MLFLOW_LZ_EVENT_BUS_ARN", "MLFLOW_LZ_APPROVAL"} & set(plain)
    # the one platform writer is always the account's deployment status writer
    assert plain["MLFLOW_LZ_PLATFORM_WRITER_ARNS"] == \
        "arn:aws:iam::111111111111:role/mlflow-platform-status-writer"
    env = {e["name"]: e["value"] for e in container_definitions(
        *args, event_bus_arn="arn:aws:events:us-east-1:111111111111:event-bus/mlflow-landing-zone",
        approval={"team-b": {"deployAlias": "prod", "requireSecondPerson": False}})[0][
        "environment"]}
    assert env["MLFLOW_LZ_EVENT_BUS_ARN"] == (
        "arn:aws:events:us-east-1:111111111111:event-bus/mlflow-landing-zone")
    assert json.loads(env["MLFLOW_LZ_APPROVAL"]) == {
        "team-b": {"deployAlias": "prod", "requireSecondPerson": False}}


def test_the_stack_carries_a_teams_approval_rule_to_the_task():
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["teams"][1]["deployAlias"] = "production"
    inventory = run_program(config)
    task = inventory.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-task")
    definitions = task.inputs["containerDefinitions"]
    env = {e["name"]: e["value"] for e in json.loads(definitions)[0]["environment"]}
    assert json.loads(env["MLFLOW_LZ_APPROVAL"]) == {
        "team-b": {"deployAlias": "production", "requireSecondPerson": True}}
    assert env["MLFLOW_LZ_EVENT_BUS_ARN"] == (
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/mlflow-landing-zone")
