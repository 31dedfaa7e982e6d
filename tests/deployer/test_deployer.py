"""The team's deployer and the platform's status writer (deployer/) against moto, with the
sandbox's SageMaker hosting mends (sandbox/serving.py) provisioning in the calling thread: a
promotion creates the endpoint, the next updates it blue/green, a version that cannot load is
rolled back, the alias removed deletes it; every step is a status event on the central bus."""

import json
import re

import boto3
import pytest
from moto import mock_aws

from deployer import _spec
from deployer.handler import (
    CONTAINER_ENVIRONMENT,
    Deployer,
    Settings,
    endpoint_name,
    version_of_config,
    version_resource_name,
)
from deployer.status_writer import Refused, check, set_tag_request, write
from sandbox import serving
from spec.registry_events import DETAIL_FIELDS, EVENT_BUS_NAME, central_bus_arn

TEAM_ACCOUNT, CENTRAL, REGION = "123456789012", "111111111111", "us-east-1"
BUCKET = "central-artifacts"
SERVING_ROLE = f"arn:aws:iam::{TEAM_ACCOUNT}:role/mlflow-team-a-serving"
IMAGE = f"{TEAM_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlflow-team-a-serving:3.17.0"
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's names


def env(**changes):
    values = {"TEAM": "team-a", "ACCOUNT_ID": TEAM_ACCOUNT, "AWS_REGION": REGION,
              "DEPLOY_ALIAS": "champion", "IMAGE_URI": IMAGE, "EXECUTION_ROLE_ARN": SERVING_ROLE,
              "KMS_KEY_ARN": f"arn:aws:kms:{REGION}:{TEAM_ACCOUNT}:key/team",
              "SERVERLESS_MEMORY_MB": "3072", "SERVERLESS_MAX_CONCURRENCY": "4",
              "CENTRAL_BUS_ARN": central_bus_arn(REGION, CENTRAL), "ROLLBACK_WAIT_SECONDS": "60"}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def registry_event(kind, version, model="churn", alias="champion", team="team-a"):
    detail = dict.fromkeys(DETAIL_FIELDS)
    detail.update(team=team, workspace=team, model=model, version=str(version), alias=alias,
                  frozen_location=f"s3://{BUCKET}/registry/workspaces/{team}/{model}/v{version}-"
                                  f"{'0' * 12}" + ("-broken" if version == 3 else ""),
                  registrant="alice", approver="bob", time="2026-12-04T18:00:00Z")
    return {"version": "0", "id": "x", "source": _spec.EVENT_SOURCE, "account": CENTRAL,
            "region": REGION, "detail-type": kind, "detail": detail}


def provision(backend, config_name):
    """A stand-in for loading the frozen copy: a version whose copy ends in -broken does not."""
    config = backend.endpoint_configs[config_name]
    model = backend._models[config.production_variants[0]["ModelName"]]
    uri = model.primary_container["ModelDataSource"]["S3DataSource"]["S3Uri"]
    if "broken" in uri:
        raise RuntimeError("MLmodel could not be loaded")
    return {"serves": uri}


class Loop:
    """moto with the central bus (status events into a queue) and the team's default bus
    (SageMaker's state changes into another), and the deployer."""

    def __init__(self, tmp_path, **changes):
        self.hosting = serving.install("http://unused", tmp_path, synchronous=True,
                                       provision=provision)
        central = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=f"arn:aws:iam::{CENTRAL}:role/admin", RoleSessionName="setup")["Credentials"]
        keys = dict(aws_access_key_id=central["AccessKeyId"],
                    aws_secret_access_key=central["SecretAccessKey"],
                    aws_session_token=central["SessionToken"])
        self.status = self._queue(boto3.client("events", region_name=REGION, **keys),
                                  boto3.client("sqs", region_name=REGION, **keys), EVENT_BUS_NAME,
                                  {"source": [_spec.DEPLOYER_SOURCE]}, "status")
        self.changes = self._queue(boto3.client("events", region_name=REGION),
                                   boto3.client("sqs", region_name=REGION), "default",
                                   {"source": ["aws.sagemaker"]}, "changes")
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.deployer = Deployer(Settings(env(**changes)), sagemaker=self.sagemaker)

    @staticmethod
    def _queue(events, sqs, bus, pattern, name):
        if bus != "default":
            events.create_event_bus(Name=bus)
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        return sqs, url

    @staticmethod
    def drain(queue):
        sqs, url = queue
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    def run(self, event):
        """The deployer on one event, then on each state change SageMaker announced."""
        self.deployer.handle(event)
        for change in self.drain(self.changes):
            self.deployer.handle(change)
        return [(e["account"], e["detail"]) for e in self.drain(self.status)]


@pytest.fixture
def loop(tmp_path):
    with mock_aws():
        yield Loop(tmp_path)


