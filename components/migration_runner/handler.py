"""The schema migration's runner: a Lambda function that `pulumi up` invokes (an
aws.lambda_.Invocation, components/schema_migration.py) before the service's task definition
changes, once per new image. It

1. snapshots the Aurora cluster and waits for the snapshot (a schema change is rolled back by
   restoring it: docs/operations.md, "Upgrades and migrations");
2. runs the image's `migrate` mode as a one-off ECS task and waits for it to stop;
3. succeeds only if the task's container exited 0: otherwise it raises, the invocation fails,
   and `pulumi up` stops before the service changes.

The standard library and boto3 (the Lambda runtime's) only. Every call goes through the
clients handed to `run`, so it is tested without AWS.
"""

import json
import re
import time

SNAPSHOT_PREFIX = "mlflow-pre-migrate"
POLL_SECONDS = 10
# Leave this much of the function's time to report a failure in
MARGIN_SECONDS = 30


class MigrationFailed(Exception):
    """The snapshot or the migration task did not succeed: the message says which and why."""


def snapshot_id(image_tag: str, now: float) -> str:
    """`mlflow-pre-migrate-<tag, shortened>-<UTC time>`: RDS's identifier rules (letters,
    digits, hyphens, a letter first, no double hyphen, at most 63 characters)."""
    tag = re.sub(r"[^a-z0-9]+", "-", image_tag.lower())[:24].strip("-")
    return f"{SNAPSHOT_PREFIX}-{tag}-{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}"


def _wait(what, check, deadline, clock, sleep):
    while True:
        done = check()
        if done:
            return done
        if clock() >= deadline:
            raise MigrationFailed(f"{what}: not done in time")
        sleep(POLL_SECONDS)


def run(event, rds, ecs, clock=time.time, sleep=time.sleep, remaining=lambda: 900_000,
        log=print):
    """`event`: {"cluster", "taskDefinition", "subnets", "securityGroups", "container",
    "dbClusterIdentifier", "imageTag"}. Returns what was done."""
    deadline = clock() + remaining() / 1000 - MARGIN_SECONDS
    snapshot = snapshot_id(event["imageTag"], clock())
    log(f"migration: snapshot {snapshot} of {event['dbClusterIdentifier']}")
    rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier=snapshot,
                                   DBClusterIdentifier=event["dbClusterIdentifier"])

    def snapshot_available():
        found = rds.describe_db_cluster_snapshots(
            DBClusterSnapshotIdentifier=snapshot)["DBClusterSnapshots"]
        status = found[0]["Status"] if found else "missing"
        if status in ("failed", "missing", "deleted"):
            raise MigrationFailed(f"snapshot {snapshot}: {status}")
        return status == "available"

    _wait(f"snapshot {snapshot}", snapshot_available, deadline, clock, sleep)
    log(f"migration: snapshot {snapshot} available; running {event['taskDefinition']}")
    started = ecs.run_task(
        cluster=event["cluster"], taskDefinition=event["taskDefinition"], count=1,
        launchType="FARGATE", startedBy="schema-migration",
        networkConfiguration={"awsvpcConfiguration": {
            "subnets": event["subnets"], "securityGroups": event["securityGroups"],
            "assignPublicIp": "DISABLED"}})
    if started.get("failures") or not started.get("tasks"):
        raise MigrationFailed(f"the migration task did not start: {started.get('failures')}")
    task_arn = started["tasks"][0]["taskArn"]

    def stopped():
        task = ecs.describe_tasks(cluster=event["cluster"], tasks=[task_arn])["tasks"][0]
        return task if task.get("lastStatus") == "STOPPED" else None

    try:
        task = _wait(f"the migration task {task_arn}", stopped, deadline, clock, sleep)
    except MigrationFailed:
        ecs.stop_task(cluster=event["cluster"], task=task_arn,
                      reason="the migration ran out of the runner's time")
        raise MigrationFailed(f"the migration task {task_arn} did not finish in the runner's "
                              f"time: stopped; the snapshot {snapshot} is the database before "
                              f"it (docs/operations.md)") from None
    container = next((c for c in task.get("containers", [])
                      if c.get("name") == event["container"]), {})
    if container.get("exitCode") != 0:
        raise MigrationFailed(
            f"the migration task {task_arn} failed: exit code {container.get('exitCode')}, "
            f"{container.get('reason') or task.get('stoppedReason')}; its log is in the "
            f"migration's log group; the snapshot {snapshot} is the database before it")
    log(f"migration: {task_arn} done")
    return {"snapshot": snapshot, "task": task_arn, "imageTag": event["imageTag"]}


def handler(event, context):  # the Lambda's entry point
    import boto3

    result = run(event, boto3.client("rds"), boto3.client("ecs"),
                 remaining=context.get_remaining_time_in_millis)
    print(json.dumps(result))
    return result
