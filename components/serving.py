"""A team account's serving (issue 27): the team's event bus, the deployer Lambda its rules
call, the SageMaker execution role its endpoints run as, the repository of MLflow's serving
image, and the team's key for endpoint volumes. The deployer's code is deployer/handler.py;
its IAM and the serving role's are spec/serving.py's, which the sandbox grants too."""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from deployer.build import DEPLOYER_HANDLER, RUNTIME, archive_files
from spec.accounts import TEAM_ACCOUNT_TEAM_TAG
from spec.registry_events import EVENT_BUS_NAME, deployer_role_name, serving_role_name
from spec.serving import (
    deploy_rule_pattern,
    deployer_environment,
    deployer_policy,
    invoke_policy,
    lambda_trust_policy,
    serving_role_policy,
    serving_trust_policy,
    state_change_pattern,
)

from ._util import child, customer_managed_key, type_token


@dataclass
class TeamServingArgs:
    team: str
    account_id: str
    region: str
    central_account_id: str
    artifact_bucket: str  # the central bucket of the frozen copies
    artifact_key_arn: str  # its key
    deploy_alias: str
    image_tag: str
    memory_mb: int = 2048
    max_concurrency: int = 5
    instance_type: str = None
    instance_count: int = 1
    delete_on_alias_removed: bool = True
    log_retention_days: int = 90
    logs_key_arn: pulumi.Input[str] = None  # the account's logs key (components/logs_key.py)
    event_bus_name: pulumi.Input[str] = EVENT_BUS_NAME  # the team's bus (TeamEventBus's)


class TeamServing(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamServingArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("serving", "TeamServing"), name, None, opts)
        team, acct, region = args.team, args.account_id, args.region
        tags = {TEAM_ACCOUNT_TEAM_TAG: team}

        # Endpoint volumes (instances) are encrypted with the team's own key; the deployer
        # uses it only through SageMaker (spec.serving.deployer_policy).
        self.key = customer_managed_key(
            f"{name}-key", self, f"SageMaker endpoints of {team}", protect=True,
            policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                # who uses it is IAM's business (the deployer through SageMaker, ECR)
                "Sid": "AccountAdministers", "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "kms:*",
                "Resource": "*"}]}))
        aws.kms.Alias(f"{name}-key", name=f"alias/mlflow-{team}-serving",
                      target_key_id=self.key.key_id, opts=child(self))
        # MLflow's own serving image (`mlflow sagemaker build-and-push-container`), one tag per
        # MLflow version, never overwritten
        self.repository = aws.ecr.Repository(
            f"{name}-image", name=serving_role_name(team), image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=self.key.arn)],
            tags=tags, opts=child(self))

        self.serving_role = aws.iam.Role(
            f"{name}-endpoints", name=serving_role_name(team),
            description=f"SageMaker endpoints of team {team}: read its frozen model copies",
            assume_role_policy=json.dumps(serving_trust_policy(acct)),
            # the central bucket and key admit this role's shape with this tag (the team's)
            tags=tags, opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-endpoints", role=self.serving_role.id,
            policy=self.repository.arn.apply(lambda repo: json.dumps(serving_role_policy(
                team, acct, region, args.artifact_bucket, args.artifact_key_arn, repo))),
            opts=child(self))

        function_name = deployer_role_name(team)
        self.logs = aws.cloudwatch.LogGroup(
            f"{name}-deployer", name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days, kms_key_id=args.logs_key_arn,
            opts=child(self))
        self.deployer_role = aws.iam.Role(
            f"{name}-deployer", name=deployer_role_name(team),
            description=f"The deployer of team {team}: promotions to SageMaker endpoints",
            assume_role_policy=json.dumps(lambda_trust_policy(acct)), tags=tags,
            opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-deployer", role=self.deployer_role.id,
            policy=pulumi.Output.all(self.key.arn, self.logs.arn).apply(
                lambda a: json.dumps(deployer_policy(team, acct, region,
                                                     args.central_account_id, a[0], a[1]))),
            opts=child(self))
        environment = deployer_environment(
            team, acct, region, args.central_account_id, args.deploy_alias,
            image_uri=pulumi.Output.concat(self.repository.repository_url, ":", args.image_tag),
            execution_role_arn=self.serving_role.arn, key_arn=self.key.arn,
            memory_mb=args.memory_mb, max_concurrency=args.max_concurrency,
            instance_type=args.instance_type, instance_count=args.instance_count,
            delete_on_alias_removed=args.delete_on_alias_removed)
        self.function = aws.lambda_.Function(
            f"{name}-deployer", name=function_name, runtime=RUNTIME, handler=DEPLOYER_HANDLER,
            code=pulumi.AssetArchive({path: pulumi.StringAsset(data.decode())
                                      for path, data in archive_files().items()}),
            role=self.deployer_role.arn, timeout=120, memory_size=256,
            # one deployment of the team's at a time (SageMaker refuses an update during
            # another); a throttled event is retried by Lambda
            reserved_concurrent_executions=1,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            tags=tags, opts=child(self, depends_on=[self.logs]))

        # The team's one bus (components/registry_events.TeamEventBus): the central bus forwards
        # the team's registry events to it
        self.bus_name = args.event_bus_name
        rules = {
            "promotions": (self.bus_name, deploy_rule_pattern(team, args.deploy_alias),
                           "The team's deploy alias set or removed: deploy or delete"),
            # SageMaker sends its own events to the account's default bus
            "endpoint-states": ("default", state_change_pattern(team),
                                "How the team's endpoints' creations and updates ended"),
        }
        self.rules = {}
        for key, (bus, pattern, description) in rules.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{key}", name=f"mlflow-{team}-{key}", event_bus_name=bus,
                description=description, event_pattern=json.dumps(pattern), tags=tags,
                opts=child(self))
            aws.cloudwatch.EventTarget(
                f"{name}-{key}", rule=rule.name, event_bus_name=bus, arn=self.function.arn,
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=10),
                opts=child(self))
            aws.lambda_.Permission(
                f"{name}-{key}", action="lambda:InvokeFunction", function=self.function.name,
                principal="events.amazonaws.com", source_arn=rule.arn, opts=child(self))
            self.rules[key] = rule
        self.invoke_policy = aws.iam.Policy(
            f"{name}-invoke", name=f"mlflow-{team}-invoke-endpoints",
            description=f"Invoke team {team}'s model endpoints (attach to its applications)",
            policy=json.dumps(invoke_policy(team, acct, region)), opts=child(self))

        self.outputs = {
            "servingImageRepositoryUrl": self.repository.repository_url,
            "servingRoleArn": self.serving_role.arn,
            "deployerFunctionArn": self.function.arn,
            "servingKeyArn": self.key.arn,
            "invokeEndpointsPolicyArn": self.invoke_policy.arn,
        }
        self.register_outputs(self.outputs)
