"""Production readiness (issue 16): what a real `pulumi up` would break or let decay, checked
on the program under mocks and on the config."""

import json

import pytest

from spec.config import ConfigError, parse_central
from components.tracking_server import allowed_hosts
from spec.sizing import min_memory_mb, workers_for

from tests.pulumi_program import run_program, stack_config
from tests.spec.test_config import central

ACCOUNT, REGION = "111111111111", "us-east-1"


@pytest.fixture(scope="module")
def stack():
    return run_program(stack_config("central"))


def container_env(stack):
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-task").inputs
    [container] = json.loads(task["containerDefinitions"])
    return {e["name"]: e["value"] for e in container["environment"]}


def test_aurora_takes_aws_minor_upgrades_and_the_program_never_pulls_them_back(stack):
    """Item 5: with a pinned minor version and auto upgrades, the next update after AWS's
    upgrade would fail ("cannot upgrade from 16.x to 16.6")."""
    cluster = stack.one("aws:rds/cluster:Cluster")
    writer = stack.one("aws:rds/clusterInstance:ClusterInstance")
    assert "engineVersion" in cluster.ignore_changes
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
    """Item 12, and issue 26 items 5 and 6: 4 workers at ~290 MB fit beside the server's own
    process, MLflow's job runner with its 8 consumers and the 8 jobs that may run at once (7 GB:
    MLflow 3.18's scheduled issue detection is a job function more than 3.17's 6 GB held);
    smaller tasks get fewer, and a size too small for two is refused in config with the key."""
    from spec.sizing import JOB_CONCURRENCY_ENV, fixed_mb, job_slots

    env = container_env(stack)
    assert env["MLFLOW_WORKERS"] == "4"
    # the jobs' concurrency the budget counts is the one the task runs with
    assert {k: env[k] for k in JOB_CONCURRENCY_ENV} == {
        "MLFLOW_SERVER_JUDGE_INVOKE_MAX_WORKERS": "1",
        "MLFLOW_SERVER_ONLINE_SCORING_MAX_WORKERS": "1",
        "MLFLOW_SERVER_SCHEDULED_ISSUE_DETECTION_MAX_WORKERS": "1"}
    assert (job_slots(), fixed_mb()) == (8, 200 + 9 * 180 + 8 * 250)
    assert [workers_for(c, m) for c, m in [(1024, 7168), (1024, 6144), (2048, 8192),
                                           (4096, 16384)]] == [4, 3, 8, 16]
    for cpu, memory in [(1024, 2048), (1024, 5120), (2048, 4096)]:
        assert 0.8 * memory < 2 * 300 + fixed_mb() and memory < min_memory_mb(cpu)
        with pytest.raises(ConfigError, match=rf"trackingServer.memory must be at least 6144 MB "
                                              rf"with cpu {cpu} \(MLflow's workers"):
            parse_central(central(trackingServer={"cpu": cpu, "memory": memory}), "us-east-1")
    # no memory a 0.5 vCPU task may have holds two workers and the job runner
    for cpu, memory in [(256, 2048), (512, 4096)]:
        with pytest.raises(ConfigError, match=rf"trackingServer.cpu must be at least 1024: no "
                                              rf"Fargate memory size of cpu {cpu} holds 5525 MB"):
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


