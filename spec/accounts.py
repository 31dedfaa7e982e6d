"""Names and policies that tie the two stacks' accounts together.

The central stack creates `mlflow-<team>-<level>`; the team stack creates
`mlflow-<team>-<level>-sagemaker`, the only role its trust admits. Both stacks, and the sandbox
that seeds the same roles in emulated IAM, take them from here.
"""

from roles.levels import ARTIFACT_ACTIONS, ARTIFACT_KEY_ACTIONS, LEVELS
from roles.policies import managed_policies, workspace_scope

SESSION_SECONDS = 3600  # role chaining caps a session at one hour anyway
# S3 actions on the bucket itself; the others act on objects (bucket/*).
BUCKET_LEVEL_ACTIONS = frozenset({"s3:ListBucket", "s3:GetBucketLocation",
                                  "s3:ListBucketMultipartUploads"})


# The central access roles are `mlflow-<team>-<level>` (the client reads a caller's team and
# level back from its role's ARN), the team accounts' execution roles `...-sagemaker`.
ROLE_NAME_PREFIX = "mlflow-"


def access_role_name(team: str, level: str) -> str:
    return f"{ROLE_NAME_PREFIX}{team}-{level}"


def role_arn(account_id: str, role_name: str) -> str:
    """An IAM role's ARN (the partition of the commercial regions)."""
    return f"arn:aws:iam::{account_id}:role/{role_name}"


# What a team stack puts in its jobs' environment and the client package reads: the central
# role to assume, and whom a refusal tells the job's owner to ask.
ROLE_ARN_ENV = "MLFLOW_LANDING_ZONE_ROLE_ARN"
CONTACT_ENV = "MLFLOW_LANDING_ZONE_CONTACT"
# ... and the client package's request-auth provider (MLFLOW_TRACKING_AUTH; its entry point)
AUTH_PROVIDER = "landing-zone"


# Every access role carries its team and level as tags: IAM sees them as the principal's tags
# (`aws:PrincipalTag/team`), so one policy names "the caller's own team" for every team
# (`${aws:PrincipalTag/team}`) and the bucket and key policies admit "a tagged access role"
# without listing any: their sizes do not grow with the number of teams. The access roles'
# trust refuses sts:TagSession, so no session can bring a tag of its own.
TEAM_TAG, LEVEL_TAG = "team", "level"
TEAM_VARIABLE = "${aws:PrincipalTag/" + TEAM_TAG + "}"


def access_role_tags(team: str, level: str) -> dict:
    return {TEAM_TAG: team, LEVEL_TAG: level}


def access_role_arn_patterns(account_id: str) -> list:
    """The shape of every access role's ARN, one per level: `...:role/mlflow-*-<level>`."""
    return [f"arn:aws:iam::{account_id}:role/{access_role_name('*', level)}" for level in LEVELS]


# A team account's serving role (spec.registry_events.serving_role_name): its endpoints read
# the team's frozen copies in the central bucket. It carries the team account's team tag, which
# only each team account's deployer may set (level_guard_policy).
SERVING_ROLE_PATTERN = "arn:aws:iam::*:role/mlflow-*-serving"


def admission_conditions(account_id: str, server_arns: list, serving: bool = False) -> list:
    """The conditions of the bucket's and the key's Denies, each one Deny (they are ORed so):
    a principal is refused unless it is one of the tracking server's `server_arns`, or an
    access role (its ARN has an access role's shape AND it carries the team tag), or with
    `serving` a team account's serving role (its shape AND its team account's team tag; what
    it may read is serving_admission's). Constant in the number of teams; which prefix a role
    reaches is its identity policy's business."""
    serving_pattern = [SERVING_ROLE_PATTERN] if serving else []
    untagged = {"ArnNotEquals": {"aws:PrincipalArn": list(server_arns)},
                "Null": {f"aws:PrincipalTag/{TEAM_TAG}": "true"}}
    if serving:
        untagged["ArnNotLike"] = {"aws:PrincipalArn": serving_pattern}
    conditions = [
        {"ArnNotLike": {"aws:PrincipalArn": list(server_arns)
                        + access_role_arn_patterns(account_id) + serving_pattern}},
        untagged,
    ]
    if serving:
        conditions.append({"ArnLike": {"aws:PrincipalArn": serving_pattern},
                           "Null": {f"aws:PrincipalTag/{TEAM_ACCOUNT_TEAM_TAG}": "true"}})
    return conditions


