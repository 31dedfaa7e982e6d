"""The schema migration before the service (issue 26, item 2): under mocks, the order and the
runner's inputs and rights; the runner's own steps with stand-in AWS clients."""

import dataclasses
import json

import pytest

import tests.pulumi_program as program
from components.migration_runner import handler
from tests.pulumi_program import run_program, stack_config

ACCOUNT, REGION = "111111111111", "us-east-1"


@pytest.fixture(scope="module")
def stack():
    return run_program(stack_config("central"))


def _input(stack):
    return json.loads(stack.one("aws:lambda/invocation:Invocation").inputs["input"])


def test_the_service_changes_only_after_the_migration(stack):
    service = stack.one("aws:ecs/service:Service")
    invocation = stack.one("aws:lambda/invocation:Invocation")
    assert invocation.name == "mlflow-server-migration-run"
    assert invocation.name in service.depends_on
    # the invocation runs the migration's own task definition, which the service does not use
    migrate = stack.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-migrate")
    assert _input(stack)["taskDefinition"] == migrate.outputs["arn"]
    assert service.inputs["taskDefinition"] != migrate.outputs["arn"]


def test_the_invocation_reruns_with_each_new_image(monkeypatch, stack):
    before = stack.one("aws:lambda/invocation:Invocation").inputs
    tag = program.prebuilt().image_tag
    assert _input(stack)["imageTag"] == tag and before["triggers"]["imageTag"] == tag
    real = program.prebuilt
    monkeypatch.setattr(program, "prebuilt", lambda workspaces=None: dataclasses.replace(
        real(workspaces), image_tag="ctx-0123456789abcdef0123456789abcdef"))
    after = run_program(stack_config("central")).one("aws:lambda/invocation:Invocation").inputs
    assert json.loads(after["input"])["imageTag"] == "ctx-0123456789abcdef0123456789abcdef"
    assert after["triggers"]["imageTag"] == "ctx-0123456789abcdef0123456789abcdef"
    assert after["input"] != before["input"] and after["triggers"] != before["triggers"]


def test_adding_a_team_does_not_rerun_the_migration(stack):
    """The migration's task definition carries what the migration reads, not the teams: a new
    team changes the service's task definition, not the invocation."""
    config = stack_config("central")
    own = config["mlflow-landing-zone:central"]
    own["teams"] = [*own["teams"], {**own["teams"][-1], "name": "team-z"}]
    other = run_program(config)
    assert other.one("aws:lambda/invocation:Invocation").inputs == \
        stack.one("aws:lambda/invocation:Invocation").inputs
    migrate = lambda s: s.one("aws:ecs/taskDefinition:TaskDefinition", "migrate").inputs  # noqa
    assert migrate(other) == migrate(stack)
    serve = lambda s: s.one("aws:ecs/taskDefinition:TaskDefinition", "server-task").inputs  # noqa
    assert serve(other) != serve(stack)


def test_the_migration_task_is_the_image_in_its_migrate_mode(stack):
    service = stack.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-task").inputs
    migrate = stack.one("aws:ecs/taskDefinition:TaskDefinition", "mlflow-server-migrate").inputs
    [serving], [migrating] = (json.loads(t["containerDefinitions"]) for t in (service, migrate))
    assert migrating["name"] == "migrate" and migrating["command"] == ["migrate"]
    assert migrating["image"] == serving["image"] and migrating["secrets"] == serving["secrets"]
    assert "portMappings" not in migrating and "healthCheck" not in migrating
    assert migrating["readonlyRootFilesystem"] is True
    env = {e["name"]: e["value"] for e in migrating["environment"]}
    assert set(env) == {"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_LOGIN_ARN",
                        "MLFLOW_DEFAULT_ARTIFACT_ROOT", "MLFLOW_LZ_REGISTRY_ROOT",
                        "AWS_STS_REGIONAL_ENDPOINTS", "MLFLOW_DISABLE_TELEMETRY", "HOME",
                        "TMPDIR", "DO_NOT_TRACK"}
    assert all(env[k] == v for k, v in ((e["name"], e["value"]) for e in serving["environment"])
               if k in env)
    logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "mlflow-server-migration-logs")
    assert migrating["logConfiguration"]["options"] == {
        **serving["logConfiguration"]["options"], "awslogs-group": logs.outputs["name"],
        "awslogs-stream-prefix": "migrate"}
    assert logs.outputs["name"] != serving["logConfiguration"]["options"]["awslogs-group"]
    assert (migrate["executionRoleArn"], migrate["taskRoleArn"]) == (
        service["executionRoleArn"], service["taskRoleArn"])
    assert (migrate["cpu"], migrate["memory"], migrate["family"]) == (
        "512", "1024", "mlflow-server-migrate")
    invocation = _input(stack)
    assert invocation["container"] == "migrate"
    assert invocation["subnets"] == ["subnet-p1", "subnet-p2"]
    task_sg = stack.one("aws:ec2/securityGroup:SecurityGroup", "mlflow-server-sg")
    assert invocation["securityGroups"] == [task_sg.outputs["id"]]
    cluster = stack.one("aws:rds/cluster:Cluster")
    assert invocation["dbClusterIdentifier"] == cluster.outputs["clusterIdentifier"]


