"""The central access roles: `mlflow-<team>-<level>`, one per team and level it is granted.

Each trusts only that team account's SageMaker execution role for the same level. The trust
names the account as principal with an `aws:PrincipalArn` condition (IAM rejects a principal
ARN that does not exist yet), so either stack may be deployed first.
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from roles import managed_policies
from roles.accounts import (
    SESSION_SECONDS,
    access_role_name,
    access_role_trust_policy,
    artifact_policy,
)

from ._util import child, type_token

API_ID_LENGTH = 10  # API Gateway ids are 10 characters


@dataclass
class TeamAccessArgs:
    account_id: str
    region: str
    teams: tuple  # components.config.Team
    api_arn: pulumi.Input[str] = None
    artifact_bucket_arn: pulumi.Input[str] = None
    artifact_key_arn: pulumi.Input[str] = None
    stage: str = "prod"


def planned_role_arns(account_id: str, teams) -> list:
    """The ARNs of every access role, known before any is created (for bucket/key policies)."""
    return [f"arn:aws:iam::{account_id}:role/{access_role_name(t.name, level)}"
            for t in teams for level in t.levels]


class TeamAccess(pulumi.ComponentResource):
    role_arns: dict  # "team/level" -> Output ARN

    def __init__(self, name: str, args: TeamAccessArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("team_access", "TeamAccess"), name, None, opts)
        # The policies are cut to IAM's managed-policy size before the API exists; an API ARN
        # of the same length gives the same cut (checked again when the real ARN is known).
        sample_arn = (f"arn:aws:execute-api:{args.region}:{args.account_id}:"
                      f"{'x' * API_ID_LENGTH}/{args.stage}")
        self.roles, self.role_arns = {}, {}
        for team in args.teams:
            for level in team.levels:
                role_name = access_role_name(team.name, level)
                role = aws.iam.Role(
                    f"{name}-{team.name}-{level}",
                    name=role_name,
                    description=f"MLflow {level} for team {team.name}",
                    assume_role_policy=json.dumps(
                        access_role_trust_policy(team.account_id, team.name, level)),
                    max_session_duration=SESSION_SECONDS,
                    opts=child(self))
                count = len(managed_policies(level, sample_arn))
                for index in range(count):
                    document = pulumi.Output.from_input(args.api_arn).apply(
                        lambda arn, level=level, index=index, count=count:
                        _nth_policy(level, arn, index, count))
                    policy = aws.iam.Policy(
                        f"{name}-{team.name}-{level}-invoke-{index + 1}",
                        description=f"execute-api:Invoke for MLflow {level} ({index + 1}/{count})",
                        policy=document, opts=child(self))
                    aws.iam.RolePolicyAttachment(
                        f"{name}-{team.name}-{level}-invoke-{index + 1}", role=role.name,
                        policy_arn=policy.arn, opts=child(self))
                aws.iam.RolePolicy(
                    f"{name}-{team.name}-{level}-artifacts", role=role.id,
                    policy=pulumi.Output.all(args.artifact_bucket_arn, args.artifact_key_arn).apply(
                        lambda arns, level=level: json.dumps(artifact_policy(level, *arns))),
                    opts=child(self))
                self.roles[(team.name, level)] = role
                self.role_arns[f"{team.name}/{level}"] = role.arn
        self.register_outputs({"role_arns": self.role_arns})


def _nth_policy(level: str, api_arn: str, index: int, count: int) -> str:
    documents = managed_policies(level, api_arn)
    if len(documents) != count:
        raise ValueError(f"the {level} policy cut into {len(documents)} documents for "
                         f"{api_arn}, not the {count} planned")
    return json.dumps(documents[index])
