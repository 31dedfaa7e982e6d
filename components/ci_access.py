"""CI's own access to an account, as code (opt-in: the stack config's `ci.githubRepository`).

GitHub Actions gets AWS credentials by OIDC, never by stored keys. This component creates the
account's GitHub OIDC provider (or takes the existing one: `ci.oidcProviderArn`) and two roles
that trust it, each for one kind of workflow run of one repository:

- **preview**: `pulumi preview` on pull requests (`repo:<org>/<repo>:pull_request`). AWS's
  ViewOnlyAccess: resource metadata, no data (no object, secret, parameter or log contents);
  a pull request's code runs with it.
- **deploy**: `pulumi up`, only from the GitHub environment of this stack
  (`repo:<org>/<repo>:environment:<environment>`), whose required reviewers approve each run.
  It creates IAM roles, networks and databases: AdministratorAccess, for one-hour sessions.

Their ARNs are the stack's outputs `ciPreviewRoleArn` and `ciDeployRoleArn`, for the
repository variables the workflows read (`<ACCOUNT>_PREVIEW_ROLE_ARN`, `<ACCOUNT>_DEPLOY_ROLE_ARN`).
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from spec.accounts import SESSION_SECONDS

from ._util import child, type_token

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
PREVIEW_POLICY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
DEPLOY_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def pull_request_subject(repository: str) -> str:
    return f"repo:{repository}:pull_request"


def environment_subject(repository: str, environment: str) -> str:
    return f"repo:{repository}:environment:{environment}"


def github_trust_policy(provider_arn: str, subject: str) -> dict:
    """Only GitHub's tokens for this audience and this exact subject (no wildcard)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE,
                                       f"{GITHUB_OIDC_HOST}:sub": subject}}}]}


@dataclass
class CiAccessArgs:
    repository: str  # org/repo
    environment: str  # the GitHub environment whose runs deploy this stack
    oidc_provider_arn: str = None  # the account's existing GitHub provider; None: create it


class CiAccess(pulumi.ComponentResource):
    preview_role_arn: pulumi.Output
    deploy_role_arn: pulumi.Output

    def __init__(self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("ci_access", "CiAccess"), name, None, opts)
        if args.oidc_provider_arn:
            provider_arn = pulumi.Output.from_input(args.oidc_provider_arn)
        else:
            # IAM trusts GitHub's certificate authorities itself: no thumbprint to keep current.
            self.provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github", url=f"https://{GITHUB_OIDC_HOST}", client_id_lists=[AUDIENCE],
                opts=child(self))
            provider_arn = self.provider.arn
        roles = {}
        for kind, subject, policy in (
                ("preview", pull_request_subject(args.repository), PREVIEW_POLICY),
                ("deploy", environment_subject(args.repository, args.environment),
                 DEPLOY_POLICY)):
            role = aws.iam.Role(
                f"{name}-{kind}", name=f"{name}-{kind}",
                description=f"GitHub Actions of {args.repository}: pulumi "
                            f"{'preview on pull requests' if kind == 'preview' else 'up'}",
                assume_role_policy=provider_arn.apply(
                    lambda arn, s=subject: json.dumps(github_trust_policy(arn, s))),
                max_session_duration=SESSION_SECONDS, opts=child(self))
            aws.iam.RolePolicyAttachment(f"{name}-{kind}", role=role.name, policy_arn=policy,
                                         opts=child(self))
            roles[kind] = role
        self.preview_role_arn = roles["preview"].arn
        self.deploy_role_arn = roles["deploy"].arn
        self.register_outputs({"preview_role_arn": self.preview_role_arn,
                               "deploy_role_arn": self.deploy_role_arn})
