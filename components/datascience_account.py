"""A team's account: one SageMaker execution role per level, each allowed to assume only the
matching `mlflow-<team>-<level>` role in the central account; optionally a Studio domain with
one user profile per level."""

import json

import pulumi
import pulumi_aws as aws

from spec.accounts import (
    SESSION_SECONDS,
    AUTH_PROVIDER,
    CONTACT_ENV,
    ROLE_ARN_ENV,
    access_role_name,
    role_arn,
    sagemaker_role_name,
    sagemaker_trust_policy,
)
from spec.edge import team_base_path
from roles import LEVELS

from ._util import child, type_token
from .ci_access import CiAccess, CiAccessArgs
from spec.config import DataScienceConfig



def execution_policy(config: DataScienceConfig, level: str) -> dict:
    """What a training job and a Studio user of this level need, scoped down from
    AmazonSageMakerFullAccess: jobs, Studio apps, logs, metrics, image pulls, VPC networking,
    the account's SageMaker default bucket, and the one central role. Left out: endpoints and
    model hosting, pipelines, feature store, notebook instances, marketplace, IAM beyond
    passing this role to SageMaker."""
    acct, region = config.account_id, config.region
    own_role = role_arn(acct, sagemaker_role_name(config.team, level))
    bucket = f"arn:aws:s3:::sagemaker-{region}-{acct}"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AssumeTheCentralRoleOfThisLevel", "Effect": "Allow", "Action": "sts:AssumeRole",
         "Resource": role_arn(config.central_account_id, access_role_name(config.team, level))},
        {"Sid": "JobsAndStudioApps", "Effect": "Allow", "Action": [
            "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob",
            "sagemaker:StopTrainingJob", "sagemaker:ListTrainingJobs",
            "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob",
            "sagemaker:StopProcessingJob", "sagemaker:ListProcessingJobs",
            "sagemaker:AddTags", "sagemaker:ListTags",
            "sagemaker:CreateApp", "sagemaker:DeleteApp", "sagemaker:DescribeApp",
            "sagemaker:ListApps", "sagemaker:DescribeDomain", "sagemaker:DescribeUserProfile",
            "sagemaker:DescribeSpace", "sagemaker:ListSpaces"],
         "Resource": f"arn:aws:sagemaker:{region}:{acct}:*"},
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
        {"Sid": "PullImages", "Effect": "Allow", "Action": [
            "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability"], "Resource": "*"},
        {"Sid": "JobsInTheVpc", "Effect": "Allow", "Action": [
            "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
            "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
            "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"], "Resource": "*"},
        {"Sid": "DefaultBucket", "Effect": "Allow", "Action": [
            "s3:CreateBucket", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject",
            "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
         "Resource": [bucket, f"{bucket}/*"]},
    ]}


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
        self.roles = {}
        for level in config.levels:
            role = aws.iam.Role(
                f"{name}-{level}",
                name=sagemaker_role_name(config.team, level),
                description=f"SageMaker execution role of team {config.team}: MLflow {level}",
                assume_role_policy=json.dumps(sagemaker_trust_policy(config.account_id)),
                max_session_duration=SESSION_SECONDS,
                opts=child(self))
            aws.iam.RolePolicy(
                f"{name}-{level}", role=role.id,
                policy=json.dumps(execution_policy(config, level)), opts=child(self))
            self.roles[level] = role
        self.role_arns = {level: role.arn for level, role in self.roles.items()}
        self.job_environments = {level: job_environment(config, level) for level in config.levels}

        self.studio_domain_id = None
        if config.studio.enabled:
            # The least privileged level the team holds is the domain's default, never admin.
            least = next(level for level in LEVELS if level in config.levels)
            studio_sg = aws.ec2.SecurityGroup(
                f"{name}-studio", vpc_id=config.studio.vpc_id,
                description="SageMaker Studio apps: outbound only",
                egress=[aws.ec2.SecurityGroupEgressArgs(
                    protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])],
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
                    user_profile_name=f"{config.team}-{level}",
                    user_settings=aws.sagemaker.UserProfileUserSettingsArgs(
                        execution_role=self.roles[level].arn, security_groups=[studio_sg.id]),
                    opts=child(self))
            self.studio_domain_id = domain.id

        self.outputs = {"sagemakerRoleArns": self.role_arns, "jobEnvironment": self.job_environments}
        if self.studio_domain_id is not None:
            self.outputs["studioDomainId"] = self.studio_domain_id
            # For the central stack's ui.studioOrigins, so Studio may embed the MLflow UI.
            self.outputs["studioOrigin"] = pulumi.Output.concat(
                "https://", self.studio_domain_id, ".studio.", config.region, ".sagemaker.aws")
        if config.ci is not None:
            self.ci = CiAccess(f"{name}-ci", CiAccessArgs(
                repository=config.ci.repository, environment=config.ci.environment,
                oidc_provider_arn=config.ci.oidc_provider_arn), child(self))
            self.outputs.update(ciPreviewRoleArn=self.ci.preview_role_arn,
                                ciDeployRoleArn=self.ci.deploy_role_arn)
        self.register_outputs(self.outputs)
