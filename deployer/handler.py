"""The team account's deployer: a promotion of the team's deploy alias serves the frozen copy
of that version on a SageMaker endpoint of this account, with MLflow's own SageMaker serving
image (`mlflow sagemaker build-and-push-container`, in the team's ECR: the container reads the
model from /opt/ml/model and serves it with MLflow's scoring server).

One Lambda, three kinds of event (the team stack's rules, components/serving.py):
- the registry's `promoted` of the deploy alias (forwarded from the central bus onto the team's
  own bus): create the endpoint, or update it blue/green with automatic rollback (a CloudWatch
  alarm on the new fleet's errors; SageMaker itself rolls back an update whose new fleet does
  not come up, a model that cannot load);
- the registry's `alias_removed` of the deploy alias: delete the endpoint (unless the stack
  keeps endpoints: DELETE_ON_ALIAS_REMOVED=false);
- SageMaker's own "SageMaker Endpoint State Change" (the account's default bus): how a creation
  or an update ended.
Each step is reported as a status event on the central bus (DEPLOYER_SOURCE), which the
platform's status writer (deployer/status_writer.py) records on the model version as the tag
`landing_zone.deployment` = {"state", "endpoint", "account", "region", "version"}.

Runs on the Lambda runtime (boto3 is the runtime's); imports nothing of the repository but
its generated `_spec.py`.
"""

import base64
import hashlib
import json
import logging
import os
import re

import boto3
from botocore.exceptions import ClientError

from . import _spec

log = logging.getLogger()
log.setLevel(logging.INFO)

VARIANT = "AllTraffic"  # blue/green needs the same variant name in every config
# MLflow's SageMaker container contract (mlflow.sagemaker._get_deployment_config): which
# flavor to serve, and that it serves on SageMaker.
CONTAINER_ENVIRONMENT = {"MLFLOW_DEPLOYMENT_FLAVOR_NAME": "python_function",
                         "SERVING_ENVIRONMENT": "SageMaker"}
TAG_TEAM, TAG_WORKSPACE, TAG_MODEL, TAG_VERSION = (
    "mlflow:team", "mlflow:workspace", "mlflow:model", "mlflow:version")
_NAME_MAX = 63  # SageMaker's endpoint, config and model names
_CONFIG_VERSION = re.compile(r"-v(\d+)-[0-9a-f]{8}$")


class Settings:
    """The Lambda's environment, as the team stack sets it (components/serving.py)."""

    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.team = env["TEAM"]
        self.account = env["ACCOUNT_ID"]
        self.region = env.get("AWS_REGION") or env["AWS_DEFAULT_REGION"]
        self.alias = env.get("DEPLOY_ALIAS") or _spec.DEFAULT_DEPLOY_ALIAS
        self.image = env["IMAGE_URI"]
        self.execution_role = env["EXECUTION_ROLE_ARN"]
        self.kms_key = env.get("KMS_KEY_ARN") or None
        self.memory_mb = int(env.get("SERVERLESS_MEMORY_MB") or 2048)
        self.max_concurrency = int(env.get("SERVERLESS_MAX_CONCURRENCY") or 5)
        self.instance_type = env.get("INSTANCE_TYPE") or None  # None: serverless
        self.instance_count = int(env.get("INSTANCE_COUNT") or 1)
        self.delete_on_alias_removed = env.get("DELETE_ON_ALIAS_REMOVED", "true") == "true"
        self.central_bus_arn = env["CENTRAL_BUS_ARN"]
        self.rollback_wait_seconds = int(env.get("ROLLBACK_WAIT_SECONDS") or 300)


