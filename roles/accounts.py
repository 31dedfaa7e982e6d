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


def artifact_policy(level: str, bucket_arn: str, key_arn: str = None) -> dict:
    """The level's rights on the artifact bucket (and its KMS key, where there is one)."""
    actions = ARTIFACT_ACTIONS[level]
    statements = [
        {"Sid": "ArtifactBucket", "Effect": "Allow",
         "Action": [a for a in actions if a in BUCKET_LEVEL_ACTIONS], "Resource": bucket_arn},
        {"Sid": "ArtifactObjects", "Effect": "Allow",
         "Action": [a for a in actions if a not in BUCKET_LEVEL_ACTIONS],
         "Resource": f"{bucket_arn}/*"},
    ]
    if key_arn:
        statements.append({"Sid": "ArtifactKey", "Effect": "Allow",
                           "Action": list(ARTIFACT_KEY_ACTIONS[level]), "Resource": key_arn})
    return {"Version": "2012-10-17", "Statement": statements}