def test_the_runner_has_its_own_timeout_log_and_least_privilege(stack):
    fn = stack.one("aws:lambda/function:Function", "migration-runner")
    assert (fn.inputs["timeout"], fn.inputs["runtime"], fn.inputs["handler"]) == (
        900, "python3.12", "handler.handler")
    assert fn.inputs["name"] == "mlflow-server-migration-runner"
    logs = stack.one("aws:cloudwatch/logGroup:LogGroup", "migration-runner-logs")
    assert logs.inputs["name"] == "/aws/lambda/mlflow-server-migration-runner"
    assert logs.inputs["retentionInDays"] > 0
    role = stack.one("aws:iam/role:Role", "migration-runner")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                      "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]
    statements = {s["Sid"]: s for s in json.loads(
        stack.one("aws:iam/rolePolicy:RolePolicy", "migration-runner").inputs["policy"])[
        "Statement"]}
    ecs_cluster = stack.one("aws:ecs/cluster:Cluster").outputs
    execution = stack.one("aws:iam/role:Role", "mlflow-server-execution").outputs["arn"]
    task = stack.one("aws:iam/role:Role", "mlflow-server-task").outputs["arn"]
    db = stack.one("aws:rds/cluster:Cluster").outputs["arn"]
    snapshots = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster-snapshot:mlflow-pre-migrate-*"
    on_cluster = {"ArnEquals": {"ecs:cluster": ecs_cluster["arn"]}}
    assert statements == {
        "RunTheMigrationTask": {
            "Sid": "RunTheMigrationTask", "Effect": "Allow", "Action": "ecs:RunTask",
            "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/mlflow-server-migrate:*",
            "Condition": on_cluster},
        "WatchTheMigrationTask": {
            "Sid": "WatchTheMigrationTask", "Effect": "Allow",
            "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
            "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{ecs_cluster['name']}/*",
            "Condition": on_cluster},
        "PassTheTaskRoles": {
            "Sid": "PassTheTaskRoles", "Effect": "Allow", "Action": "iam:PassRole",
            "Resource": [execution, task],
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
        "SnapshotTheCluster": {
            "Sid": "SnapshotTheCluster", "Effect": "Allow",
            "Action": "rds:CreateDBClusterSnapshot", "Resource": [db, snapshots]},
        "WatchTheSnapshot": {
            "Sid": "WatchTheSnapshot", "Effect": "Allow",
            "Action": "rds:DescribeDBClusterSnapshots", "Resource": [db, snapshots]},
        "OwnLog": {
            "Sid": "OwnLog", "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": logs.outputs["arn"] + ":*"},
    }


# --- the runner itself, with stand-in clients -----------------------------------------------

EVENT = {"cluster": "arn:aws:ecs:us-east-1:111111111111:cluster/c", "taskDefinition": "td:3",
         "container": "migrate", "subnets": ["s1"], "securityGroups": ["sg1"],
         "dbClusterIdentifier": "db-1", "imageTag": "ctx-abc"}


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeAws:
    """RDS and ECS as the runner calls them; records the order of calls."""

    def __init__(self, snapshot_polls=2, task_polls=2, exit_code=0, snapshot_status="available"):
        self.calls, self.snapshot_polls, self.task_polls = [], snapshot_polls, task_polls
        self.exit_code, self.snapshot_status = exit_code, snapshot_status

    def create_db_cluster_snapshot(self, **kw):
        self.calls.append(("snapshot", kw))

    def describe_db_cluster_snapshots(self, **kw):
        self.snapshot_polls -= 1
        status = "creating" if self.snapshot_polls > 0 else self.snapshot_status
        self.calls.append(("snapshot?", status))
        return {"DBClusterSnapshots": [{"Status": status}]}

    def run_task(self, **kw):
        self.calls.append(("run", kw))
        return {"tasks": [{"taskArn": "task/1"}], "failures": []}

    def describe_tasks(self, **kw):
        self.task_polls -= 1
        status = "RUNNING" if self.task_polls > 0 else "STOPPED"
        self.calls.append(("task?", status))
        return {"tasks": [{"lastStatus": status, "stoppedReason": "Essential container exited",
                           "containers": [{"name": "migrate", "exitCode": self.exit_code}]}]}

    def stop_task(self, **kw):
        self.calls.append(("stop", kw))


def test_the_runner_snapshots_then_migrates_and_waits():
    aws, clock = FakeAws(), Clock()
    done = handler.run(EVENT, aws, aws, clock=clock, sleep=clock.sleep, log=lambda m: None)
    kinds = [c[0] for c in aws.calls]
    assert kinds == ["snapshot", "snapshot?", "snapshot?", "run", "task?", "task?"]
    snapshot = aws.calls[0][1]
    assert snapshot == {"DBClusterSnapshotIdentifier": "mlflow-pre-migrate-ctx-abc-20270115080000",
                        "DBClusterIdentifier": "db-1"}
    run = aws.calls[3][1]
    assert run == {"cluster": EVENT["cluster"], "taskDefinition": "td:3", "count": 1,
                   "launchType": "FARGATE", "startedBy": "schema-migration",
                   "networkConfiguration": {"awsvpcConfiguration": {
                       "subnets": ["s1"], "securityGroups": ["sg1"],
                       "assignPublicIp": "DISABLED"}}}
    assert done == {"snapshot": snapshot["DBClusterSnapshotIdentifier"], "task": "task/1",
                    "imageTag": "ctx-abc"}


def test_a_failed_migration_fails_the_invocation_and_names_the_snapshot():
    aws, clock = FakeAws(exit_code=1), Clock()
    with pytest.raises(handler.MigrationFailed, match=r"task/1 failed: exit code 1, Essential "
                                                      r"container exited.*the snapshot "
                                                      r"mlflow-pre-migrate-ctx-abc-"):
        handler.run(EVENT, aws, aws, clock=clock, sleep=clock.sleep, log=lambda m: None)


def test_no_migration_without_its_snapshot():
    aws, clock = FakeAws(snapshot_status="failed"), Clock()
    with pytest.raises(handler.MigrationFailed, match=r"snapshot mlflow-pre-migrate-.*: failed"):
        handler.run(EVENT, aws, aws, clock=clock, sleep=clock.sleep, log=lambda m: None)
    assert "run" not in [c[0] for c in aws.calls]


def test_a_migration_longer_than_the_runner_is_stopped_and_fails():
    aws, clock = FakeAws(task_polls=10_000), Clock()
    with pytest.raises(handler.MigrationFailed, match="did not finish in the runner's time: "
                                                      "stopped"):
        handler.run(EVENT, aws, aws, clock=clock, sleep=clock.sleep, remaining=lambda: 900_000,
                    log=lambda m: None)
    assert aws.calls[-1][0] == "stop"
    # it gave up within the function's time, leaving the margin to report
    assert clock.now - 1_800_000_000.0 <= 900 - handler.MARGIN_SECONDS + handler.POLL_SECONDS


def test_snapshot_names_follow_rds_rules():
    import re

    name = handler.snapshot_id("ctx-" + "a" * 32, 0)
    assert re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", name) and "--" not in name
    assert len(name) <= 63
