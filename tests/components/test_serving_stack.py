"""The team stack's serving under mocks (components/serving.py): the deployer, its roles, its
rules and what they match, and the serving role's reach."""

import copy
import io
import json
import zipfile

import pytest

from deployer.build import SHIPPED
from spec.config import MLFLOW_IMAGE_TAG, ConfigError, parse_datascience
from spec.serving import deployer_policy, serving_role_policy
from roles.policy_eval import ALLOW, evaluate

from tests.pulumi_program import run_program, stack_config

TEAM_ACCOUNT, CENTRAL, REGION = "222222222222", "111111111111", "us-east-1"
BUCKET = "mlflow-store-artifacts-0123456"
CENTRAL_KEY = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000000"


def datascience(**serving):
    config = copy.deepcopy(stack_config("datascience"))
    config["mlflow-landing-zone:datascience"]["serving"].update(serving)
    return config


@pytest.fixture(scope="module")
def stack():
    return run_program(datascience(), stack="datascience")


def doc(resource, key):
    value = resource.inputs[key]
    return json.loads(value) if isinstance(value, str) else value


def test_the_deployer_runs_the_shipped_handler_with_the_teams_settings(stack):
    function = stack.one("aws:lambda/function:Function", "deployer")
    assert function.inputs["name"] == "mlflow-team-a-deployer"
    assert function.inputs["handler"] == "deployer.handler.handler"
    assert function.inputs["runtime"] == "python3.12"
    assert function.inputs["reservedConcurrentExecutions"] == 1
    variables = function.inputs["environment"]["variables"]
    assert variables == {
        "TEAM": "team-a", "ACCOUNT_ID": TEAM_ACCOUNT, "DEPLOY_ALIAS": "champion",
        "IMAGE_URI": f"{TEAM_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/"
                     f"mlflow-team-a-serving-image:{MLFLOW_IMAGE_TAG}",
        "EXECUTION_ROLE_ARN": f"arn:aws:iam::{TEAM_ACCOUNT}:role/mlflow-team-a-serving",
        "KMS_KEY_ARN": f"arn:aws:kms:{REGION}:{TEAM_ACCOUNT}:key/key-mlflow-team-a-serving-key",
        "SERVERLESS_MEMORY_MB": "2048", "SERVERLESS_MAX_CONCURRENCY": "5",
        "INSTANCE_COUNT": "1", "DELETE_ON_ALIAS_REMOVED": "true",
        "CENTRAL_BUS_ARN": f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/mlflow-landing-zone"}
    assert "INSTANCE_TYPE" not in variables  # serverless by default
    assert stack.outputs["deployerFunctionArn"].endswith(":function:mlflow-team-a-deployer")


def test_the_archive_holds_the_package_as_the_repository_has_it():
    from deployer.build import archive_files
    files = archive_files()
    assert sorted(files) == sorted(f"deployer/{name}" for name in SHIPPED)
    assert "deployer/teams.json" not in files  # the status writer's alone


def test_the_rules_match_the_teams_deploy_alias_and_its_endpoints_states(stack):
    rules = {r.inputs["name"]: r for r in stack.of_type("aws:cloudwatch/eventRule:EventRule")}
    # the deployer's two, beside the team bus's own audit rule (components/registry_events.py)
    assert sorted(rules) == ["mlflow-landing-zone-audit", "mlflow-team-a-endpoint-states",
                             "mlflow-team-a-promotions"]
    promotions = rules["mlflow-team-a-promotions"]
    assert promotions.inputs["eventBusName"] == "mlflow-landing-zone"
    assert doc(promotions, "eventPattern") == {
        "source": ["mlflow.landing-zone"],
        "detail-type": ["Model version promoted", "Model alias removed"],
        "detail": {"team": ["team-a"], "alias": ["champion"]}}
    states = rules["mlflow-team-a-endpoint-states"]
    assert states.inputs["eventBusName"] == "default"
    assert doc(states, "eventPattern") == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Endpoint State Change"],
        "detail": {"EndpointName": [{"prefix": "team-a-"}]}}
    targets = [t for t in stack.of_type("aws:cloudwatch/eventTarget:EventTarget")
               if "audit" not in t.name]
    assert len(targets) == 2
    assert {t.inputs["arn"] for t in targets} == {
        f"arn:aws:lambda:{REGION}:{TEAM_ACCOUNT}:function:mlflow-team-a-deployer"}
    permissions = stack.of_type("aws:lambda/permission:Permission")
    assert sorted((p.inputs["principal"], p.inputs["action"]) for p in permissions) == [
        ("events.amazonaws.com", "lambda:InvokeFunction")] * 2


