"""The central account's status writer (issue 27): each team deployer's status event on the
central bus becomes the model version's `landing_zone.deployment` tag, set through the API as
this function's role, the one the tracking server admits for `landing_zone.*` tags
(spec.registry_events.PLATFORM_WRITER_ENV). Its code is deployer/status_writer.py; it believes
a status only from the team's own account (the teams' accounts are in its archive)."""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from deployer.build import RUNTIME, STATUS_WRITER_HANDLER, archive_files
from spec.registry_events import EVENT_BUS_NAME, STATUS_WRITER_ROLE_NAME
from spec.serving import lambda_trust_policy, status_rule_pattern, status_writer_policy

from ._util import child, type_token


@dataclass
class StatusWriterArgs:
    account_id: str
    teams: dict  # {team: account id}: whose status each account may report
    api_arn: pulumi.Input[str]  # arn:aws:execute-api:<region>:<account>:<api>/<stage>
    api_url: pulumi.Input[str]  # the stage's URL
    log_retention_days: int = 90
    logs_key_arn: pulumi.Input[str] = None  # the stack's logs key (components/logs_key.py)


class StatusWriter(pulumi.ComponentResource):
    def __init__(self, name: str, args: StatusWriterArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("serving_status", "StatusWriter"), name, None, opts)
        self.logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/lambda/{STATUS_WRITER_ROLE_NAME}",
            retention_in_days=args.log_retention_days, kms_key_id=args.logs_key_arn,
            opts=child(self))
        self.role = aws.iam.Role(
            f"{name}-role", name=STATUS_WRITER_ROLE_NAME,
            description="Records each team endpoint's deployment status on its model version",
            assume_role_policy=json.dumps(lambda_trust_policy(args.account_id)),
            opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-role", role=self.role.id,
            policy=pulumi.Output.all(args.api_arn, self.logs.arn).apply(
                lambda a: json.dumps(status_writer_policy(a[0], a[1]))),
            opts=child(self))
        self.function = aws.lambda_.Function(
            f"{name}-function", name=STATUS_WRITER_ROLE_NAME, runtime=RUNTIME,
            handler=STATUS_WRITER_HANDLER,
            # the teams' accounts in the archive, not the environment (4 KB: ~200 teams)
            code=pulumi.AssetArchive({path: pulumi.StringAsset(data.decode())
                                      for path, data in archive_files(args.teams).items()}),
            role=self.role.arn, timeout=30, memory_size=256,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={
                "API_URL": args.api_url}),
            opts=child(self, depends_on=[self.logs]))
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-rule", name="mlflow-deployment-status", event_bus_name=EVENT_BUS_NAME,
            description="The team deployers' status: onto the model versions",
            event_pattern=json.dumps(status_rule_pattern()), opts=child(self))
        aws.cloudwatch.EventTarget(
            f"{name}-rule", rule=self.rule.name, event_bus_name=EVENT_BUS_NAME,
            arn=self.function.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=3600, maximum_retry_attempts=10),
            opts=child(self))
        aws.lambda_.Permission(
            f"{name}-rule", action="lambda:InvokeFunction", function=self.function.name,
            principal="events.amazonaws.com", source_arn=self.rule.arn, opts=child(self))
        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn})