def serving_admission(bucket_arn: str, team_accounts, concat=None) -> list:
    """The bucket's Allows for the team accounts' serving roles (another account's principal
    needs one): read and list only `registry/workspaces/<its team tag>/`, from a team's account
    only, by a role whose name is `mlflow-<that tag>-serving`. Grows by an account id (15
    characters) per team and statement: 300 teams take about 9 KB of the bucket policy's 20.
    A fixed list of accounts also keeps the policy non-public for S3's Block Public Access."""
    join = concat or (lambda *parts: "".join(parts))
    team_variable = "${aws:PrincipalTag/" + TEAM_ACCOUNT_TEAM_TAG + "}"
    own_role = f"arn:aws:iam::*:role/mlflow-{team_variable}-serving"
    who = {"StringEquals": {"aws:PrincipalAccount": sorted(set(team_accounts))},
           "ArnLike": {"aws:PrincipalArn": own_role}}
    return [
        {"Sid": "ServingRolesReadTheirTeamsFrozenCopies", "Effect": "Allow",
         "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
         "Resource": join(bucket_arn, f"/{registry_prefix(team_variable)}*"),
         "Condition": who},
        {"Sid": "ServingRolesListTheirTeamsRegistry", "Effect": "Allow",
         "Principal": {"AWS": "*"}, "Action": "s3:ListBucket", "Resource": bucket_arn,
         "Condition": {**who, "StringLike": {"s3:prefix": f"{registry_prefix(team_variable)}*"}}},
    ]


def serving_key_statement(team_accounts, region: str) -> dict:
    """The key's Allow for the serving roles: decrypt, through S3 only."""
    return {"Sid": "ServingRolesDecryptThroughS3", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": sorted(set(team_accounts)),
                                           "kms:ViaService": f"s3.{region}.amazonaws.com"},
                          "ArnLike": {"aws:PrincipalArn": SERVING_ROLE_PATTERN},
                          "StringLike": {f"aws:PrincipalTag/{TEAM_ACCOUNT_TEAM_TAG}": "?*"}}}


def admission_allow_conditions(account_id: str, server_arns: list) -> list:
    """The same set as an Allow's conditions, one Allow each: the server's roles; a tagged
    access role."""
    return [
        {"ArnEquals": {"aws:PrincipalArn": list(server_arns)}},
        {"ArnLike": {"aws:PrincipalArn": access_role_arn_patterns(account_id)},
         "StringLike": {f"aws:PrincipalTag/{TEAM_TAG}": "?*"}},
    ]


# Cognito groups that hold a level in every workspace, MLflow's `default` included: the platform
# team's (the central stack's `cognitoGroups` default, which the stack passes to the authorizer).
PLATFORM_GROUP_LEVELS = {"platform-admins": "admin"}


# The level a team's members hold in a workspace another team shares with it (sharedWith): its
# access roles, the authorizer and the UI grant the same.
SHARED_LEVEL = "reader"


def readable_by(workspaces: dict, team: str) -> list:
    """The other teams whose workspaces `team` may read; `workspaces`: {team: [teams it is
    shared with]} (the authorizer's and the UI's WORKSPACES)."""
    return [other for other, shared in workspaces.items() if team in shared]


TEAM_GROUP_SEPARATOR = ":"
# The managed policies of the access roles are shared, account-wide, never one set per team:
# (OWN, level): the level's routes under `/${aws:PrincipalTag/team}/` (every role of that
# level); (SHARED, n): the reader's routes under any workspace whose name has n characters
# (`?` n times); (WORKSPACE, team): the reader's routes under one workspace, for a shared
# workspace whose name is longer than the role's shortest by 2 or more (a run of `?` that long
# could span `<shorter>/<segment>`). Each role's inline `roles.policies.workspace_scope` denies
# every workspace but its own and those shared with it, so a shared Allow reaches no further.
OWN, SHARED, WORKSPACE = "own", "shared", "workspace"