def test_the_deployer_listens_on_the_teams_one_bus_which_only_the_central_forwarder_puts_on(stack):
    """One bus per team account (components/registry_events.TeamEventBus), shared by the
    registry's forwarded events and the deployer's rule."""
    bus = stack.one("aws:cloudwatch/eventBus:EventBus")
    assert bus.inputs["name"] == "mlflow-landing-zone"
    policy = doc(stack.one("aws:cloudwatch/eventBusPolicy:EventBusPolicy"), "policy")
    assert policy["Statement"] == [{
        "Sid": "TheCentralForwardRuleOnly", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"}, "Action": "events:PutEvents",
        "Resource": bus.outputs["arn"],
        "Condition": {"ArnEquals": {"aws:PrincipalArn":
                                    f"arn:aws:iam::{CENTRAL}:role/mlflow-events-to-team-a"}}}]
    promotions = stack.one("aws:cloudwatch/eventRule:EventRule", "promotions")
    assert promotions.inputs["eventBusName"] == bus.inputs["name"]


def test_the_serving_role_reads_only_the_teams_registry_prefix(stack):
    role = stack.one("aws:iam/role:Role", "serving-endpoints")
    assert role.inputs["name"] == "mlflow-team-a-serving"
    assert role.inputs["tags"] == {"mlflow-team": "team-a"}
    assert doc(role, "assumeRolePolicy")["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"}
    policy = doc(stack.one("aws:iam/rolePolicy:RolePolicy", "serving-endpoints"), "policy")
    repository = stack.one("aws:ecr/repository:Repository").outputs["arn"]
    assert policy == serving_role_policy("team-a", TEAM_ACCOUNT, REGION, BUCKET, CENTRAL_KEY,
                                         repository)
    ctx = {"aws:PrincipalArn": role.outputs["arn"]}

    def may(action, resource, **extra):
        return evaluate([policy], action, resource, {**ctx, **extra}) == ALLOW

    own = f"arn:aws:s3:::{BUCKET}/registry/workspaces/team-a/churn/v1-abc/MLmodel"
    assert may("s3:GetObject", own)
    assert may("s3:ListBucket", f"arn:aws:s3:::{BUCKET}",
               **{"s3:prefix": "registry/workspaces/team-a/churn/"})
    for other in (f"arn:aws:s3:::{BUCKET}/registry/workspaces/team-b/churn/v1-abc/MLmodel",
                  f"arn:aws:s3:::{BUCKET}/artifacts/workspaces/team-a/1/abc/artifacts/x",
                  f"arn:aws:s3:::{BUCKET}/registry/workspaces/team-ab/x"):
        assert not may("s3:GetObject", other), other
    assert not may("s3:ListBucket", f"arn:aws:s3:::{BUCKET}",
                   **{"s3:prefix": "registry/workspaces/team-b/"})
    assert not may("s3:PutObject", own)
    assert may("kms:Decrypt", CENTRAL_KEY, **{"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    assert not may("kms:Decrypt", CENTRAL_KEY)  # only through S3
    central = [s for s in policy["Statement"]
               if any(CENTRAL in r for r in ([s["Resource"]] if isinstance(s["Resource"], str)
                                             else s["Resource"]))]
    assert [s["Sid"] for s in central] == ["DecryptThroughS3Only"]


def test_the_deployer_reaches_the_teams_endpoints_and_passes_only_the_serving_role(stack):
    role = stack.one("aws:iam/role:Role", "serving-deployer")
    assert role.inputs["name"] == "mlflow-team-a-deployer"
    policy = doc(stack.one("aws:iam/rolePolicy:RolePolicy", "serving-deployer"), "policy")
    logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "deployer").outputs["arn"]
    key = f"arn:aws:kms:{REGION}:{TEAM_ACCOUNT}:key/key-mlflow-team-a-serving-key"
    assert policy == deployer_policy("team-a", TEAM_ACCOUNT, REGION, CENTRAL, key, logs)
    sm = f"arn:aws:sagemaker:{REGION}:{TEAM_ACCOUNT}"

    def may(action, resource, **extra):
        return evaluate([policy], action, resource, extra) == ALLOW

    assert may("sagemaker:UpdateEndpoint", f"{sm}:endpoint/team-a-churn-88b2072e")
    assert not may("sagemaker:UpdateEndpoint", f"{sm}:endpoint/team-b-churn-88b2072e")
    assert not may("sagemaker:CreateTrainingJob", f"{sm}:training-job/team-a-x")
    assert may("iam:PassRole", f"arn:aws:iam::{TEAM_ACCOUNT}:role/mlflow-team-a-serving",
               **{"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not may("iam:PassRole", f"arn:aws:iam::{TEAM_ACCOUNT}:role/mlflow-team-a-admin-"
                   "sagemaker", **{"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert may("events:PutEvents",
               f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/mlflow-landing-zone")
    assert not may("events:PutEvents", f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/default")


def test_the_image_repository_and_the_endpoint_key_are_the_teams(stack):
    repository = stack.one("aws:ecr/repository:Repository")
    assert repository.inputs["name"] == "mlflow-team-a-serving"
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    key = stack.one("aws:kms/key:Key", "serving")
    assert key.inputs["enableKeyRotation"] is True


def test_instances_and_settings_from_the_config():
    inventory = run_program(datascience(instanceType="ml.m5.large", instanceCount=2,
                                        memoryMb=4096, maxConcurrency=10, deployAlias="prod",
                                        deleteOnAliasRemoved=False), stack="datascience")
    variables = inventory.one("aws:lambda/function:Function", "deployer").inputs[
        "environment"]["variables"]
    assert (variables["INSTANCE_TYPE"], variables["INSTANCE_COUNT"],
            variables["SERVERLESS_MEMORY_MB"], variables["SERVERLESS_MAX_CONCURRENCY"],
            variables["DEPLOY_ALIAS"], variables["DELETE_ON_ALIAS_REMOVED"]) == (
        "ml.m5.large", "2", "4096", "10", "prod", "false")


def test_serving_off_declares_none_of_it():
    inventory = run_program(datascience(enabled=False), stack="datascience")
    assert inventory.of_type("aws:lambda/function:Function") == []
    # the team bus's own audit rule stays (the registry's events reach every team account)
    assert [r.inputs["name"] for r in inventory.of_type("aws:cloudwatch/eventRule:EventRule")] \
        == ["mlflow-landing-zone-audit"]


@pytest.mark.parametrize("changes, message", [
    ({"artifactBucket": None}, r"serving\.artifactBucket must be the central stack's"),
    ({"artifactKeyArn": "arn:aws:kms:eu-west-1:111111111111:key/"
                        "00000000-0000-0000-0000-000000000000"}, r"serving\.artifactKeyArn"),
    ({"memoryMb": 1500}, r"serving\.memoryMb must be one of 1024, 2048"),
    ({"maxConcurrency": 0}, r"serving\.maxConcurrency must be between 1 and 200"),
    ({"instanceType": "m5.large"}, r"serving\.instanceType must be a SageMaker instance type"),
    ({"deployAlias": "a b"}, r"serving\.deployAlias must be an MLflow alias"),
    ({"colour": "blue"}, r"serving has unknown keys: colour"),
])
def test_bad_serving_config_names_the_key(changes, message):
    raw = datascience(**changes)["mlflow-landing-zone:datascience"]
    raw["serving"] = {k: v for k, v in raw["serving"].items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        parse_datascience(raw, REGION)