def test_the_authorizers_identity_source_and_the_redirects_reach_the_stage(monkeypatch):
    """Issue 26, item 5: an authorizer or a MOCK integration updated in place keeps its id; the
    fingerprint carries their settings, so each change makes a new deployment."""
    import components.api as api

    def deployed():
        inventory = run_program(stack_config("central"))
        authorizer = inventory.one("aws:apigateway/authorizer:Authorizer").inputs
        redirect = inventory.one("aws:apigateway/integration:Integration", "to-ui-root").inputs
        mapping = inventory.one("aws:apigateway/integrationResponse:IntegrationResponse",
                                "to-ui-root").inputs
        trigger = inventory.one("aws:apigateway/deployment:Deployment").inputs["triggers"]
        return trigger["redeployment"], (authorizer["identitySource"],
                                         redirect["requestTemplates"],
                                         mapping["responseParameters"], mapping["statusCode"])

    before, served = deployed()
    assert served == ("method.request.header.Authorization,method.request.header."
                      "X-MLFLOW-WORKSPACE", {"application/json": '{"statusCode": 302}'},
                      {"method.response.header.Location": "stageVariables.uiUrl"}, "302")
    changes = [
        ("IDENTITY_SOURCE_HEADERS", ("Authorization",)),
        ("REDIRECT_REQUEST_TEMPLATES", {"application/json": '{"statusCode": 301}'}),
        ("REDIRECT_RESPONSE_PARAMETERS", {"method.response.header.Location":
                                          "stageVariables.otherUrl"}),
        ("REDIRECT_STATUS", "301"),
    ]
    seen = {before}
    for attribute, value in changes:
        with monkeypatch.context() as m:
            m.setattr(api, attribute, value)
            trigger, now = deployed()
        assert now != served, f"{attribute} did not reach the resources"
        assert trigger not in seen, f"a change of {attribute} leaves the deployment as it was"
        seen.add(trigger)
    assert deployed()[0] == before  # nothing changed, nothing redeployed


def test_mlflow_admits_browser_writes_from_the_uis_origin_exactly(stack):
    """Item 1: MLflow 3.17 refuses POST/PATCH/DELETE whose Origin is not localhost or listed;
    the browser's origin is the Amplify domain."""
    ui = stack.outputs["uiUrl"]
    assert container_env(stack)["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"] == ui.rstrip("/")
    assert "*" not in container_env(stack)["MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"]


@pytest.mark.parametrize("origin, refused", [("ui", False), ("http://127.0.0.3:9", True),
                                             ("https://evil.example", True)])
def test_the_sandboxs_mlflow_judges_the_uis_origin_as_on_aws(sandbox, origin, refused):
    """The sandbox's UI is not on an address MLflow exempts (localhost, 127.0.0.1, [::1]), so
    its MLflow refuses a write from any origin but the UI's, as it would on AWS."""
    import uuid

    import requests

    assert sandbox["ui_url"].startswith("http://ui.localhost:")
    response = requests.post(
        f"{sandbox['mlflow_url']}/ajax-api/2.0/mlflow/experiments/create",
        json={"name": f"cors-{uuid.uuid4().hex[:8]}"}, timeout=30,
        headers={"Origin": sandbox["ui_url"] if origin == "ui" else origin,
                 "X-MLFLOW-WORKSPACE": "team-a"})
    if refused:
        assert response.status_code == 403 and "Cross-origin request blocked" in response.text
    else:
        assert response.status_code == 200, response.text


