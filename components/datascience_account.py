"""A team's account: one SageMaker execution role per level, each allowed to assume only the
matching `mlflow-<team>-<level>` role in the central account; optionally a Studio domain with
one user profile per level."""

import json

import pulumi
import pulumi_aws as aws

from spec.accounts import (
    AUTH_PROVIDER,
    CONTACT_ENV,
    ROLE_ARN_ENV,
    SESSION_SECONDS,
    TEAM_ACCOUNT_LEVEL_TAG,
    TEAM_ACCOUNT_TEAM_TAG,
    access_role_name,
    level_guard_policy,
    role_arn,
    sagemaker_role_name,
    sagemaker_trust_policy,
    studio_profile_name,
)
from spec.edge import team_base_path
from roles import LEVELS

from ._util import child, type_token
from .ci_access import CiAccess, CiAccessArgs
from .logs_key import LogsKey, LogsKeyArgs
from .serving import TeamServing, TeamServingArgs
from .registry_events import TeamEventBus, TeamEventBusArgs
from spec.config import DataScienceConfig



def execution_policy(config: DataScienceConfig, level: str) -> dict:
    """What a training job and a Studio user of this level need, scoped down from
    AmazonSageMakerFullAccess: jobs, Studio apps, logs, metrics, image pulls, VPC networking,
    the account's SageMaker default bucket, and the one central role. Left out: endpoints and
    model hosting, pipelines, feature store, notebook instances, marketplace, IAM beyond
    passing this role to SageMaker.

    Levels stay apart inside the account too: a job or app is this level's when it carries
    TEAM_ACCOUNT_LEVEL_TAG=<level> (set at creation, required), and only those it may stop or
    delete; in the default bucket each level writes under `<level>/` alone (a reader writes
    nothing), so no job overwrites another level's model files before they are registered."""
    acct, region = config.account_id, config.region
    own_role = role_arn(acct, sagemaker_role_name(config.team, level))
    bucket = f"arn:aws:s3:::sagemaker-{region}-{acct}"
    sagemaker = f"arn:aws:sagemaker:{region}:{acct}"
    jobs = [f"{sagemaker}:training-job/*", f"{sagemaker}:processing-job/*"]
    apps = f"{sagemaker}:app/*/{studio_profile_name(config.team, level)}/*"
    own_tag = {"StringEquals": {f"aws:ResourceTag/{TEAM_ACCOUNT_LEVEL_TAG}": level}}
    statements = [
        {"Sid": "AssumeTheCentralRoleOfThisLevel", "Effect": "Allow", "Action": "sts:AssumeRole",
         "Resource": role_arn(config.central_account_id, access_role_name(config.team, level))},
        # creating a job or an app: only tagged as this level's
        {"Sid": "CreateJobsAndAppsOfThisLevel", "Effect": "Allow", "Action": [
            "sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob",
            "sagemaker:CreateApp"], "Resource": jobs + [apps],
         "Condition": {"StringEquals": {f"aws:RequestTag/{TEAM_ACCOUNT_LEVEL_TAG}": level}}},
        {"Sid": "TagOnlyAsThisLevelAtCreation", "Effect": "Allow", "Action": "sagemaker:AddTags",
         "Resource": jobs + [apps],
         "Condition": {"StringEquals": {"sagemaker:TaggingAction": [
             "CreateTrainingJob", "CreateProcessingJob", "CreateApp"]}}},
        {"Sid": "StopAndDeleteOnlyThisLevels", "Effect": "Allow", "Action": [
            "sagemaker:StopTrainingJob", "sagemaker:StopProcessingJob", "sagemaker:DeleteApp"],
         "Resource": jobs + [apps], "Condition": own_tag},
        {"Sid": "DescribeJobsAndStudio", "Effect": "Allow", "Action": [
            "sagemaker:DescribeTrainingJob", "sagemaker:DescribeProcessingJob",
            "sagemaker:DescribeApp", "sagemaker:DescribeDomain",
            "sagemaker:DescribeUserProfile", "sagemaker:DescribeSpace", "sagemaker:ListTags"],
         "Resource": f"{sagemaker}:*"},
        # SageMaker's List actions take no resource: only "*" matches them
        {"Sid": "ListJobsAndApps", "Effect": "Allow", "Action": [
            "sagemaker:ListTrainingJobs", "sagemaker:ListProcessingJobs", "sagemaker:ListApps",
            "sagemaker:ListSpaces"], "Resource": "*"},
        {"Sid": "PassOnlyThisRoleToSageMaker", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": own_role,
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
        {"Sid": "Logs", "Effect": "Allow", "Action": [
            "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
            "logs:DescribeLogStreams", "logs:GetLogEvents"],
         "Resource": f"arn:aws:logs:{region}:{acct}:log-group:/aws/sagemaker/*"},
        {"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData",
         "Resource": "*",
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "SageMaker*"]}}},
        # images of this account's repositories (SageMaker's own images it pulls itself)
        {"Sid": "PullImagesToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
         "Resource": "*"},
        {"Sid": "PullImagesOfThisAccount", "Effect": "Allow", "Action": [
            "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": f"arn:aws:ecr:{region}:{acct}:repository/*"},
        {"Sid": "ReadTheDefaultBucket", "Effect": "Allow", "Action": [
            "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"],
         "Resource": [bucket, f"{bucket}/*"]},
    ]
    if level != "reader":
        statements.append(
            {"Sid": "WriteUnderThisLevelsPrefix", "Effect": "Allow", "Action": [
                "s3:CreateBucket", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
             "Resource": [bucket, f"{bucket}/{level}/*"]})
    if config.studio.vpc_id:
        vpc = f"arn:aws:ec2:{region}:{acct}:vpc/{config.studio.vpc_id}"
        subnets = [f"arn:aws:ec2:{region}:{acct}:subnet/{s}" for s in config.studio.subnet_ids]
        in_vpc = {"ArnEquals": {"ec2:Vpc": vpc}}
        statements += [
            # a job's or an app's network interfaces: in the team's VPC and subnets only
            {"Sid": "InterfacesInTheTeamsSubnets", "Effect": "Allow",
             "Action": "ec2:CreateNetworkInterface", "Resource": subnets},
            {"Sid": "InterfacesInTheTeamsVpc", "Effect": "Allow", "Action": [
                "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"],
             "Resource": [f"arn:aws:ec2:{region}:{acct}:network-interface/*",
                          f"arn:aws:ec2:{region}:{acct}:security-group/*"],
             "Condition": in_vpc},
            # EC2's Describe actions take no resource
            {"Sid": "DescribeTheNetwork", "Effect": "Allow", "Action": [
                "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"], "Resource": "*"}]
    return {"Version": "2012-10-17", "Statement": statements}


def job_environment(config: DataScienceConfig, level: str) -> dict:
    """What a SageMaker job needs to log to the central MLflow as `level`: the team's own base
    URL on the API (its workspace; the central role may call nothing else), and the workspace's
    name, which MLflow's client puts in the links it prints."""
    return {
        "MLFLOW_TRACKING_URI": config.tracking_uri + team_base_path(config.team),
        "MLFLOW_WORKSPACE": config.team,
        "MLFLOW_TRACKING_AUTH": AUTH_PROVIDER,
        ROLE_ARN_ENV: role_arn(config.central_account_id, access_role_name(config.team, level)),
        "AWS_DEFAULT_REGION": config.region,
        # whom the client's refusals (S3's AccessDenied included) tell the job's owner to ask
        CONTACT_ENV: config.platform_contact,
    }


class DataScienceAccount(pulumi.ComponentResource):
    role_arns: dict
    job_environments: dict

    def __init__(self, name: str, config: DataScienceConfig, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("datascience_account", "DataScienceAccount"), name, None, opts)
        # the team account's log groups (the deployer's, the bus's audit) under a key of its own
        self.logs_key = LogsKey(f"{name}-logs", LogsKeyArgs(
            account_id=config.account_id, region=config.region, protect=True), child(self))
        self.roles = {}
        for level in config.levels:
            role = aws.iam.Role(
                f"{name}-{level}",
                name=sagemaker_role_name(config.team, level),
                description=f"SageMaker execution role of team {config.team}: MLflow {level}",
                assume_role_policy=json.dumps(sagemaker_trust_policy(config.account_id)),
                max_session_duration=SESSION_SECONDS,
                tags={TEAM_ACCOUNT_LEVEL_TAG: level, TEAM_ACCOUNT_TEAM_TAG: config.team},
                opts=child(self))
            aws.iam.RolePolicy(
                f"{name}-{level}", role=role.id,
                policy=json.dumps(execution_policy(config, level)), opts=child(self))
            self.roles[level] = role
        self.role_arns = {level: role.arn for level, role in self.roles.items()}
        # The account's own line: attach to every person and CI role here but the deployer
        # (docs/security.md; the organisation's SCP form is there too)
        self.level_guard = aws.iam.Policy(
            f"{name}-level-guard", name=f"mlflow-{config.team}-level-guard",
            description=f"Only principals tagged {TEAM_ACCOUNT_LEVEL_TAG}=<level> use team "
                        f"{config.team}'s elevated MLflow levels",
            policy=json.dumps(level_guard_policy(config.account_id, config.region,
                                                 config.team, config.levels)),
            opts=child(self))
        self.job_environments = {level: job_environment(config, level) for level in config.levels}
        # The registry's events of this team, forwarded by the central account's rule
        self.events = TeamEventBus(f"{name}-registry-events", TeamEventBusArgs(
            team=config.team, account_id=config.account_id,
            central_account_id=config.central_account_id, region=config.region,
            logs_key_arn=self.logs_key.arn), child(self))

        self.studio_domain_id = None
        if config.studio.enabled:
            # The least privileged level the team holds is the domain's default, never admin.
            least = next(level for level in LEVELS if level in config.levels)
            studio_sg = aws.ec2.SecurityGroup(
                f"{name}-studio", vpc_id=config.studio.vpc_id,
                description="SageMaker Studio apps: outbound only",
                egress=[aws.ec2.SecurityGroupEgressArgs(
                    protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"],
                    description="Studio apps: SageMaker's APIs, the domain's EFS, and what the "
                                "team's network routes (the team's VPC decides)")],
                opts=child(self))
            domain = aws.sagemaker.Domain(
                f"{name}-studio",
                domain_name=f"mlflow-{config.team}",
                auth_mode="IAM",
                vpc_id=config.studio.vpc_id,
                subnet_ids=list(config.studio.subnet_ids),
                app_network_access_type="VpcOnly",  # not the default VPC's public subnets
                default_user_settings=aws.sagemaker.DomainDefaultUserSettingsArgs(
                    execution_role=self.roles[least].arn, security_groups=[studio_sg.id]),
                opts=child(self))
            for level in config.levels:
                aws.sagemaker.UserProfile(
                    f"{name}-studio-{level}",
                    domain_id=domain.id,
                    user_profile_name=studio_profile_name(config.team, level),
                    tags={TEAM_ACCOUNT_LEVEL_TAG: level, TEAM_ACCOUNT_TEAM_TAG: config.team},
                    user_settings=aws.sagemaker.UserProfileUserSettingsArgs(
                        execution_role=self.roles[level].arn, security_groups=[studio_sg.id]),
                    opts=child(self))
            self.studio_domain_id = domain.id

        self.outputs = {"sagemakerRoleArns": self.role_arns, "jobEnvironment": self.job_environments,
                        "levelGuardPolicyArn": self.level_guard.arn,
                        "registryEventBusArn": self.events.bus_arn}
        if self.studio_domain_id is not None:
            self.outputs["studioDomainId"] = self.studio_domain_id
            # For the central stack's ui.studioOrigins, so Studio may embed the MLflow UI.
            self.outputs["studioOrigin"] = pulumi.Output.concat(
                "https://", self.studio_domain_id, ".studio.", config.region, ".sagemaker.aws")
        if config.ci is not None:
            self.ci = CiAccess(f"{name}-ci", CiAccessArgs(
                repository=config.ci.repository, environment=config.ci.environment,
                account_id=config.account_id, region=config.region,
                oidc_provider_arn=config.ci.oidc_provider_arn,
                ref_in_subject=config.ci.ref_in_subject), child(self))
            self.outputs.update(ciPreviewRoleArn=self.ci.preview_role_arn,
                                ciDeployRoleArn=self.ci.deploy_role_arn)
        if config.serving.enabled:
            s = config.serving
            self.serving = TeamServing(f"{name}-serving", TeamServingArgs(
                team=config.team, account_id=config.account_id, region=config.region,
                central_account_id=config.central_account_id,
                artifact_bucket=s.artifact_bucket, artifact_key_arn=s.artifact_key_arn,
                deploy_alias=s.deploy_alias, image_tag=s.image_tag, memory_mb=s.memory_mb,
                max_concurrency=s.max_concurrency, instance_type=s.instance_type,
                instance_count=s.instance_count,
                delete_on_alias_removed=s.delete_on_alias_removed,
                logs_key_arn=self.logs_key.arn, event_bus_name=self.events.bus.name),
                child(self))
            self.outputs.update(self.serving.outputs)
        self.register_outputs(self.outputs)
