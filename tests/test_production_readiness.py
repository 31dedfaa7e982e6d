"""Production readiness (issue 16): what a real `pulumi up` would break or let decay, checked
on the program under mocks and on the config."""

import json

import pytest

from components.config import ConfigError, parse_central
from components.tracking_server import allowed_hosts, min_memory_mb, workers_for

from .pulumi_program import run_program, stack_config
from .test_config import central


@pytest.fixture(scope="module")
def stack():
    return run_program(stack_config("central"))


def container_env(stack):
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition").inputs
    [container] = json.loads(task["containerDefinitions"])
    return {e["name"]: e["value"] for e in container["environment"]}


def test_aurora_takes_aws_minor_upgrades_and_the_program_never_pulls_them_back(stack):
    """Item 5: with a pinned minor version and auto upgrades, the next update after AWS's
    upgrade would fail ("cannot upgrade from 16.x to 16.6")."""
    cluster = stack.one("aws:rds/cluster:Cluster")
    writer = stack.one("aws:rds/clusterInstance:ClusterInstance")
    assert cluster.ignore_changes == ("engineVersion",)
    assert writer.ignore_changes == ("engineVersion",)
    assert writer.inputs["autoMinorVersionUpgrade"] is True
    assert cluster.inputs["allowMajorVersionUpgrade"] is False


def test_access_logging_starts_after_the_log_buckets_policy(stack):
    """Item 8."""
    logging = stack.one("aws:s3/bucketLogging:BucketLogging", "artifacts")
    policy = stack.one("aws:s3/bucketPolicy:BucketPolicy", "access-logs")
    assert policy.name in logging.depends_on


def test_autoscaling_owns_the_running_count(stack):
    """Item 17: a refresh after scaling out must not set the service back to its minimum."""
    service = stack.one("aws:ecs/service:Service")
    assert "desiredCount" in service.ignore_changes
    assert service.inputs["desiredCount"] == 2


def test_mlflows_job_runner_passes_its_own_host_check(stack):
    """Item 4: MLflow's job runner calls http://0.0.0.0:5000, which MLFLOW_SERVER_ALLOWED_HOSTS
    would drop."""
    hosts = container_env(stack)["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert "0.0.0.0:5000" in hosts
    assert hosts[:2] == ["mlflow-server-nlb-123.elb.us-east-1.amazonaws.com",
                         "mlflow-server-nlb-123.elb.us-east-1.amazonaws.com:80"]
    assert allowed_hosts("n") == "n,n:80,0.0.0.0:5000"


def test_workers_fit_the_tasks_memory(stack):
    """Item 12: 4 workers at ~290 MB and the job runner fit 2 GB; smaller tasks get fewer,
    and a size too small for two is refused in config with the key."""
    assert container_env(stack)["MLFLOW_WORKERS"] == "4"
    assert [workers_for(c, m) for c, m in [(1024, 2048), (256, 2048), (2048, 4096),
                                           (4096, 8192)]] == [4, 2, 8, 16]
    for cpu, memory in [(256, 512), (256, 1024), (512, 1024)]:
        assert 0.8 * memory < 2 * 300 + 300 and memory < min_memory_mb(cpu)
        with pytest.raises(ConfigError, match=rf"trackingServer.memory must be at least 2048 MB "
                                              rf"with cpu {cpu}"):
            parse_central(central(trackingServer={"cpu": cpu, "memory": memory}), "us-east-1")


def test_telemetry_is_off_in_the_image(stack):
    """Item 16."""
    env = container_env(stack)
    assert (env["MLFLOW_DISABLE_TELEMETRY"], env["DO_NOT_TRACK"]) == ("true", "true")


@pytest.mark.parametrize("key", ["minCapacity", "maxCapacity"])
def test_aurora_capacity_comes_in_half_steps(key):
    """Item 15: 0.7 ACU is refused by RDS at apply; the config says so at preview."""
    value = 0.7 if key == "minCapacity" else 4.2
    with pytest.raises(ConfigError, match=rf"central.database.{key} must be a multiple of 0.5"):
        parse_central(central(database={key: value}), "us-east-1")
    assert parse_central(central(database={"minCapacity": 1.5, "maxCapacity": 8.5}),
                         "us-east-1").database.min_capacity == 1.5


def test_a_change_of_binary_media_types_or_response_status_reaches_the_stage(monkeypatch):
    """Item 14: the deployment's fingerprint covers what the stage serves, these included."""
    import components.api as api

    def trigger():
        inventory = run_program(stack_config("central"))
        return inventory.one("aws:apigateway/deployment:Deployment").inputs["triggers"]

    before = trigger()
    monkeypatch.setattr(api, "BINARY_MEDIA_TYPES", (*api.BINARY_MEDIA_TYPES, "image/x-new"))
    with_media = trigger()
    monkeypatch.setattr(api, "GATEWAY_RESPONSES", {
        **api.GATEWAY_RESPONSES, "EXPIRED_TOKEN": (401, "UNAUTHENTICATED")})
    with_status = trigger()
    assert len({json.dumps(before), json.dumps(with_media), json.dumps(with_status)}) == 3


def test_mlflow_admits_browser_writes_from_the_uis_origin_exactly(stack):
    """Item 1: MLflow 3.17 refuses POST/PATCH/DELETE whose Origin is not localhost or listed;
    the browser's origin is the Amplify domain."""
    ui = stack.outputs["uiUrl"]
    assert container_env(stack)["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == ui.rstrip("/")
    assert "*" not in container_env(stack)["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"]


@pytest.mark.parametrize("origin, refused", [("ui", False), ("http://127.0.0.3:9", True),
                                             ("https://evil.example", True)])
def test_the_sandboxs_mlflow_judges_the_uis_origin_as_on_aws(sandbox, origin, refused):
    """The sandbox's UI is not on an address MLflow exempts (localhost, 127.0.0.1), so its
    MLflow refuses a write from any origin but the UI's, as it would on AWS."""
    import uuid

    import requests

    assert sandbox["ui_url"].startswith("http://127.0.0.2:")
    response = requests.post(
        f"{sandbox['mlflow_url']}/ajax-api/2.0/mlflow/experiments/create",
        json={"name": f"cors-{uuid.uuid4().hex[:8]}"}, timeout=30,
        headers={"Origin": sandbox["ui_url"] if origin == "ui" else origin,
                 "X-MLFLOW-WORKSPACE": "team-a"})
    if refused:
        assert response.status_code == 403 and "Cross-origin request blocked" in response.text
    else:
        assert response.status_code == 200, response.text
