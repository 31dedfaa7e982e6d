"""From approved to serving (issue 27, item 5), through the sandbox: a contributor registers a
pyfunc model with the real MLflow client, the champion alias is promoted, the team's deployer
(deployer/handler.py, called as the team stack deploys it: EventBridge's rule, its own role)
creates the endpoint, and `sagemaker-runtime` invoked with the team account's credentials
answers with the frozen copy's own predictions (MLflow's scoring code). Version 2 replaces it
blue/green; a version that cannot load is rolled back and version 2 serves on; removing the
alias deletes the endpoint.

The tracking server emits each promotion and removal itself (the plugin's events.py) onto the
emulated central bus, which forwards the team's events to its account's bus: the whole loop is
the real one. The platform's status writer records each end on the version
(`landing_zone.deployment`).
"""

import json
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from deployer.handler import endpoint_name, version_of_config
from spec.registry_events import DEPLOYMENT_TAG

from tests.sandbox_clients import identity, team_of

pytestmark = pytest.mark.slow  # endpoints provisioned and loaded: seconds each

TEAM = "team-a"
WAIT = 120  # seconds: a Lambda in its own interpreter, a model downloaded and loaded
MODEL_CODE = '''
import mlflow
from mlflow.models import set_model


class Scaled(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        if context.model_config.get("broken"):
            raise RuntimeError("this version cannot load")
        self.factor = context.model_config["factor"]

    def predict(self, context, model_input, params=None):
        return [x * self.factor for x in model_input["x"]]


set_model(Scaled())
'''
INPUT = {"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0], [5.0]]}}


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def until(what, check, seconds=WAIT):
    """`check()`'s first truthy answer (a refusal from AWS counts as not yet)."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except ClientError as error:
            last = error.response["Error"]
        time.sleep(1)
    raise AssertionError(f"{what}: not within {seconds} s (last: {last!r})")


def team_client(sandbox, service):
    credentials = team_of(sandbox, TEAM)["serving"]["invoker"]["credentials"]
    return boto3.client(service, region_name=sandbox["aws"]["region"],
                        endpoint_url=sandbox["aws"]["endpoint_url"],
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


@pytest.fixture(scope="module")
def versions(sandbox, tmp_path_factory):
    """Three versions of one pyfunc model, registered by a contributor: x*2, x*3, and one
    whose model cannot load."""
    import mlflow.pyfunc

    folder = tmp_path_factory.mktemp("serving")
    code = folder / "scaled.py"
    code.write_text(MODEL_CODE)
    name = unique("scaled")
    registered = []
    with identity(sandbox, "contributor", "client") as c:
        experiment = c.create_experiment(unique("serving"))
        c.create_registered_model(name)
        for config in ({"factor": 2}, {"factor": 3}, {"broken": True}):
            path = folder / f"model-{len(registered) + 1}"
            mlflow.pyfunc.save_model(str(path), python_model=str(code), model_config=config,
                                     pip_requirements=["mlflow"])
            run = c.create_run(experiment).info
            c.log_artifacts(run.run_id, str(path), artifact_path="model")
            version = c.create_model_version(name, f"runs:/{run.run_id}/model",
                                             run_id=run.run_id)
            until(f"version {version.version} frozen", lambda: c.get_model_version(
                name, version.version).status == "READY" or None)
            registered.append((c.get_model_version(name, version.version),
                               c.get_model_version_download_uri(name, version.version)))
    return name, registered


def promote(sandbox, name, version):
    """The approver (not the contributor who registered it) moves the champion alias."""
    version, _ = version
    with identity(sandbox, "model-approver", "client") as c:
        c.set_registered_model_alias(name, "champion", version.version)


def predictions(runtime, endpoint):
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                     Body=json.dumps(INPUT))
    return json.loads(answer["Body"].read())


def test_the_champion_serves_its_frozen_copy_then_the_next_then_survives_a_broken_one(
        sandbox, versions):
    name, (v1, v2, v3) = versions
    endpoint = endpoint_name(TEAM, name)
    runtime, sagemaker = team_client(sandbox, "sagemaker-runtime"), team_client(sandbox,
                                                                                 "sagemaker")
    assert v1[1].startswith(team_of(sandbox, TEAM)["registry_prefix"])  # the frozen copy

    promote(sandbox, name, v1)
    until("version 1 serving", lambda: sagemaker.describe_endpoint(
        EndpointName=endpoint)["EndpointStatus"] == "InService" or None)
    # MLflow's scoring server's own answer for this model
    assert predictions(runtime, endpoint) == {"predictions": [2.0, 4.0, 10.0]}

    promote(sandbox, name, v2)
    until("version 2 serving", lambda: predictions(runtime, endpoint) == {
        "predictions": [3.0, 6.0, 15.0]} or None)

    promote(sandbox, name, v3)
    def rolled_back():
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        return described if described["EndpointStatus"] == "InService" and \
            described.get("FailureReason") else None

    described = until("version 3 rolled back", rolled_back)
    assert "rolled back" in described["FailureReason"]
    assert version_of_config(described["EndpointConfigName"]) == v2[0].version
    assert predictions(runtime, endpoint) == {"predictions": [3.0, 6.0, 15.0]}  # 2 serves on

    # the team's application reaches its own team's endpoints only
    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint(EndpointName=endpoint_name("team-b", name),
                                ContentType="application/json", Body=json.dumps(INPUT))
    # (moto answers this refusal in XML, which botocore reads as code "403")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "not authorized to perform: sagemaker:InvokeEndpoint" in str(refused.value)

    with identity(sandbox, "model-approver", "client") as c:
        c.delete_registered_model_alias(name, "champion")

    def gone():
        try:
            sagemaker.describe_endpoint(EndpointName=endpoint)
        except ClientError as error:
            return "Could not find" in error.response["Error"]["Message"] or None
        return None

    until("the endpoint deleted", gone)


def deployment(sandbox, name, version):
    with identity(sandbox, "reader", "client") as c:
        value = c.get_model_version(name, version).tags.get(DEPLOYMENT_TAG)
    return json.loads(value) if value else None


def test_each_versions_tag_says_what_serves_it(sandbox, versions):
    """Runs after the loop above: the platform's status writer recorded each end."""
    name, ((v1, _), (v2, _), (v3, _)) = versions
    account = team_of(sandbox, TEAM)["account_id"]
    endpoint = endpoint_name(TEAM, name)
    expected = {v1.version: "InService", v2.version: "Deleted", v3.version: "RolledBack"}
    for version, state in expected.items():
        tag = until(f"version {version} {state}", lambda: (
            lambda t: t if t and t["state"] == state else None)(
            deployment(sandbox, name, version)), seconds=60)
        assert tag == {"state": state, "endpoint": endpoint, "account": account,
                       "region": sandbox["aws"]["region"], "version": version}