def test_only_the_nlb_reaches_the_tasks(stack):
    """Item 19: no ingress from the VPC's range; the NLB has a group of its own, the tasks admit
    that group alone, and PrivateLink traffic (API Gateway's VPC link) is not judged by it."""
    task_sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "server-sg")
    nlb_sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "server-nlb-sg")
    assert not task_sg.inputs.get("ingress") and not nlb_sg.inputs.get("ingress")
    [from_nlb] = [r.inputs for r in stack.of_type(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == task_sg.outputs["id"]]
    assert from_nlb["referencedSecurityGroupId"] == nlb_sg.outputs["id"]
    assert (from_nlb["fromPort"], from_nlb["toPort"], from_nlb.get("cidrIpv4")) == (5000, 5000, None)
    nlb = stack.one("aws:lb/loadBalancer:LoadBalancer").inputs
    assert nlb["securityGroups"] == [nlb_sg.outputs["id"]]
    assert nlb["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    assert not nlb_sg.inputs.get("egress")
    [to_tasks] = [r.inputs for r in stack.of_type(
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == nlb_sg.outputs["id"]]
    assert (to_tasks["referencedSecurityGroupId"], to_tasks["fromPort"], to_tasks["toPort"]) == (
        task_sg.outputs["id"], 5000, 5000)


def test_the_resource_policy_leaves_browser_paths_with_an_api_segment_alone():
    """Item 18: the Deny for other accounts' SigV4 callers must not reach a browser's request
    whose path has an /api/ (or /<team>/) segment further in."""
    from spec.edge import resource_policy
    from roles.policy_eval import DENY, evaluate

    arn = "arn:aws:execute-api:us-east-1:111111111111:abc123"
    policy = resource_policy(arn, "111111111111")

    def judged(path, account=None):
        principal = f"arn:aws:iam::{account}:role/x" if account else "anonymous"
        context = {"aws:PrincipalAccount": account, "aws:PrincipalArn": principal} if account \
            else {}
        return evaluate([policy], "execute-api:Invoke", f"{arn}/prod/{path}",
                        context=context, principal=principal)

    for browser in ("POST/gateway/proxy/x/api/v1/chat", "GET/ajax-api/3.0/x/team-a/y",
                    "GET/get-artifact/api/x"):
        assert judged(browser) != DENY, browser
    for sigv4 in ("GET/api/2.0/mlflow/runs/get", "POST/team-a/api/2.0/mlflow/runs/create",
                  "GET/api", "POST/" + "t" * 32 + "/api/2.0/mlflow/runs/create",
                  "GET/team-a/version", "DELETE/team-z/x"):
        assert judged(sigv4, "999999999999") == DENY, sigv4
        assert judged(sigv4, "111111111111") != DENY, sigv4


def test_the_api_gateway_account_setting_is_left_alone_when_another_owns_it():
    """Item 11: the CloudWatch role is one setting per account and region."""
    config = stack_config("central")
    config["mlflow-landing-zone:central"] = {**config["mlflow-landing-zone:central"],
                                             "api": {"cloudWatchRole": "existing"}}
    inventory = run_program(config)
    assert inventory.of_type("aws:apigateway/account:Account") == []
    assert not [r for r in inventory.of_type("aws:iam/role:Role") if "cloudwatch" in r.name]
    assert inventory.one("aws:apigateway/stage:Stage").inputs["accessLogSettings"]
    with pytest.raises(ConfigError, match="central.api.cloudWatchRole must be one of create, "
                                          "existing"):
        parse_central(central(api={"cloudWatchRole": "mine"}), "us-east-1")


# --- item 2: the database password after RDS rotates it ------------------------------------------

class _Secrets:
    def __init__(self):
        self.password, self.calls = "first", 0

    def get_secret_value(self, SecretId):
        self.calls += 1
        return {"SecretString": json.dumps({"username": "mlflow", "password": self.password})}


class _Dialect:
    """A PostgreSQL dialect whose server takes only the password it holds now."""
    name = "postgresql"

    def __init__(self, secrets):
        self.secrets, self.connected = secrets, []

    def connect(self, *cargs, **cparams):
        if cparams["password"] != self.secrets.password:
            raise Exception('FATAL:  password authentication failed for user "mlflow"')
        self.connected.append(cparams["password"])
        return "connection"


def test_new_connections_take_the_rotated_password():
    from mlflow_landing_zone_server.rotation import SecretPassword, connector

    secrets, now = _Secrets(), [0.0]
    password = SecretPassword("arn:secret", client=secrets, clock=lambda: now[0],
                              cache_seconds=300)
    connect, dialect = connector(password), _Dialect(secrets)
    assert connect(dialect, None, (), {"user": "mlflow", "password": "baked"}) == "connection"
    assert connect(dialect, None, (), {"user": "mlflow"}) == "connection"
    assert secrets.calls == 1  # cached
    secrets.password = "rotated"  # RDS rotates the secret
    assert connect(dialect, None, (), {"user": "mlflow"}) == "connection"
    assert (dialect.connected, secrets.calls) == (["first", "first", "rotated"], 2)
    now[0] = 301
    connect(dialect, None, (), {"user": "mlflow"})
    assert secrets.calls == 3  # read again after the cache's time


def test_other_failures_and_other_databases_are_left_alone():
    from mlflow_landing_zone_server.rotation import SecretPassword, connector, install

    secrets = _Secrets()
    connect = connector(SecretPassword("arn:secret", client=secrets))

    class Down(_Dialect):
        def connect(self, *cargs, **cparams):
            raise Exception("could not connect to server: Connection refused")

    with pytest.raises(Exception, match="Connection refused"):
        connect(Down(secrets), None, (), {})
    assert secrets.calls == 1  # not read again: not a password problem

    class Sqlite:
        name = "sqlite"
    assert connect(Sqlite(), None, (), {}) is None  # SQLAlchemy connects as usual
    assert install({}) is None  # nothing without DB_LOGIN_ARN


def test_the_task_reads_the_current_secret_and_checks_its_database(stack):
    task = stack.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-task").inputs
    [container] = json.loads(task["containerDefinitions"])
    secret = container["secrets"][0]["valueFrom"].removesuffix(":password::")
    assert container_env(stack)["DB_LOGIN_ARN"] == secret
    assert container["healthCheck"] == {"command": ["CMD", "python", "/app/healthcheck.py"],
                                        "interval": 30, "timeout": 10, "retries": 3,
                                        "startPeriod": 120}
    statements = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy",
                                      "task-database-secret").inputs["policy"])["Statement"]
    assert statements[0] == {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                             "Resource": secret}


def test_the_health_check_needs_mlflows_database(sandbox):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "components" / "mlflow_image" / "healthcheck.py"
    spec = importlib.util.spec_from_file_location("healthcheck", path)
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    query = healthcheck.URL.split("5000", 1)[1]
    assert query == "/api/2.0/mlflow/experiments/search?max_results=1"
    assert healthcheck.check(sandbox["mlflow_url"] + query) == (True, "200")
    healthy, detail = healthcheck.check("http://127.0.0.1:9" + query, timeout=2)
    assert not healthy and detail.startswith("unreachable")
    dockerfile = (path.parent / "Dockerfile").read_text()
    assert "COPY --chmod=0755 healthcheck.py /app/healthcheck.py" in dockerfile
    assert "mlflow_landing_zone_server.rotation as r; r.install()" in dockerfile


def test_a_test_landing_zone_goes_in_one_destroy():
    """Item 10: with `protect: false`, buckets and the image repository are emptied on
    destroy, the user pool and the cluster are not deletion-protected, and each cluster's final
    snapshot has a name of its own (a fixed one blocks the next cluster's deletion)."""
    config = stack_config("central")
    config["mlflow-landing-zone:central"] = {**config["mlflow-landing-zone:central"],
                                             "protect": False}
    loose = run_program(config)
    assert {b.name: b.inputs["forceDestroy"] for b in loose.of_type("aws:s3/bucket:Bucket")} \
        == {"mlflow-store-access-logs": True, "mlflow-store-artifacts": True}
    assert loose.one("aws:ecr/repository:Repository").inputs["forceDelete"] is True
    assert loose.one("aws:cognito/userPool:UserPool").inputs["deletionProtection"] == "INACTIVE"
    cluster = loose.one("aws:rds/cluster:Cluster")
    assert cluster.inputs["deletionProtection"] is False
    assert "finalSnapshotIdentifier" in cluster.ignore_changes
    import re
    assert re.fullmatch(r"mlflow-db-final-\d{14}", cluster.inputs["finalSnapshotIdentifier"])
    # and the key that snapshot is encrypted with outlives the destroy (unprotected as it is)
    db_key = next(k for k in loose.of_type("aws:kms/key:Key") if k.name == "mlflow-db-key")
    assert db_key.retain_on_delete and not db_key.protect


def test_the_regions_api_gateway_logging_setting_outlives_the_stack():
    """Deleting `apigateway.Account` resets the region's CloudWatch role (Terraform AWS v6):
    the setting, its role and the role's policy are retained on delete, so a destroy or a
    switch to `cloudWatchRole: existing` leaves other APIs logging."""
    stack = run_program(stack_config("central"))
    kept = ([stack.one("aws:apigateway/account:Account")]
            + [r for r in stack.of_type("aws:iam/role:Role") if r.name.endswith("-cloudwatch")]
            + [a for a in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
               if a.name.endswith("-cloudwatch")])
    assert len(kept) == 3 and all(r.retain_on_delete for r in kept), kept


def test_a_protected_landing_zone_is_never_emptied(stack):
    assert {b.inputs["forceDestroy"] for b in stack.of_type("aws:s3/bucket:Bucket")} == {False}
    assert stack.one("aws:ecr/repository:Repository").inputs["forceDelete"] is False


# --- 20: alarms and the dashboard -----------------------------------------------------------


def test_every_part_has_an_alarm_that_notifies_the_topic(stack):
    alarms = {r.name.removeprefix("mlflow-ops-"): r.inputs
              for r in stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    topic = stack.one("aws:sns/topic:Topic").outputs["arn"]
    assert stack.outputs["alarmTopicArn"] == topic
    for name, alarm in alarms.items():
        assert alarm["alarmActions"] == [topic] and alarm["okActions"] == [topic], name
        assert alarm["alarmDescription"], name
    api = {"ApiName": stack.one("aws:apigateway/restApi:RestApi").outputs["name"],
           "Stage": "prod"}
    service = {"ClusterName": "mlflow-server-cluster", "ServiceName": "mlflow-server-service"}
    db = {"DBClusterIdentifier": stack.one("aws:rds/cluster:Cluster").outputs["clusterIdentifier"]}
    watched = {name: (a.get("namespace"), a.get("metricName"), a.get("dimensions"),
                      a.get("statistic") or a.get("extendedStatistic"), a["threshold"])
               for name, a in alarms.items() if "metricName" in a}
    assert watched == {
        "api-p99-latency": ("AWS/ApiGateway", "Latency", api, "p99", 5000),
        # the authorizer's own failures (its log lines), not every refused token
        "authorizer-failures": ("MLflowLandingZone/mlflow-ops", "AuthorizerFailures", None,
                                "Sum", 0),
        "authorizer-throttles": ("AWS/Lambda", "Throttles",
                                 {"FunctionName": "mlflow-edge-authorizer"}, "Sum", 0),
        "server-cpu": ("AWS/ECS", "CPUUtilization", service, "Average", 85),
        "server-memory": ("AWS/ECS", "MemoryUtilization", service, "Average", 85),
        "database-acu-at-max": ("AWS/RDS", "ACUUtilization", db, "Average", 95),
        # 80% of Aurora PostgreSQL's max_connections at the default 4 ACU (8 GiB / 9531392)
        "database-connections": ("AWS/RDS", "DatabaseConnections", db, "Maximum", 720),
    }
    # rates only where there is traffic: below the floor a period counts as 0
    for name, metric, share, floor in (("api-5xx-rate", "5XXError", 0.05, 50),
                                       ("api-4xx-rate", "4XXError", 0.25, 200)):
        rate = alarms[name]
        assert (rate["comparisonOperator"], rate["threshold"]) == ("GreaterThanThreshold", share)
        queries = {q["id"]: q for q in rate["metricQueries"]}
        assert queries["rate"]["expression"] == \
            f"IF(requests >= {floor}, errors / requests, 0)"
        assert queries["rate"]["returnData"] is True
        assert {k: (q["metric"]["metricName"], q["metric"]["stat"], q["metric"]["dimensions"])
                for k, q in queries.items() if k != "rate"} == {
            "errors": (metric, "Sum", api), "requests": ("Count", "Sum", api)}
        assert f"{floor} or more came in 5 minutes" in rate["alarmDescription"]
    [failures] = stack.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    authorizer_logs = next(g for g in stack.of_type("aws:cloudwatch/logGroup:LogGroup")
                           if g.name.endswith("authorizer-logs"))
    assert failures.inputs["logGroupName"] == authorizer_logs.inputs["name"]
    assert failures.inputs["pattern"] == '{ $.failure = "*" }'
    assert failures.inputs["metricTransformation"]["namespace"] == "MLflowLandingZone/mlflow-ops"
    tasks = alarms["tasks-below-desired"]
    queries = {q["id"]: q for q in tasks["metricQueries"]}
    assert queries["missing"]["expression"] == "desired - running"
    assert queries["missing"]["returnData"] is True
    for metric in ("desired", "running"):
        assert queries[metric]["metric"]["namespace"] == "ECS/ContainerInsights"
        assert queries[metric]["metric"]["dimensions"] == service
    assert (tasks["comparisonOperator"], tasks["threshold"]) == ("GreaterThanThreshold", 0)
    assert tasks["treatMissingData"] == "breaching"  # no task reports nothing
    settings = stack.one("aws:ecs/cluster:Cluster").inputs["settings"]
    assert {"name": "containerInsights", "value": "enabled"} in settings


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(stack):
    topic = stack.one("aws:sns/topic:Topic")
    key = stack.one("aws:kms/key:Key", "alarms")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.protect and key.inputs["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    cloudwatch = statements["CloudWatchAlarms"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    policy = json.loads(stack.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    [publish] = policy["Statement"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_a_configured_topic_gets_the_alarms_and_none_is_created():
    config = stack_config("central")
    oncall = f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall"
    config["mlflow-landing-zone:central"]["alarmTopicArn"] = oncall
    stack = run_program(config)
    assert stack.of_type("aws:sns/topic:Topic") == []
    assert all(a.inputs["alarmActions"] == [oncall]
               for a in stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
    assert stack.outputs["alarmTopicArn"] == oncall
    with pytest.raises(ConfigError, match="alarmTopicArn must be a topic in the stack's region"):
        parse_central({**config["mlflow-landing-zone:central"],
                       "alarmTopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:oncall"}, REGION)
    with pytest.raises(ConfigError, match="alarmTopicArn must be an SNS topic's ARN"):
        parse_central({**config["mlflow-landing-zone:central"], "alarmTopicArn": "oncall"},
                      REGION)


def test_the_dashboard_shows_every_alarm_and_each_part(stack):
    board = stack.one("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(board.inputs["dashboardBody"])
    alarm_arns = [a.outputs["arn"] for a in stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert body["widgets"][0]["properties"]["alarms"] == alarm_arns
    titles = [w["properties"]["title"] for w in body["widgets"][1:]]
    assert titles == ["API requests and errors", "API latency (ms)",
                      "WAF: requests refused at the edge", "Authorizer (browsers)",
                      "Tracking server tasks", "Tracking server CPU and memory (%)",
                      "Aurora capacity", "Aurora connections"]
    metrics = [m for w in body["widgets"][1:] for m in w["properties"]["metrics"]]
    api_name = stack.one("aws:apigateway/restApi:RestApi").outputs["name"]
    assert ["AWS/ApiGateway", "5XXError", "ApiName", api_name, "Stage", "prod",
            {"stat": "Sum", "label": "5xx"}] in metrics
    waf = stack.one("aws:wafv2/webAcl:WebAcl").outputs["name"]
    assert ["AWS/WAFV2", "BlockedRequests", "WebACL", waf, "Region", REGION, "Rule", "ALL",
            {"stat": "Sum", "label": "blocked"}] in metrics
    # every widget fits CloudWatch's 24-column grid without overlapping another
    cells = set()
    for w in body["widgets"]:
        assert w["x"] + w["width"] <= 24
        mine = {(x, y) for x in range(w["x"], w["x"] + w["width"])
                for y in range(w["y"], w["y"] + w["height"])}
        assert not cells & mine
        cells |= mine
    assert stack.outputs["dashboardUrl"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        f"#dashboards/dashboard/{board.inputs['dashboardName']}")


def test_the_connection_alarm_follows_the_databases_maximum_capacity():
    from components.monitoring import max_connections

    assert max_connections(4.0) == 901
    assert max_connections(0.5 * 2) == 225
    assert max_connections(256) == 5000  # Aurora's ceiling
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["database"]["maxCapacity"] = 16
    alarm = run_program(config).one("aws:cloudwatch/metricAlarm:MetricAlarm",
                                    "database-connections")
    assert alarm.inputs["threshold"] == int(max_connections(16) * 0.8) == 2883


# --- 23: CI's own access, as code -----------------------------------------------------------


def with_ci(stack_name, **ci):
    config = stack_config(stack_name)
    config[f"mlflow-landing-zone:{stack_name}"]["ci"] = {"githubRepository": "my-org/mlz", **ci}
    return run_program(config, stack=stack_name)


def test_no_ci_roles_unless_the_config_asks():
    for name in ("central", "datascience"):
        stack = run_program(stack_config(name), stack=name)
        assert stack.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
        assert not {"ciPreviewRoleArn", "ciDeployRoleArn"} & set(stack.outputs)


@pytest.mark.parametrize("stack_name, prefix", [("central", "mlflow"),
                                                ("datascience", "mlflow-team-a")])
def test_ci_roles_trust_only_this_repositorys_pull_requests_and_its_environment(stack_name,
                                                                                  prefix):
    stack = with_ci(stack_name)
    provider = stack.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    roles = {r.inputs["name"]: r for r in stack.of_type("aws:iam/role:Role")
             if "-ci-" in r.name}
    assert set(roles) == {f"{prefix}-ci-preview", f"{prefix}-ci-deploy"}
    subjects = {f"{prefix}-ci-preview": "repo:my-org/mlz:pull_request",
                f"{prefix}-ci-deploy": f"repo:my-org/mlz:environment:{stack_name}"}
    for name, role in roles.items():
        [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Federated": provider.outputs["arn"]}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"] == {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subjects[name]}}
        assert role.inputs["maxSessionDuration"] == 3600
    attached = {a.inputs["role"]: a.inputs["policyArn"]
                for a in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if "-ci-" in a.name}
    assert attached == {
        # a pull request's code: metadata only, no data
        f"{prefix}-ci-preview": "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
        f"{prefix}-ci-deploy": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert stack.outputs["ciPreviewRoleArn"] == roles[f"{prefix}-ci-preview"].outputs["arn"]
    assert stack.outputs["ciDeployRoleArn"] == roles[f"{prefix}-ci-deploy"].outputs["arn"]
    [inline] = [p for p in stack.of_type("aws:iam/rolePolicy:RolePolicy") if "-ci-" in p.name]
    assert inline.inputs["role"] == f"{prefix}-ci-preview"
    account = stack_config(stack_name)[f"mlflow-landing-zone:{stack_name}"]["accountId"]
    assert json.loads(inline.inputs["policy"])["Statement"] == [
        {"Sid": "NoDataListings", "Effect": "Deny", "Resource": "*", "Action": [
            "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads",
            "cognito-idp:ListUsers", "cognito-idp:ListUsersInGroup", "cognito-idp:AdminGetUser",
            "cognito-idp:AdminListGroupsForUser"]},
        {"Sid": "EcrAuthToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
         "Resource": "*"},
        {"Sid": "EcrPullOnly", "Effect": "Allow", "Action": [
            "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
            "ecr:DescribeImages", "ecr:DescribeRepositories"],
         "Resource": f"arn:aws:ecr:us-east-1:{account}:repository/*"}]


def test_with_the_ref_in_githubs_subject_only_main_deploys():
    stack = with_ci("central", refInSubject=True)
    trust = {r.inputs["name"]: json.loads(r.inputs["assumeRolePolicy"])["Statement"][0]
             for r in stack.of_type("aws:iam/role:Role") if "-ci-" in r.name}
    assert trust["mlflow-ci-deploy"]["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub":
            "repo:my-org/mlz:environment:central:ref:refs/heads/main"}}
    # a pull request's subject then names its merge ref: any pull request of this repository
    assert trust["mlflow-ci-preview"]["Condition"] == {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {"token.actions.githubusercontent.com:sub":
                       "repo:my-org/mlz:pull_request:ref:refs/pull/*/merge"}}


def test_an_accounts_existing_github_provider_is_used_and_environments_are_named():
    account = stack_config("central")["mlflow-landing-zone:central"]["accountId"]
    existing = f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
    stack = with_ci("central", oidcProviderArn=existing, environment="prod-central")
    assert stack.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    deploy = next(r for r in stack.of_type("aws:iam/role:Role") if r.name.endswith("ci-deploy"))
    [statement] = json.loads(deploy.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Federated": existing}
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        "repo:my-org/mlz:environment:prod-central")


@pytest.mark.parametrize("ci, message", [
    ({}, r"central.ci.githubRepository is required"),
    ({"githubRepository": "my-org/*"}, r"central.ci.githubRepository must be a GitHub "
                                        r"repository as owner/name \(no wildcards\)"),
    ({"githubRepository": "mlz"}, "must be a GitHub repository as owner/name"),
    ({"githubRepository": "o/r", "environment": "a b"}, "central.ci.environment must be"),
    ({"githubRepository": "o/r", "oidcProviderArn": "arn:aws:iam::999999999999:oidc-provider/"
      "token.actions.githubusercontent.com"}, "central.ci.oidcProviderArn must be this "
                                              "account's GitHub OIDC provider"),
    ({"githubRepository": "o/r", "branch": "main"}, "central.ci has unknown keys: branch"),
    ({"githubRepository": "o/r", "refInSubject": "yes"},
     "central.ci.refInSubject must be true or false, got str"),
])
def test_bad_ci_config_is_refused_with_its_key(ci, message):
    with pytest.raises(ConfigError, match=message):
        parse_central(central(ci=ci), REGION)


# --- Cognito's e-mail: SES when configured, the built-in sender's quota said when not -------


SES = "arn:aws:ses:us-east-1:111111111111:identity/example.com"


def test_cognito_sends_through_ses_when_configured_and_says_its_own_sender_otherwise():
    pool = run_program(stack_config("central")).one("aws:cognito/userPool:UserPool")
    assert pool.inputs["emailConfiguration"] == {"emailSendingAccount": "COGNITO_DEFAULT"}
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["email"] = {
        "sesIdentityArn": SES, "from": "MLflow <mlflow@example.com>",
        "replyTo": "platform@example.com"}
    pool = run_program(config).one("aws:cognito/userPool:UserPool")
    assert pool.inputs["emailConfiguration"] == {
        "emailSendingAccount": "DEVELOPER", "sourceArn": SES,
        "fromEmailAddress": "MLflow <mlflow@example.com>",
        "replyToEmailAddress": "platform@example.com"}


@pytest.mark.parametrize("email, message", [
    ({"from": "mlflow@example.com"}, r"central.email.sesIdentityArn is required"),
    ({"sesIdentityArn": "arn:aws:sns:us-east-1:111111111111:topic", "from": "a@example.com"},
     r"central.email.sesIdentityArn must be an SES identity's ARN"),
    ({"sesIdentityArn": SES.replace("us-east-1", "ap-south-1"), "from": "a@example.com"},
     r"central.email.sesIdentityArn is in ap-south-1: Cognito sends with an SES identity of "
     r"its own region \(us-east-1\)"),
    ({"sesIdentityArn": SES, "from": "MLflow <mlflow@elsewhere.org>"},
     r"central.email.from must be an address of the SES identity example.com"),
    ({"sesIdentityArn": SES, "from": "mlflow@example.com", "sender": "x"},
     r"central.email has unknown keys: sender"),
])
def test_a_bad_email_section_names_its_key(email, message):
    with pytest.raises(ConfigError, match=message):
        parse_central(central(email=email), "us-east-1")
    assert parse_central(central(email={"sesIdentityArn": SES, "from": "mlflow@example.com"}),
                         "us-east-1").email.from_address == "mlflow@example.com"