def invoke_policy_keys(team: str, level: str, readable=()) -> list:
    """The keys of the managed policies the access role `team`/`level` takes, in order."""
    shortest = min(len(t) for t in [team, *readable])
    return ([(OWN, level)]
            + [(SHARED, n) for n in sorted({len(t) for t in readable if len(t) <= shortest + 1})]
            + [(WORKSPACE, t) for t in readable if len(t) > shortest + 1])


def invoke_policy_documents(key, api_arn: str) -> list:
    """The documents of one shared managed policy set (`invoke_policy_keys`), cut to IAM's
    managed-policy size, to attach side by side."""
    kind, value = key
    if kind == OWN:
        return managed_policies(value, api_arn, TEAM_VARIABLE)
    if kind == SHARED:
        return managed_policies("reader", api_arn, "?" * value)
    return managed_policies("reader", api_arn, value)


def invoke_policy_name(key) -> str:
    """A readable name part of a policy set: `contributor`, `reader-of-32-char-names`,
    `reader-of-<team>`."""
    kind, value = key
    return {OWN: lambda: value, SHARED: lambda: f"reader-of-{value}-char-names",
            WORKSPACE: lambda: f"reader-of-{value}"}[kind]()


def access_role_scope(api_arn: str, team: str, readable=()) -> dict:
    """The inline Deny that scopes an access role's shared Allows (roles.policies)."""
    return workspace_scope(api_arn, team, readable, team_key=f"aws:PrincipalTag/{TEAM_TAG}")


def access_role_inline_policies(level: str, api_arn: str, bucket_arn: str, key_arn=None, *,
                                team: str, readable=()) -> dict:
    """The inline policies of an access role, by name: its workspace scope and its artifacts."""
    return {"workspaces": access_role_scope(api_arn, team, readable),
            "artifacts": artifact_policy(level, bucket_arn, key_arn, team=team,
                                         readable=readable)}


def team_group(team: str, level: str) -> str:
    """The Cognito group of a level in one team's workspace (the authorizer parses it)."""
    return f"{team}{TEAM_GROUP_SEPARATOR}{level}"


# The user pool's password policy (Cognito's API shape), the central stack's and the sandbox's.
PASSWORD_POLICY = {"MinimumLength": 14, "RequireUppercase": True, "RequireLowercase": True,
                   "RequireNumbers": True, "RequireSymbols": True,
                   "TemporaryPasswordValidityDays": 3}


def sagemaker_role_name(team: str, level: str) -> str:
    """The team account's execution role that may assume `access_role_name(team, level)`."""
    return f"{access_role_name(team, level)}-sagemaker"


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
                                    role_arn(team_account_id,
                                             sagemaker_role_name(team, level))}},
    }]}


# MLflow's default artifact root is s3://<bucket>/artifacts; an experiment of workspace <team>
# keeps its artifacts under <root>/workspaces/<team>/ (MLflow 3.17's layout).
ARTIFACT_ROOT_PREFIX = "artifacts"
# Approved bytes cannot change: when a model or prompt version is registered, the tracking
# server copies the files it serves to <bucket>/registry/workspaces/<team>/... and points the
# version there (components/mlflow_image/plugin). Only the tracking server writes under this
# prefix (a `freeze` session of its workspace role, and a bucket-policy Deny for everyone
# else); every level of the team,
# and the readers of a shared workspace, only read it. Run artifacts stay the team's to
# rewrite: what a version serves no longer depends on them.
REGISTRY_ROOT_PREFIX = "registry"


def workspace_prefix(team: str) -> str:
    """The key prefix of a team's artifacts, with its trailing slash."""
    return f"{ARTIFACT_ROOT_PREFIX}/workspaces/{team}/"


def registry_prefix(team: str) -> str:
    """The key prefix of the frozen copies of a team's registered versions (trailing slash)."""
    return f"{REGISTRY_ROOT_PREFIX}/workspaces/{team}/"


def _read_actions(actions):
    return [a for a in actions if a.startswith("s3:Get") and a not in BUCKET_LEVEL_ACTIONS]


