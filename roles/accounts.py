"""Names and policies that tie the two stacks' accounts together.

The central stack creates `mlflow-<team>-<level>`; the team stack creates
`mlflow-<team>-<level>-sagemaker`, the only role its trust admits. Both stacks, and the sandbox
that seeds the same roles in emulated IAM, take them from here.
"""

from .levels import ARTIFACT_ACTIONS, ARTIFACT_KEY_ACTIONS

SESSION_SECONDS = 3600  # role chaining caps a session at one hour anyway
# S3 actions on the bucket itself; the others act on objects (bucket/*).
BUCKET_LEVEL_ACTIONS = frozenset({"s3:ListBucket", "s3:GetBucketLocation",
                                  "s3:ListBucketMultipartUploads"})


def access_role_name(team: str, level: str) -> str:
    return f"mlflow-{team}-{level}"


# Cognito groups that hold a level in every workspace, MLflow's `default` included: the platform
# team's (the central stack's `cognitoGroups` default; the authorizer keeps its own copy, which
# a test holds equal, as it imports nothing of this repo).
PLATFORM_GROUP_LEVELS = {"platform-admins": "admin"}


def readable_by(workspaces: dict, team: str) -> list:
    """The other teams whose workspaces `team` may read; `workspaces`: {team: [teams it is
    shared with]} (the authorizer's and the UI's WORKSPACES)."""
    return [other for other, shared in workspaces.items() if team in shared]


def team_group(team: str, level: str) -> str:
    """The Cognito group of a level in one team's workspace (the authorizer parses it)."""
    return f"{team}:{level}"


def sagemaker_role_name(team: str, level: str) -> str:
    """The team account's execution role that may assume `access_role_name(team, level)`."""
    return f"mlflow-{team}-{level}-sagemaker"


def access_role_trust_policy(team_account_id: str, team: str, level: str) -> dict:
    """Admit only the team's SageMaker role of the same level. The account is the principal and
    the role a condition, because IAM rejects a principal ARN that does not exist yet: either
    stack may be deployed first."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TeamSageMakerRoleOfThisLevel",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{team_account_id}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn":
                                    f"arn:aws:iam::{team_account_id}:role/"
                                    f"{sagemaker_role_name(team, level)}"}},
    }]}


# MLflow's default artifact root is s3://<bucket>/artifacts; an experiment of workspace <team>
# keeps its artifacts under <root>/workspaces/<team>/ (MLflow 3.17's layout).
ARTIFACT_ROOT_PREFIX = "artifacts"


def workspace_prefix(team: str) -> str:
    """The key prefix of a team's artifacts, with its trailing slash."""
    return f"{ARTIFACT_ROOT_PREFIX}/workspaces/{team}/"


def _read_actions(actions):
    return [a for a in actions if a.startswith("s3:Get") and a not in BUCKET_LEVEL_ACTIONS]


def artifact_policy(level: str, bucket_arn: str, key_arn: str = None, *, team: str,
                    readable=()) -> dict:
    """The level's rights on its team's artifacts (and the bucket's KMS key, where there is one):
    `level`'s actions under the team's prefix, reading under the prefixes of the workspaces
    shared with it (`readable`: their team names), and nothing anywhere else."""
    actions = ARTIFACT_ACTIONS[level]
    prefixes = [workspace_prefix(team)] + [workspace_prefix(t) for t in readable]
    statements = [
        {"Sid": "BucketLocation", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
         "Resource": bucket_arn},
        # Listing names keys too: only under the prefixes this role may read.
        {"Sid": "ListOwnAndSharedPrefixes", "Effect": "Allow",
         "Action": sorted(a for a in actions if a in BUCKET_LEVEL_ACTIONS
                          and a != "s3:GetBucketLocation"),
         "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}},
        {"Sid": "TeamArtifacts", "Effect": "Allow",
         "Action": [a for a in actions if a not in BUCKET_LEVEL_ACTIONS],
         "Resource": f"{bucket_arn}/{prefixes[0]}*"},
    ]
    if readable:
        statements.append({"Sid": "SharedArtifactsRead", "Effect": "Allow",
                           "Action": _read_actions(actions),
                           "Resource": [f"{bucket_arn}/{p}*" for p in prefixes[1:]]})
    if key_arn:
        statements.append({"Sid": "ArtifactKey", "Effect": "Allow",
                           "Action": list(ARTIFACT_KEY_ACTIONS[level]), "Resource": key_arn})
    return {"Version": "2012-10-17", "Statement": statements}
