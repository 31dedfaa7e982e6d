"""The central access roles: `mlflow-<team>-<level>`, one per team and level it is granted.

Each trusts only that team account's SageMaker execution role for the same level. The trust
names the account as principal with an `aws:PrincipalArn` condition (IAM rejects a principal
ARN that does not exist yet), so either stack may be deployed first.

Each role may invoke only routes under its team's base path (`/<team>/...`, the team's MLflow
workspace), with its level's rights, and read (reader's rights) under the base paths of the
workspaces other teams share with it; in S3, likewise, only its team's prefix and the shared
ones (`spec.accounts.artifact_policy`).
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from roles import managed_policies
from spec.accounts import (
    SESSION_SECONDS,
    access_role_name,
    access_role_trust_policy,
    artifact_policy,
    readable_by,
    role_arn,
)

from ._util import child, type_token
from spec.config import role_grants, workspaces
from spec.edge import sample_api_arn


@dataclass
class TeamAccessArgs:
    account_id: str
    region: str
    teams: tuple  # spec.config.Team
    api_arn: pulumi.Input[str] = None
    artifact_bucket_arn: pulumi.Input[str] = None
    artifact_key_arn: pulumi.Input[str] = None


def planned_role_arns(account_id: str, teams) -> list:
    """The ARNs of every access role, known before any is created (for bucket/key policies)."""
    return [role_arn(account_id, access_role_name(t.name, level))
            for t in teams for level in t.levels]


class TeamAccess(pulumi.ComponentResource):
    role_arns: dict  # "team/level" -> Output ARN

    def __init__(self, name: str, args: TeamAccessArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("team_access", "TeamAccess"), name, None, opts)
        # The policies are cut to IAM's managed-policy size before the API exists; an API ARN
        # of the same length gives the same cut (checked again when the real ARN is known), as
        # the config's check counted them (spec.config).
        self.sample_arn = sample_api_arn(args.region, args.account_id)
        self.api_arn = args.api_arn
        # One set of managed policies per (workspace, level), each naming only that workspace's
        # routes, attached to every role that holds the level there.
        self.invoke_policies = {}
        self.roles, self.role_arns = {}, {}
        shared = workspaces(args.teams)
        for team in args.teams:
            readable = readable_by(shared, team.name)
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
                for workspace, granted in role_grants(args.teams, team, level):
                    for index, policy in enumerate(self._policies(name, workspace, granted)):
                        aws.iam.RolePolicyAttachment(
                            f"{name}-{team.name}-{level}-{workspace}-{granted}-{index + 1}",
                            role=role.name, policy_arn=policy.arn, opts=child(self))
                aws.iam.RolePolicy(
                    f"{name}-{team.name}-{level}-artifacts", role=role.id,
                    policy=pulumi.Output.all(args.artifact_bucket_arn, args.artifact_key_arn).apply(
                        lambda arns, level=level, team=team.name, readable=tuple(readable):
                        json.dumps(artifact_policy(level, *arns, team=team, readable=readable))),
                    opts=child(self))
                self.roles[(team.name, level)] = role
                self.role_arns[f"{team.name}/{level}"] = role.arn
        self.register_outputs({"role_arns": self.role_arns})

    def _policies(self, name: str, workspace: str, level: str) -> list:
        """The managed policies of `level` in `workspace`, created once."""
        key = (workspace, level)
        if key not in self.invoke_policies:
            count = len(managed_policies(level, self.sample_arn, workspace))
            self.invoke_policies[key] = [
                aws.iam.Policy(
                    f"{name}-{workspace}-{level}-invoke-{index + 1}",
                    description=f"execute-api:Invoke for MLflow {level} in workspace {workspace} "
                                f"({index + 1}/{count})",
                    policy=pulumi.Output.from_input(self.api_arn).apply(
                        lambda arn, index=index: _nth_policy(level, arn, workspace, index, count)),
                    opts=child(self))
                for index in range(count)]
        return self.invoke_policies[key]


def _nth_policy(level: str, api_arn: str, workspace: str, index: int, count: int) -> str:
    documents = managed_policies(level, api_arn, workspace)
    if len(documents) != count:
        raise ValueError(f"the {level} policy of {workspace} cut into {len(documents)} documents "
                         f"for {api_arn}, not the {count} planned")
    return json.dumps(documents[index])