def artifact_policy(level: str, bucket_arn: str, key_arn: str = None, *, team: str,
                    readable=()) -> dict:
    """The level's rights on its team's artifacts (and the bucket's KMS key, where there is one):
    `level`'s actions under the team's prefix, reading the team's registered versions and,
    for the workspaces shared with it (`readable`: their team names), their artifacts and
    versions; nothing anywhere else. No level writes a registered version's bytes."""
    actions = ARTIFACT_ACTIONS[level]
    teams = [team, *readable]
    listed = [f"{prefix(t)}*" for t in teams for prefix in (workspace_prefix, registry_prefix)]
    read_only = ([registry_prefix(team)]
                 + [prefix(t) for t in readable for prefix in (workspace_prefix, registry_prefix)])
    statements = [
        {"Sid": "BucketLocation", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
         "Resource": bucket_arn},
        # Listing names keys too: only under the prefixes this role may read.
        {"Sid": "ListOwnAndSharedPrefixes", "Effect": "Allow",
         "Action": sorted(a for a in actions if a in BUCKET_LEVEL_ACTIONS
                          and a != "s3:GetBucketLocation"),
         "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": listed}}},
        {"Sid": "TeamArtifacts", "Effect": "Allow",
         "Action": [a for a in actions if a not in BUCKET_LEVEL_ACTIONS],
         "Resource": f"{bucket_arn}/{workspace_prefix(team)}*"},
        {"Sid": "RegisteredVersionsAndSharedRead", "Effect": "Allow",
         "Action": _read_actions(actions),
         "Resource": [f"{bucket_arn}/{p}*" for p in read_only]},
    ]
    if key_arn:
        statements.append({"Sid": "ArtifactKey", "Effect": "Allow",
                           "Action": list(ARTIFACT_KEY_ACTIONS[level]), "Resource": key_arn})
    return {"Version": "2012-10-17", "Statement": statements}


# The tracking server acts for one team at a time (components/mlflow_image/plugin/.../storage.py).
# Its own identity (the task role) touches no team's objects: it may only assume the workspace
# role with the session tags workspace=<team> and purpose=serve|freeze, and that role's policy
# names `.../workspaces/${aws:PrincipalTag/workspace}/*`. So whatever a client names (a version's
# source, a trace's location, an artifact path), IAM refuses the server a crossing into another
# workspace; and the policy's size does not grow with the number of teams.
WORKSPACE_TAG = "workspace"
PURPOSE_TAG = "purpose"
SERVE, FREEZE = "serve", "freeze"  # a request's work; the registry's frozen copy
WORKSPACE_VARIABLE = "${aws:PrincipalTag/" + WORKSPACE_TAG + "}"
# What a session does under its workspace's prefixes. Run artifacts: the UI's uploads and
# MLflow's reads; the registry: read by every session, written (never deleted) only by a
# `freeze` session, the store's copy of a version being registered.
WORKSPACE_ARTIFACT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject",
                              "s3:DeleteObject", "s3:AbortMultipartUpload")
WORKSPACE_REGISTRY_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
WORKSPACE_REGISTRY_FREEZE_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload")
# Writes under the registry prefix that the bucket policy refuses to all but the workspace role.
REGISTRY_WRITE_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                          "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:PutObjectTagging",
                          "s3:PutObjectRetention", "s3:PutObjectLegalHold",
                          "s3:RestoreObject")


def tracking_server_statements(workspace_role_arn) -> list:
    """The tracking server's own (task role) statements: assume the workspace role, tagged with
    the one workspace a request acts for. Nothing on the bucket or its key."""
    return [{"Sid": "ActForOneWorkspaceAtATime", "Effect": "Allow",
             "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": workspace_role_arn,
             "Condition": {"StringLike": {f"aws:RequestTag/{WORKSPACE_TAG}": "?*"},
                           "StringEquals": {f"aws:RequestTag/{PURPOSE_TAG}": [SERVE, FREEZE]}}}]


