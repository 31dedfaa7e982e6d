"""The artifact store: an S3 bucket encrypted with its own KMS key, versioned, private, TLS-only,
logged to a second bucket, and readable only by the tracking server and the access roles."""

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from spec.accounts import (
    admission_allow_conditions,
    admission_conditions,
    artifact_bucket_statements,
    serving_key_statement,
    tls_only,
)

from ._util import (
    child,
    customer_managed_key,
    data_resource,
    policy_json,
    type_token,
)

# Every bucket's lifecycle aborts multipart uploads not completed within a week (an SDK's
# artifact upload that died half-way)
ABORT_INCOMPLETE_UPLOADS_DAYS = 7
# What the Deny statements keep from every principal not admitted: any use of the key
KEY_USE_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
# What the admitted (the server, the access roles) are allowed: what SSE-KMS needs of S3's
# callers, a data key to write (PutObject, CopyObject, multipart) and Decrypt to read or
# complete a multipart upload; never Encrypt or ReEncrypt, which S3 does not call
KEY_ALLOW_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


@dataclass
class ArtifactStoreArgs:
    account_id: str
    protect: bool
    # The principals that may touch artifact objects and use the key: these (the tracking
    # server's workspace role) and the central access roles, admitted by their shape and team
    # tag (spec.accounts.admission_conditions), never listed: the bucket and key policies stay
    # the same size at any number of teams. Nobody else, whatever their IAM policies say.
    server_role_arns: list = field(default_factory=list)
    # The one principal that writes registered versions' frozen copies (spec.accounts
    # REGISTRY_ROOT_PREFIX): the tracking server's task role. None: nobody may.
    registry_writer_arn: str = None
    noncurrent_version_days: int = 90
    # The team accounts whose serving roles (`mlflow-<team>-serving`, tagged with their team)
    # read their own team's frozen copies for their SageMaker endpoints (issue 27); empty: none
    serving_accounts: tuple = ()
    region: str = None  # the key is used through this region's S3 only


def _encryption(algorithm, key_arn=None):
    return aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=aws.s3.
        BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm=algorithm, kms_master_key_id=key_arn),
        bucket_key_enabled=True if key_arn else None)


def _private_bucket(name, parent, sse, protect):
    """A bucket with every public access blocked, owner-enforced objects and encryption."""
    # A protected bucket is never emptied by Pulumi; an unprotected one (a test landing zone,
    # `protect: false`) goes in one `pulumi destroy`, objects and their versions with it.
    bucket = aws.s3.Bucket(name, force_destroy=not protect, opts=data_resource(parent, protect))
    aws.s3.BucketPublicAccessBlock(
        name, bucket=bucket.id, block_public_acls=True, block_public_policy=True,
        ignore_public_acls=True, restrict_public_buckets=True, opts=child(parent))
    aws.s3.BucketOwnershipControls(
        name, bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child(parent))
    aws.s3.BucketServerSideEncryptionConfiguration(
        name, bucket=bucket.id, rules=[sse], opts=child(parent))
    aws.s3.BucketVersioning(
        name, bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
            status="Enabled"),
        opts=child(parent))
    return bucket


class ArtifactStore(pulumi.ComponentResource):
    bucket_name: pulumi.Output
    bucket_arn: pulumi.Output
    key_arn: pulumi.Output

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("artifact_store", "ArtifactStore"), name, None, opts)
        root = f"arn:aws:iam::{args.account_id}:root"
        servers = list(args.server_role_arns)
        allow_server, allow_access_role = admission_allow_conditions(args.account_id, servers)
        serving = bool(args.serving_accounts)
        not_shaped, not_tagged, *serving_untagged = admission_conditions(
            args.account_id, servers, serving=serving)
        serving_denies = [  # a serving-shaped role without its team account's team tag
            {"Sid": "NoUntaggedServingRoleUsesTheKey", "Effect": "Deny", "Principal": "*",
             "Action": KEY_USE_ACTIONS, "Resource": "*", "Condition": c}
            for c in serving_untagged]
        key_policy = policy_json([
            # Without the account statement a key can become unmanageable for good.
            {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": "kms:*", "Resource": "*"},
            # Conditions, not principals, name the roles: KMS rejects a policy whose principal
            # does not exist yet, and the roles' own policies need this key's ARN.
            {"Sid": "TheServerUsesTheKey", "Effect": "Allow",
             "Principal": {"AWS": root}, "Action": KEY_ALLOW_ACTIONS,
             "Resource": "*", "Condition": allow_server},
            {"Sid": "AccessRolesUseTheKey", "Effect": "Allow",
             "Principal": {"AWS": root}, "Action": KEY_ALLOW_ACTIONS,
             "Resource": "*", "Condition": allow_access_role},
            {"Sid": "NobodyElseUsesTheKey", "Effect": "Deny", "Principal": "*",
             "Action": KEY_USE_ACTIONS, "Resource": "*", "Condition": not_shaped},
            {"Sid": "NoUntaggedRoleUsesTheKey", "Effect": "Deny", "Principal": "*",
             "Action": KEY_USE_ACTIONS, "Resource": "*", "Condition": not_tagged},
            *serving_denies,
            *([serving_key_statement(args.serving_accounts, args.region)] if serving else []),
        ])
        self.key = customer_managed_key(f"{name}-key", self, "MLflow artifacts", args.protect,
                                        policy=key_policy)
        aws.kms.Alias(f"{name}-key", name=f"alias/{name}-artifacts", target_key_id=self.key.key_id,
                      opts=child(self))

        # Server access logs go to a bucket of their own (S3 cannot log to an SSE-KMS bucket).
        self.log_bucket = _private_bucket(f"{name}-access-logs", self, _encryption("AES256"),
                                          args.protect)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-access-logs", bucket=self.log_bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-logs", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=365),
                noncurrent_version_expiration=aws.s3.
                BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=30),
                # parts of an upload never finished are billed and listed nowhere else
                abort_incomplete_multipart_upload=aws.s3.
                BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS),
            )],
            opts=child(self))
        log_policy = aws.s3.BucketPolicy(
            f"{name}-access-logs", bucket=self.log_bucket.id,
            policy=policy_json([
                tls_only(self.log_bucket.arn, pulumi.Output.concat),
                {"Sid": "S3ServerAccessLogs", "Effect": "Allow",
                 "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                 "Resource": pulumi.Output.concat(self.log_bucket.arn, "/*"),
                 "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}}},
            ]),
            opts=child(self))

        self.bucket = _private_bucket(f"{name}-artifacts", self,
                                      _encryption("aws:kms", self.key.arn), args.protect)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-artifacts", bucket=self.bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="noncurrent-versions", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.
                BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=args.noncurrent_version_days),
                abort_incomplete_multipart_upload=aws.s3.
                BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS),
            )],
            opts=child(self))
        # Only once S3's logging service may write to the log bucket (else the first logs of
        # a new stack may be lost, or the configuration refused while the policy is missing).
        aws.s3.BucketLogging(
            f"{name}-artifacts", bucket=self.bucket.id, target_bucket=self.log_bucket.id,
            target_prefix="artifacts/", opts=child(self, depends_on=[log_policy]))
        self.bucket_policy = aws.s3.BucketPolicy(
            f"{name}-artifacts", bucket=self.bucket.id,
            policy=policy_json(artifact_bucket_statements(
                self.bucket.arn, self.key.arn, args.account_id, servers,
                args.registry_writer_arn, args.serving_accounts, concat=pulumi.Output.concat)),
            opts=child(self))

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.key_arn = self.key.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn,
                               "key_arn": self.key_arn})