def status(version, state, model="churn"):
    endpoint = endpoint_name("team-a", model)
    return (TEAM_ACCOUNT, {"team": "team-a", "workspace": "team-a", "model": model,
                           "version": str(version), "deployment": {
                               "state": state, "endpoint": endpoint, "account": TEAM_ACCOUNT,
                               "region": REGION, "version": str(version)}})


def test_a_promotion_serves_the_frozen_copy_with_mlflows_container_serverless(loop):
    assert loop.run(registry_event(_spec.PROMOTED, 1)) == [status(1, "Creating"),
                                                            status(1, "InService")]
    endpoint = endpoint_name("team-a", "churn")
    described = loop.sagemaker.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    config = loop.sagemaker.describe_endpoint_config(
        EndpointConfigName=described["EndpointConfigName"])
    [variant] = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 4}
    assert variant["VariantName"] == "AllTraffic" and "KmsKeyId" not in config
    model = loop.sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["ExecutionRoleArn"] == SERVING_ROLE
    assert model["PrimaryContainer"] == {
        "Image": IMAGE, "Environment": CONTAINER_ENVIRONMENT,
        "ModelDataSource": {"S3DataSource": {
            "S3Uri": f"s3://{BUCKET}/registry/workspaces/team-a/churn/v1-{'0' * 12}/",
            "S3DataType": "S3Prefix", "CompressionType": "None"}}}
    # MLflow's own container contract (mlflow.sagemaker), not one of ours
    from mlflow.sagemaker import _get_deployment_config
    assert CONTAINER_ENVIRONMENT == _get_deployment_config("python_function")


def test_a_new_version_replaces_it_blue_green_and_a_broken_one_rolls_back(loop):
    loop.run(registry_event(_spec.PROMOTED, 1))
    assert loop.run(registry_event(_spec.PROMOTED, 2)) == [status(2, "Updating"),
                                                            status(2, "InService")]
    endpoint = endpoint_name("team-a", "churn")
    described = loop.sagemaker.describe_endpoint(EndpointName=endpoint)
    assert version_of_config(described["EndpointConfigName"]) == "2"
    assert loop.run(registry_event(_spec.PROMOTED, 3)) == [status(3, "Updating"),
                                                            status(3, "RolledBack")]
    described = loop.sagemaker.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    assert version_of_config(described["EndpointConfigName"]) == "2"  # 2 serves on
    assert "rolled back" in described["FailureReason"]
    assert loop.hosting.model_for(TEAM_ACCOUNT, REGION, endpoint)["serves"].endswith(
        f"/v2-{'0' * 12}/")


def test_the_update_is_blue_green_with_an_alarm_that_rolls_it_back(loop):
    loop.run(registry_event(_spec.PROMOTED, 1))
    loop.run(registry_event(_spec.PROMOTED, 2))
    endpoint = endpoint_name("team-a", "churn")
    from moto.sagemaker.models import sagemaker_backends
    deployment = sagemaker_backends[TEAM_ACCOUNT][REGION].endpoints[endpoint].deployment_config
    alarm = f"{endpoint}-model-errors"
    assert deployment == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": 60, "MaximumExecutionTimeoutInSeconds": 3600},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}
    [described] = boto3.client("cloudwatch", region_name=REGION).describe_alarms(
        AlarmNames=[alarm])["MetricAlarms"]
    assert (described["Namespace"], described["MetricName"], described["Threshold"],
            described["ComparisonOperator"]) == (
        "AWS/SageMaker", "Invocation5XXErrors", 0.0, "GreaterThanThreshold")
    assert {d["Name"]: d["Value"] for d in described["Dimensions"]} == {
        "EndpointName": endpoint, "VariantName": "AllTraffic"}


def test_a_failed_creation_says_failed_and_the_next_promotion_makes_it_again(loop):
    assert loop.run(registry_event(_spec.PROMOTED, 3)) == [status(3, "Creating"),
                                                            status(3, "Failed")]
    assert loop.run(registry_event(_spec.PROMOTED, 2)) == [status(2, "Creating"),
                                                            status(2, "InService")]


def test_removing_the_alias_deletes_the_endpoint(loop):
    loop.run(registry_event(_spec.PROMOTED, 1))
    assert loop.run(registry_event(_spec.ALIAS_REMOVED, 1)) == [status(1, "Deleted")]
    assert loop.sagemaker.list_endpoints()["Endpoints"] == []
    assert loop.hosting.hosted == {}


def test_removing_an_alias_whose_last_target_was_rolled_back_marks_the_served_version(loop):
    """The alias points at version 3, which never served (rolled back): the endpoint that
    goes is version 2's, and so is its "Deleted"."""
    loop.run(registry_event(_spec.PROMOTED, 2))
    loop.run(registry_event(_spec.PROMOTED, 3))
    assert loop.run(registry_event(_spec.ALIAS_REMOVED, 3)) == [status(2, "Deleted")]
    assert loop.sagemaker.list_endpoints()["Endpoints"] == []