def workspace_role_trust_policy(account_id: str, server_principal_arn: str) -> dict:
    """Only the tracking server assumes the workspace role, and only with both tags set (a
    session without `workspace` would match no resource, but is refused before that). The
    account is the principal and the server a condition, as in access_role_trust_policy."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TheTrackingServerForOneWorkspace", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"ArnEquals": {"aws:PrincipalArn": server_principal_arn},
                      "StringLike": {f"aws:RequestTag/{WORKSPACE_TAG}": "?*"},
                      "StringEquals": {f"aws:RequestTag/{PURPOSE_TAG}": [SERVE, FREEZE]}}}]}


def workspace_role_statements(bucket_arn, key_arn=None, concat=None) -> list:
    """The workspace role's S3 (and KMS) statements: one workspace's prefixes, named by the
    session's tag; `concat` joins ARN parts (Pulumi's Output.concat where the bucket ARN is not
    known yet; plain joining otherwise)."""
    join = concat or (lambda *parts: "".join(parts))
    artifacts = workspace_prefix(WORKSPACE_VARIABLE)
    registry = registry_prefix(WORKSPACE_VARIABLE)
    statements = [
        {"Sid": "BucketLocation", "Effect": "Allow", "Action": ["s3:GetBucketLocation"],
         "Resource": bucket_arn},
        {"Sid": "ListOneWorkspace", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{artifacts}*", f"{registry}*"]}}},
        {"Sid": "OneWorkspacesArtifacts", "Effect": "Allow",
         "Action": list(WORKSPACE_ARTIFACT_ACTIONS), "Resource": join(bucket_arn, f"/{artifacts}*")},
        {"Sid": "ReadOneWorkspacesRegistry", "Effect": "Allow",
         "Action": list(WORKSPACE_REGISTRY_READ_ACTIONS),
         "Resource": join(bucket_arn, f"/{registry}*")},
        {"Sid": "FreezeIntoOneWorkspacesRegistry", "Effect": "Allow",
         "Action": list(WORKSPACE_REGISTRY_FREEZE_ACTIONS),
         "Resource": join(bucket_arn, f"/{registry}*"),
         "Condition": {"StringEquals": {f"aws:PrincipalTag/{PURPOSE_TAG}": FREEZE}}},
    ]
    if key_arn:
        statements.append({"Sid": "ArtifactKey", "Effect": "Allow",
                           "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                           "Resource": key_arn})
    return statements


def sagemaker_trust_policy(account_id: str) -> dict:
    """The trust of a team's SageMaker execution roles: SageMaker, acting for this account only
    (aws:SourceAccount keeps another account's SageMaker from using the role: confused
    deputy)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}}]}


# --- a team account holds its own line -----------------------------------------------------
# Each level's execution role, and its Studio profile, carry TEAM_ACCOUNT_LEVEL_TAG; so must
# the team's people and CI (as a tag on their role or user). Whoever may pass an elevated
# level's role to SageMaker, or open its Studio profile, acts in MLflow at that level: the
# guard keeps both to principals of that level. (The central access roles' own tags, TEAM_TAG
# and LEVEL_TAG, are another account's.)
TEAM_ACCOUNT_LEVEL_TAG = "mlflow-level"
TEAM_ACCOUNT_TEAM_TAG = "mlflow-team"
# Levels whose acts a second person relies on (approving; administering the registry).
ELEVATED_LEVELS = ("model-approver", "admin")
ROLE_CHANGE_ACTIONS = ("iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                       "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:UpdateRole",
                       "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
                       "iam:TagRole", "iam:UntagRole", "iam:DeleteRole")
TAGGING_ACTIONS = ("iam:TagUser", "iam:UntagUser", "iam:TagRole", "iam:UntagRole",
                   "sts:TagSession", "sagemaker:AddTags", "sagemaker:DeleteTags")


def studio_profile_name(team: str, level: str) -> str:
    return f"{team}-{level}"


def level_guard_policy(account_id: str, region: str, team: str, levels) -> dict:
    """The team account's guard, for every person and CI role there but the stack's deployer
    (a managed policy the datascience stack creates; docs/security.md gives the SCP): only a
    principal tagged with an elevated level may pass that level's execution role to SageMaker
    or open its Studio profile; nobody changes those roles but the deployer; nobody sets the
    level tag on anything."""
    elevated = [level for level in ELEVATED_LEVELS if level in levels]
    statements = []
    for level in elevated:
        role = role_arn(account_id, sagemaker_role_name(team, level))
        profile = (f"arn:aws:sagemaker:{region}:{account_id}:user-profile/*/"
                   f"{studio_profile_name(team, level)}")
        not_of_level = {"StringNotEquals": {
            f"aws:PrincipalTag/{TEAM_ACCOUNT_LEVEL_TAG}": level}}
        sid = "".join(part.capitalize() for part in level.split("-"))
        statements += [
            {"Sid": f"Only{sid}sPassThe{sid}Role", "Effect": "Deny", "Action": "iam:PassRole",
             "Resource": role, "Condition": not_of_level},
            {"Sid": f"Only{sid}sOpenThe{sid}Studio", "Effect": "Deny",
             "Action": "sagemaker:CreatePresignedDomainUrl", "Resource": profile,
             "Condition": not_of_level},
            {"Sid": f"NobodyChangesThe{sid}Role", "Effect": "Deny",
             "Action": list(ROLE_CHANGE_ACTIONS), "Resource": role}]
    statements.append({
        "Sid": "NobodySetsTheLevelTag", "Effect": "Deny", "Action": list(TAGGING_ACTIONS),
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {
            "aws:TagKeys": [TEAM_ACCOUNT_LEVEL_TAG, TEAM_ACCOUNT_TEAM_TAG]}}})
    return {"Version": "2012-10-17", "Statement": statements}