def _digest(text: str, size: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def endpoint_name(team: str, model: str) -> str:
    """The team's endpoint of a registered model: `<team>-<model, SageMaker's letters>-<hash>`
    (the hash tells apart names that differ only in characters SageMaker does not allow)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model).strip("-") or "model"
    room = _NAME_MAX - len(team) - 1 - 9
    return f"{team}-{slug[:room].rstrip('-')}-{_digest(model)}"


def version_resource_name(endpoint: str, version: str, frozen_location: str) -> str:
    """The SageMaker model and endpoint config of one version (a new frozen copy: a new name)."""
    return f"{endpoint[:_NAME_MAX - 21].rstrip('-')}-v{version}-{_digest(frozen_location)}"


def version_of_config(config_name: str):
    match = _CONFIG_VERSION.search(config_name or "")
    return match.group(1) if match else None


def _encode(text: str) -> str:
    """A model name as a tag value (SageMaker's tag values allow few characters)."""
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode(text: str) -> str:
    return base64.urlsafe_b64decode(text.encode()).decode()


class Deployer:
    def __init__(self, settings: Settings, sagemaker=None, cloudwatch=None, events=None):
        self.s = settings
        self.sagemaker = sagemaker or boto3.client("sagemaker", region_name=settings.region)
        self.cloudwatch = cloudwatch or boto3.client("cloudwatch", region_name=settings.region)
        self.events = events or boto3.client("events", region_name=settings.region)

    # -- what arrives ---------------------------------------------------------------------

    def handle(self, event: dict):
        source, kind = event.get("source"), event.get("detail-type")
        detail = event.get("detail") or {}
        if source == _spec.EVENT_SOURCE and kind in (_spec.PROMOTED, _spec.ALIAS_REMOVED):
            if detail.get("team") != self.s.team or detail.get("alias") != self.s.alias:
                log.info("not this team's deploy alias: %s", json.dumps(detail))
                return None
            if kind == _spec.PROMOTED:
                return self.deploy(detail)
            return self.remove(detail)
        if source == _spec.SAGEMAKER_SOURCE and kind == _spec.ENDPOINT_STATE_CHANGE:
            return self.state_changed(detail)
        log.info("ignored: %s %s", source, kind)
        return None

    # -- a promotion ----------------------------------------------------------------------

    def deploy(self, detail: dict):
        model, version = detail["model"], str(detail["version"])
        location = detail["frozen_location"]
        if not (isinstance(location, str) and location.startswith("s3://")):
            raise ValueError(f"version {version} of {model!r} has no frozen copy in S3 "
                             f"({location!r}); only a frozen version is deployed")
        endpoint = endpoint_name(self.s.team, model)
        name = version_resource_name(endpoint, version, location)
        tags = {TAG_TEAM: self.s.team, TAG_WORKSPACE: detail.get("workspace") or self.s.team,
                TAG_MODEL: _encode(model), TAG_VERSION: version}
        self._create_model(name, location, tags)
        self._create_config(name, tags)
        current = self._describe(endpoint)
        if current is not None and current["EndpointStatus"] == "Failed":
            # a failed creation is not updated: it is made again (SageMaker deletes quickly)
            self.sagemaker.delete_endpoint(EndpointName=endpoint)
            self.sagemaker.get_waiter("endpoint_deleted").wait(
                EndpointName=endpoint, WaiterConfig={"Delay": 5, "MaxAttempts": 10})
            current = None
        alarm = self._rollback_alarm(endpoint)
        if current is None:
            self.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=name,
                                           Tags=_tag_list(tags))
            state = "Creating"
        else:
            if current["EndpointStatus"] not in ("InService",):
                # SageMaker refuses an update while another runs: fail, and Lambda's retries
                # of this asynchronous invocation try again later
                raise RuntimeError(f"endpoint {endpoint} is {current['EndpointStatus']}: "
                                   f"version {version} is deployed when it is InService")
            self.sagemaker.add_tags(ResourceArn=current["EndpointArn"], Tags=_tag_list(tags))
            self.sagemaker.update_endpoint(
                EndpointName=endpoint, EndpointConfigName=name,
                RetainAllVariantProperties=False,
                DeploymentConfig={
                    # blue/green: the new fleet comes up beside the old one, takes all the
                    # traffic at once, and is watched; a fleet that does not come up, or
                    # whose alarm fires while it is watched, is rolled back
                    "BlueGreenUpdatePolicy": {
                        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE",
                                                        "WaitIntervalInSeconds": 0},
                        "TerminationWaitInSeconds": self.s.rollback_wait_seconds,
                        "MaximumExecutionTimeoutInSeconds": 3600},
                    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}})
            state = "Updating"
        return self.report(detail.get("workspace") or self.s.team, model, version, state,
                           endpoint)

    def _create_model(self, name, location, tags):
        try:
            self.sagemaker.create_model(
                ModelName=name, ExecutionRoleArn=self.s.execution_role,
                PrimaryContainer={
                    "Image": self.s.image,
                    # the frozen copy as it is (uncompressed, under /opt/ml/model), read with
                    # the execution role, which reaches only this team's registry prefix
                    "ModelDataSource": {"S3DataSource": {
                        "S3Uri": location.rstrip("/") + "/", "S3DataType": "S3Prefix",
                        "CompressionType": "None"}},
                    "Environment": dict(CONTAINER_ENVIRONMENT)},
                Tags=_tag_list(tags))
        except ClientError as error:
            if not _already_exists(error):
                raise

    def _create_config(self, name, tags):
        if self.s.instance_type:
            variant = {"InitialInstanceCount": self.s.instance_count,
                       "InstanceType": self.s.instance_type}
            # the instances' storage volumes: the team's key
            encryption = {"KmsKeyId": self.s.kms_key} if self.s.kms_key else {}
        else:
            variant = {"ServerlessConfig": {"MemorySizeInMB": self.s.memory_mb,
                                            "MaxConcurrency": self.s.max_concurrency}}
            # serverless endpoints have no volume of their own to encrypt (SageMaker refuses
            # a key there)
            encryption = {}
        try:
            self.sagemaker.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[{"VariantName": VARIANT, "ModelName": name, **variant}],
                Tags=_tag_list(tags), **encryption)
        except ClientError as error:
            if not _already_exists(error):
                raise

    def _rollback_alarm(self, endpoint: str) -> str:
        """The alarm whose firing during an update's watch rolls it back: any 5XX of the
        endpoint's model (the new fleet's) in a minute."""
        name = f"{endpoint}-model-errors"
        self.cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
            Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                        {"Name": "VariantName", "Value": VARIANT}],
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
            AlarmDescription=f"Rolls back a blue/green update of {endpoint} (the deployer's)")
        return name

    # -- the alias removed ----------------------------------------------------------------

    def remove(self, detail: dict):
        model, version = detail["model"], str(detail["version"])
        endpoint = endpoint_name(self.s.team, model)
        if not self.s.delete_on_alias_removed:
            log.info("alias removed; the stack keeps endpoints: %s stays", endpoint)
            return None
        current = self._describe(endpoint)
        if current is not None:
            # "Deleted" belongs to the version the endpoint served, which is not the alias's
            # last target when that one was rolled back
            version = version_of_config(current.get("EndpointConfigName")) or version
            self.sagemaker.delete_endpoint(EndpointName=endpoint)
            try:
                self.cloudwatch.delete_alarms(AlarmNames=[f"{endpoint}-model-errors"])
            except ClientError:
                log.warning("could not delete the alarm of %s", endpoint)
        return self.report(detail.get("workspace") or self.s.team, model, version, "Deleted",
                           endpoint)

    # -- how SageMaker ended it -----------------------------------------------------------

    def state_changed(self, detail: dict):
        endpoint = detail.get("EndpointName")
        status = detail.get("EndpointStatus")
        if status not in ("InService", "Failed") or not endpoint:
            return None
        current = self._describe(endpoint)
        if current is None:
            return None
        tags = {t["Key"]: t["Value"] for t in self.sagemaker.list_tags(
            ResourceArn=current["EndpointArn"]).get("Tags", [])}
        if tags.get(TAG_TEAM) != self.s.team or TAG_VERSION not in tags:
            return None  # not the deployer's endpoint
        wanted = tags[TAG_VERSION]
        serving = version_of_config(current.get("EndpointConfigName"))
        if current["EndpointStatus"] == "Failed":
            state = "Failed"
        elif serving == wanted:
            state = "InService"
        else:
            # the update to `wanted` did not come up (or its alarm fired): SageMaker kept the
            # previous version serving
            state = "RolledBack"
            log.warning("update of %s to version %s rolled back (%s); version %s serves",
                        endpoint, wanted, current.get("FailureReason"), serving)
        return self.report(tags.get(TAG_WORKSPACE, self.s.team), _decode(tags[TAG_MODEL]),
                           wanted, state, endpoint)

    # -- what the deployer says -----------------------------------------------------------

    def report(self, workspace, model, version, state, endpoint) -> dict:
        assert state in _spec.DEPLOYMENT_STATES, state
        deployment = dict(zip(_spec.DEPLOYMENT_FIELDS, (
            state, endpoint, self.s.account, self.s.region, str(version))))
        detail = dict(zip(_spec.DEPLOYMENT_STATUS_FIELDS, (
            self.s.team, workspace, model, str(version), deployment)))
        result = self.events.put_events(Entries=[{
            "Source": _spec.DEPLOYER_SOURCE, "DetailType": _spec.DEPLOYMENT_STATUS_DETAIL_TYPE,
            "Detail": json.dumps(detail), "EventBusName": self.s.central_bus_arn}])
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"the central bus refused the status: {result['Entries']}")
        log.info("status: %s", json.dumps(detail))
        return detail

    def _describe(self, endpoint: str):
        try:
            return self.sagemaker.describe_endpoint(EndpointName=endpoint)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ValidationException" and \
                    "Could not find" in error.response["Error"]["Message"]:
                return None
            raise


def _tag_list(tags: dict) -> list:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _already_exists(error: ClientError) -> bool:
    message = error.response["Error"].get("Message", "")
    return "already exist" in message.lower()


def handler(event, context=None):
    """The Lambda's entry point (the team stack's handler `deployer.handler.handler`)."""
    return Deployer(Settings()).handle(event)
