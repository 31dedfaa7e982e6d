"""The schema migration before the service: a small Lambda function (components/migration_runner)
that snapshots the Aurora cluster, runs the image's `migrate` mode as a one-off ECS task and
waits for it, invoked by `pulumi up` once per new image; the service depends on the invocation,
so its task definition changes only after the migration succeeded, and its tasks only verify the
schema (components/mlflow_image/entrypoint.py)."""

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from ._util import assume_role_policy, child, policy_json, type_token
from .migration_runner.handler import SNAPSHOT_PREFIX

RUNNER_DIR = Path(__file__).resolve().parent / "migration_runner"
RUNNER_RUNTIME = "python3.12"
# Lambda's limit: the snapshot and the migration together (docs/operations.md says what to do
# when a migration needs longer)
RUNNER_TIMEOUT_SECONDS = 900


@dataclass
class SchemaMigrationArgs:
    account_id: str
    region: str
    ecs_cluster_arn: pulumi.Input[str]
    ecs_cluster_name: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]  # the migration's own (command: migrate)
    task_definition_family: str
    container: str  # the container whose exit code is the migration's
    subnet_ids: pulumi.Input[list]
    security_group_id: pulumi.Input[str]
    # the roles the migration task runs with: the only ones the runner may pass
    execution_role_arn: pulumi.Input[str]
    task_role_arn: pulumi.Input[str]
    db_cluster_arn: pulumi.Input[str]
    db_cluster_identifier: pulumi.Input[str]
    image_tag: str  # a new image, a new invocation
    log_retention_days: int
    logs_key_arn: pulumi.Input[str] = None  # the stack's logs key (components/logs_key.py)


def runner_statements(args: SchemaMigrationArgs, log_group_arn) -> list:
    """Least privilege: run that family's tasks on that cluster, pass its two roles to ECS,
    watch and stop its tasks, snapshot that cluster under the runner's prefix, write its log."""
    prefix = f"arn:aws:ecs:{args.region}:{args.account_id}"
    rds = f"arn:aws:rds:{args.region}:{args.account_id}"
    on_cluster = {"ArnEquals": {"ecs:cluster": args.ecs_cluster_arn}}
    return [
        {"Sid": "RunTheMigrationTask", "Effect": "Allow", "Action": "ecs:RunTask",
         "Resource": f"{prefix}:task-definition/{args.task_definition_family}:*",
         "Condition": on_cluster},
        {"Sid": "WatchTheMigrationTask", "Effect": "Allow",
         "Action": ["ecs:DescribeTasks", "ecs:StopTask"],
         "Resource": pulumi.Output.concat(f"{prefix}:task/", args.ecs_cluster_name, "/*"),
         "Condition": on_cluster},
        {"Sid": "PassTheTaskRoles", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": [args.execution_role_arn, args.task_role_arn],
         "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
        {"Sid": "SnapshotTheCluster", "Effect": "Allow", "Action": "rds:CreateDBClusterSnapshot",
         "Resource": [args.db_cluster_arn, f"{rds}:cluster-snapshot:{SNAPSHOT_PREFIX}-*"]},
        {"Sid": "WatchTheSnapshot", "Effect": "Allow", "Action": "rds:DescribeDBClusterSnapshots",
         "Resource": [args.db_cluster_arn, f"{rds}:cluster-snapshot:{SNAPSHOT_PREFIX}-*"]},
        {"Sid": "OwnLog", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": pulumi.Output.concat(log_group_arn, ":*")},
    ]


class SchemaMigration(pulumi.ComponentResource):
    invocation: aws.lambda_.Invocation

    def __init__(self, name: str, args: SchemaMigrationArgs,
                 opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("schema_migration", "SchemaMigration"), name, None, opts)
        function_name = f"{name}-runner"
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-runner-logs", name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days, kms_key_id=args.logs_key_arn,
            opts=child(self))
        self.role = aws.iam.Role(
            f"{name}-runner", assume_role_policy=assume_role_policy(
                "lambda.amazonaws.com", source_account=args.account_id),
            opts=child(self))
        self.policy = aws.iam.RolePolicy(
            f"{name}-runner", role=self.role.id,
            policy=policy_json(runner_statements(args, self.log_group.arn)), opts=child(self))
        self.function = aws.lambda_.Function(
            f"{name}-runner", name=function_name,
            description="MLflow's schema migration: snapshot, then the image's migrate task",
            runtime=RUNNER_RUNTIME, handler="handler.handler",
            code=pulumi.AssetArchive({"handler.py": pulumi.FileAsset(
                str(RUNNER_DIR / "handler.py"))}),
            role=self.role.arn, timeout=RUNNER_TIMEOUT_SECONDS, memory_size=256,
            opts=child(self, depends_on=[self.log_group, self.policy]))
        self.input = pulumi.Output.json_dumps({
            "cluster": args.ecs_cluster_arn,
            "taskDefinition": args.task_definition_arn,
            "container": args.container,
            "subnets": args.subnet_ids,
            "securityGroups": [args.security_group_id],
            "dbClusterIdentifier": args.db_cluster_identifier,
            "imageTag": args.image_tag,
        })
        # Invoked when created and again whenever the image (its tag) or the migration's task
        # definition changes: a failed migration fails `pulumi up` here, before the service
        self.invocation = aws.lambda_.Invocation(
            f"{name}-run", function_name=self.function.name, input=self.input,
            triggers={"imageTag": args.image_tag,
                      "taskDefinition": pulumi.Output.from_input(args.task_definition_arn)},
            opts=child(self))
        self.register_outputs({"function_name": self.function.name})