# S3's limit on a bucket policy's size (bytes, not adjustable): the artifact bucket's grows with
# the team accounts (serving_admission), and spec.config refuses a team list past it
BUCKET_POLICY_LIMIT = 20_480
# Objects the admitted principals use; the deployer manages the bucket, never its objects.
OBJECT_ACTIONS = ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject",
                  "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]


def _join(*parts):
    return "".join(parts)


def tls_only(bucket_arn, concat=None) -> dict:
    concat = concat or _join
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
            "Action": "s3:*", "Resource": [bucket_arn, concat(bucket_arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def sse_kms_only(bucket_arn, key_arn, concat=None) -> list:
    """Deny PutObject that names another encryption or another key."""
    objects = (concat or _join)(bucket_arn, "/*")
    return [
        {"Sid": "OnlySseKms", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": objects,
         "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
        {"Sid": "OnlyTheBucketKey", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": objects,
         "Condition": {"StringNotEqualsIfExists": {
             "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}}},
    ]


def registry_writes_only_by(bucket_arn, writer_arn, concat=None) -> dict:
    """Deny every write under the registry prefix to all but `writer_arn` (deletes to all)."""
    statement = {"Sid": "OnlyTheTrackingServerWritesTheRegistry", "Effect": "Deny",
                 "Principal": "*", "Action": list(REGISTRY_WRITE_ACTIONS),
                 "Resource": (concat or _join)(bucket_arn, f"/{REGISTRY_ROOT_PREFIX}/*")}
    if writer_arn:
        statement["Condition"] = {"ArnNotEquals": {"aws:PrincipalArn": writer_arn}}
    return statement


def artifact_bucket_statements(bucket_arn, key_arn, account_id: str, server_arns: list,
                               registry_writer_arn, team_accounts=(), concat=None) -> list:
    """The artifact bucket's policy: TLS only; objects for the admitted principals alone
    (admission_conditions); the registry's files written by the tracking server alone; SSE-KMS
    with the bucket's key only; and, with `team_accounts`, their serving roles' reads
    (serving_admission). `concat` joins an ARN with a suffix (the stack's pulumi.Output.concat;
    plain strings by default, for the config's size check)."""
    concat = concat or _join
    serving = bool(team_accounts)
    not_shaped, not_tagged, *serving_untagged = admission_conditions(
        account_id, server_arns, serving=serving)
    objects = concat(bucket_arn, "/*")

    def deny_objects(sid, condition):
        return {"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": OBJECT_ACTIONS,
                "Resource": objects, "Condition": condition}

    return [
        tls_only(bucket_arn, concat),
        deny_objects("OnlyAdmittedRolesTouchObjects", not_shaped),
        deny_objects("NoUntaggedRoleTouchesObjects", not_tagged),
        # Approved bytes cannot change: whatever an identity policy grants, only the tracking
        # server writes (and nobody deletes) a registered version's files.
        registry_writes_only_by(bucket_arn, registry_writer_arn, concat),
        # Every object is SSE-KMS with this bucket's own key: a write that asks for anything
        # else is refused (one that asks for nothing gets the bucket's default, that key).
        *sse_kms_only(bucket_arn, key_arn, concat),
        # A team account's SageMaker endpoints read their own team's frozen copies
        *[deny_objects("NoUntaggedServingRoleTouchesObjects", c) for c in serving_untagged],
        *(serving_admission(bucket_arn, team_accounts, concat=concat) if serving else []),
    ]
