"""The central access roles: `mlflow-<team>-<level>`, one per team and level it is granted.

Each trusts only that team account's SageMaker execution role for the same level. The trust
names the account as principal with an `aws:PrincipalArn` condition (IAM rejects a principal
ARN that does not exist yet), so either stack may be deployed first.

Each role may invoke only routes under its team's base path (`/<team>/...`, the team's MLflow
workspace), with its level's rights, and read (reader's rights) under the base paths of the
workspaces other teams share with it; in S3, likewise, only its team's prefix and the shared
ones (`spec.accounts.artifact_policy`). The execute-api Allows come from managed policies
shared by every role (`spec.accounts.invoke_policy_keys`: the level's by the role's `team`
tag, the reader's of shared workspaces by the length of their names), and each role's inline
scope (`roles.policies.workspace_scope`) denies every workspace but its own and the shared
ones: sharing a workspace costs a role one line per method, not two managed policies.
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from spec.accounts import (
    SESSION_SECONDS,
    access_role_name,
    access_role_scope,
    access_role_tags,
    access_role_trust_policy,
    artifact_policy,
    invoke_policy_documents,
    invoke_policy_keys,
    invoke_policy_name,
    readable_by,
)

from spec.config import workspaces
from spec.edge import sample_api_arn

from ._util import child, type_token


@dataclass
class TeamAccessArgs:
    account_id: str
    region: str
    teams: tuple  # spec.config.Team
    api_arn: pulumi.Input[str] = None
    artifact_bucket_arn: pulumi.Input[str] = None
    artifact_key_arn: pulumi.Input[str] = None


class TeamAccess(pulumi.ComponentResource):
    role_arns: dict  # "team/level" -> Output ARN

    def __init__(self, name: str, args: TeamAccessArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("team_access", "TeamAccess"), name, None, opts)
        # The policies are cut to IAM's managed-policy size before the API exists; an API ARN
        # of the same length gives the same cut (checked again when the real ARN is known).
        self.sample_arn = sample_api_arn(args.region, args.account_id)
        self.api_arn = args.api_arn
        # Managed policies shared by every role that takes them (spec.accounts.OWN, SHARED,
        # WORKSPACE), created once each.
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
                    # its policies name "the caller's team" by this tag; the bucket and the key
                    # admit an access role by it
                    tags=access_role_tags(team.name, level),
                    opts=child(self))
                # One resource for all of a role's attachments (not one each: at 300 teams the
                # program registers ~6,000 fewer resources), and exclusive: a policy attached
                # by hand is detached on the next `pulumi up`.
                aws.iam.RolePolicyAttachmentsExclusive(
                    f"{name}-{team.name}-{level}-invoke", role_name=role.name,
                    policy_arns=[policy.arn
                                 for key in invoke_policy_keys(team.name, level, readable)
                                 for policy in self._policies(name, key)],
                    opts=child(self))
                aws.iam.RolePolicy(
                    f"{name}-{team.name}-{level}-workspaces", role=role.id,
                    policy=pulumi.Output.from_input(self.api_arn).apply(
                        lambda arn, team=team.name, readable=tuple(readable):
                        json.dumps(access_role_scope(arn, team, readable))),
                    opts=child(self))
                aws.iam.RolePolicy(
                    f"{name}-{team.name}-{level}-artifacts", role=role.id,
                    policy=pulumi.Output.all(args.artifact_bucket_arn, args.artifact_key_arn).apply(
                        lambda arns, level=level, team=team.name, readable=tuple(readable):
                        json.dumps(artifact_policy(level, *arns, team=team, readable=readable))),
                    opts=child(self))
                self.roles[(team.name, level)] = role
                self.role_arns[f"{team.name}/{level}"] = role.arn
        self.register_outputs({"role_arns": self.role_arns})

    def _policies(self, name: str, key) -> list:
        """The managed policies of one key (spec.accounts.invoke_policy_keys), created once."""
        if key not in self.invoke_policies:
            count = len(invoke_policy_documents(key, self.sample_arn))
            label = invoke_policy_name(key)
            self.invoke_policies[key] = [
                aws.iam.Policy(
                    f"{name}-{label}-invoke-{index + 1}",
                    description=f"execute-api:Invoke for MLflow {label} ({index + 1}/{count})",
                    policy=pulumi.Output.from_input(self.api_arn).apply(
                        lambda arn, index=index: _nth_policy(key, arn, index, count)),
                    opts=child(self))
                for index in range(count)]
        return self.invoke_policies[key]


def _nth_policy(key, api_arn: str, index: int, count: int) -> str:
    documents = invoke_policy_documents(key, api_arn)
    if len(documents) != count:
        raise ValueError(f"the {invoke_policy_name(key)} policy cut into {len(documents)} "
                         f"documents for {api_arn}, not the {count} planned")
    return json.dumps(documents[index])