def test_a_stack_that_keeps_endpoints_keeps_it(tmp_path):
    with mock_aws():
        loop = Loop(tmp_path, DELETE_ON_ALIAS_REMOVED="false")
        loop.run(registry_event(_spec.PROMOTED, 1))
        assert loop.run(registry_event(_spec.ALIAS_REMOVED, 1)) == []
        assert len(loop.sagemaker.list_endpoints()["Endpoints"]) == 1


@pytest.mark.parametrize("changes", [{"alias": "challenger"}, {"team": "team-b"}])
def test_another_alias_or_another_teams_event_deploys_nothing(loop, changes):
    assert loop.run(registry_event(_spec.PROMOTED, 1, **changes)) == []
    assert loop.sagemaker.list_endpoints()["Endpoints"] == []


def test_a_version_without_a_frozen_copy_is_refused(loop):
    event = registry_event(_spec.PROMOTED, 1)
    event["detail"]["frozen_location"] = None
    with pytest.raises(ValueError, match="no frozen copy"):
        loop.deployer.handle(event)


def test_instances_when_configured_with_the_teams_key_on_their_volumes(tmp_path):
    with mock_aws():
        loop = Loop(tmp_path, INSTANCE_TYPE="ml.m5.large", INSTANCE_COUNT="2")
        loop.run(registry_event(_spec.PROMOTED, 1))
        endpoint = loop.sagemaker.describe_endpoint(EndpointName=endpoint_name("team-a", "churn"))
        config = loop.sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"])
        assert config["KmsKeyId"] == f"arn:aws:kms:{REGION}:{TEAM_ACCOUNT}:key/team"
        assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.large"
        assert config["ProductionVariants"][0]["InitialInstanceCount"] == 2


@pytest.mark.parametrize("model", ["churn", "a_b", "a-b", "Ünïcode model/with slashes",
                                   "x" * 250, "---"])
def test_names_are_sagemakers_and_the_teams_own(model):
    endpoint = endpoint_name("team-a-long-name-of-thirty-two", model)
    assert NAME.match(endpoint) and endpoint.startswith("team-a-long-name-of-thirty-two-")
    version = version_resource_name(endpoint, "4294967295", "s3://b/x")
    assert NAME.match(version) and version_of_config(version) == "4294967295"
    assert version.startswith("team-a-long-name-of-thirty-two-")
    assert endpoint_name("team-a", "a_b") != endpoint_name("team-a", "a-b")


# --- the status writer -----------------------------------------------------------------------

TEAMS = {"team-a": TEAM_ACCOUNT, "team-b": "333333333333"}


def status_event(account=TEAM_ACCOUNT, **changes):
    _, detail = status(2, "InService")
    detail.update(changes)
    return {"source": _spec.DEPLOYER_SOURCE, "detail-type": _spec.DEPLOYMENT_STATUS_DETAIL_TYPE,
            "account": account, "detail": detail}


def test_the_writer_records_only_a_teams_own_account_on_its_own_workspace():
    assert check(status_event(), TEAMS)["model"] == "churn"
    for event, reason in [
            (status_event(account="333333333333"), "is not team 'team-a'"),
            (status_event(team="team-c"), "is not team 'team-c'"),
            (status_event(workspace="team-b"), "only on its own workspace"),
            (status_event(deployment={"state": "Serving", "endpoint": "e",
                                      "account": TEAM_ACCOUNT, "region": REGION,
                                      "version": "2"}), "a deployment is"),
            (status_event(deployment={"state": "InService", "endpoint": "e",
                                      "account": "333333333333", "region": REGION,
                                      "version": "2"}), "a deployment is"),
            (status_event(version="1"), "a deployment is"),
            ({**status_event(), "source": _spec.EVENT_SOURCE}, "not a deployer's status")]:
        with pytest.raises(Refused, match=reason):
            check(event, TEAMS)


def test_the_writer_sets_the_tag_on_the_teams_path_signed_with_its_role():
    url, body, headers = set_tag_request("https://api.example/prod/", status_event()["detail"])
    assert url == "https://api.example/prod/team-a/api/2.0/mlflow/model-versions/set-tag"
    assert json.loads(body) == {"name": "churn", "version": "2", "key": "landing_zone.deployment",
                                "value": json.dumps(status(2, "InService")[1]["deployment"],
                                                    separators=(",", ":"))}
    assert headers["X-MLFLOW-WORKSPACE"] == "team-a"
    sent = []

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"{}"

    def opener(request, timeout):
        sent.append(request)
        return Response()

    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                            region_name=REGION)
    write(status_event(), "https://api.example/prod", REGION, session=session, teams=TEAMS,
          opener=opener)
    [request] = sent
    authorization = request.get_header("Authorization")
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert f"/{REGION}/execute-api/aws4_request" in authorization
    assert request.full_url == url.replace("api.example/prod/", "api.example/prod/")
