"""CI's own access to an account, as code (opt-in: the stack config's `ci.githubRepository`).

GitHub Actions gets AWS credentials by OIDC, never by stored keys. This component creates the
account's GitHub OIDC provider (or takes the existing one: `ci.oidcProviderArn`) and two roles
that trust it, each for one kind of workflow run of one repository:

- **preview**: `pulumi preview` on pull requests (`repo:<org>/<repo>:pull_request`). A pull
  request's code runs with it, so it reads metadata and no data: AWS's ViewOnlyAccess, less
  what that still lists of data (the objects' keys in every bucket: `s3:ListBucket`; every
  Cognito user's e-mail: `cognito-idp:ListUsers`), plus pulling images from this account's ECR
  and its auth token (awsx's image asks for one during a preview). Nothing in it writes.
- **deploy**: `pulumi up`, only from the GitHub environment of this stack
  (`repo:<org>/<repo>:environment:<environment>`), whose required reviewers approve each run;
  with `ci.refInSubject`, only from `main` as well (the repository's OIDC subject template
  then carries the ref: docs/deploy.md). It creates IAM roles, networks and databases:
  AdministratorAccess, for one-hour sessions.

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


DEPLOY_BRANCH_REF = "refs/heads/main"
# What a preview reads of data even under ViewOnlyAccess: every bucket's object keys (the
# artifact store's keys name teams, experiments and runs), every user's e-mail. A preview
# without `--refresh` reads neither.
PREVIEW_DENIED_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions",
                          "s3:ListBucketMultipartUploads", "cognito-idp:ListUsers",
                          "cognito-idp:ListUsersInGroup", "cognito-idp:AdminGetUser",
                          "cognito-idp:AdminListGroupsForUser")
ECR_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability", "ecr:DescribeImages",
                    "ecr:DescribeRepositories")


def pull_request_subject(repository: str, ref_in_subject: bool = False) -> tuple:
    """(test, subject) of a pull request's token: GitHub's default subject, or with the ref
    claim the merge ref of any pull request (refs/pull/<n>/merge)."""
    if ref_in_subject:
        return "StringLike", f"repo:{repository}:pull_request:ref:refs/pull/*/merge"
    return "StringEquals", f"repo:{repository}:pull_request"


def environment_subject(repository: str, environment: str,
                        ref_in_subject: bool = False) -> tuple:
    subject = f"repo:{repository}:environment:{environment}"
    return "StringEquals", subject + (f":ref:{DEPLOY_BRANCH_REF}" if ref_in_subject else "")


def github_trust_policy(provider_arn: str, subject, test: str = "StringEquals") -> dict:
    """Only GitHub's tokens for this audience and this subject (a wildcard only where a pull
    request's number goes)."""
    condition = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE}}
    condition.setdefault(test, {})[f"{GITHUB_OIDC_HOST}:sub"] = subject
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]}


def preview_policy(account_id: str, region: str) -> dict:
    """The preview role's own policy, beside ViewOnlyAccess: no data listings, ECR pulls."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "NoDataListings", "Effect": "Deny", "Action": list(PREVIEW_DENIED_ACTIONS),
         "Resource": "*"},
        {"Sid": "EcrAuthToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
         "Resource": "*"},
        {"Sid": "EcrPullOnly", "Effect": "Allow", "Action": list(ECR_PULL_ACTIONS),
         "Resource": f"arn:aws:ecr:{region}:{account_id}:repository/*"}]}


@dataclass
class CiAccessArgs:
    repository: str  # org/repo
    environment: str  # the GitHub environment whose runs deploy this stack
    account_id: str
    region: str
    oidc_provider_arn: str = None  # the account's existing GitHub provider; None: create it
    ref_in_subject: bool = False  # the repository's OIDC subject carries the ref (main only)


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
        for kind, (test, subject), policy in (
                ("preview", pull_request_subject(args.repository, args.ref_in_subject),
                 PREVIEW_POLICY),
                ("deploy", environment_subject(args.repository, args.environment,
                                               args.ref_in_subject), DEPLOY_POLICY)):
            role = aws.iam.Role(
                f"{name}-{kind}", name=f"{name}-{kind}",
                description=f"GitHub Actions of {args.repository}: pulumi "
                            f"{'preview on pull requests' if kind == 'preview' else 'up'}",
                assume_role_policy=provider_arn.apply(
                    lambda arn, s=subject, c=test: json.dumps(github_trust_policy(arn, s, c))),
                max_session_duration=SESSION_SECONDS, opts=child(self))
            aws.iam.RolePolicyAttachment(f"{name}-{kind}", role=role.name, policy_arn=policy,
                                         opts=child(self))
            roles[kind] = role
        aws.iam.RolePolicy(f"{name}-preview", role=roles["preview"].name,
                           name="preview-reads-no-data",
                           policy=json.dumps(preview_policy(args.account_id, args.region)),
                           opts=child(self))
        self.preview_role_arn = roles["preview"].arn
        self.deploy_role_arn = roles["deploy"].arn
        self.register_outputs({"preview_role_arn": self.preview_role_arn,
                               "deploy_role_arn": self.deploy_role_arn})
