"""MLflow's backend store: Aurora Serverless v2 PostgreSQL, private, encrypted, backed up, with
its master password generated and kept by AWS in Secrets Manager."""

import json
import time
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ._util import child, customer_managed_key, data_resource, type_token

ENGINE = "aurora-postgresql"
# Pinned: a minor upgrade is a deliberate change in a pull request, not a surprise at apply.
# 16.8 is Aurora PostgreSQL 16's long-term-support minor (supported at least three years; a
# non-LTS minor may no longer be creatable a year on).
ENGINE_VERSION = "16.8"
PARAMETER_FAMILY = "aurora-postgresql16"
# Cluster parameters: TLS on every connection; statements slower than a second and every
# schema change (a migration, or anyone's DDL) in the PostgreSQL log (exported to CloudWatch).
PARAMETERS = {"rds.force_ssl": "1", "log_min_duration_statement": "1000",
              "log_statement": "ddl"}
PERFORMANCE_INSIGHTS_DAYS = 7
DATABASE_NAME = "mlflow"
MASTER_USERNAME = "mlflow"
PORT = 5432


# What administers a key (never uses it); CloudFormation's and the console's list.
KEY_ADMIN_ACTIONS = ("kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                     "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                     "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                     "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand")
KEY_USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                   "kms:CreateGrant", "kms:DescribeKey")


def key_policy(account_id: str, region: str) -> dict:
    """The database key's own policy: the account administers it; its principals use it only
    through RDS (storage, snapshots, Performance Insights) and Secrets Manager (the master
    secret, which the tasks read), never directly."""
    root = f"arn:aws:iam::{account_id}:root"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Administer", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": list(KEY_ADMIN_ACTIONS), "Resource": "*"},
        {"Sid": "UseThroughRdsAndSecretsManager", "Effect": "Allow",
         "Principal": {"AWS": root}, "Action": list(KEY_USE_ACTIONS), "Resource": "*",
         "Condition": {"StringEquals": {
             "kms:CallerAccount": account_id,
             "kms:ViaService": [f"rds.{region}.amazonaws.com",
                                f"secretsmanager.{region}.amazonaws.com"]}}}]}


@dataclass
class DatabaseArgs:
    account_id: str
    region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list]
    min_capacity: float
    max_capacity: float
    backup_retention_days: int
    protect: bool  # deletion protection, a final snapshot, and Pulumi's protect


class Database(pulumi.ComponentResource):
    endpoint: pulumi.Output
    secret_arn: pulumi.Output
    security_group_id: pulumi.Output
    key_arn: pulumi.Output

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("database", "Database"), name, None, opts)
        # Kept by every destroy, protected or not: the cluster's final snapshot is encrypted
        # with it, and a key deleted 30 days later would leave a snapshot nobody can restore.
        self.key = customer_managed_key(f"{name}-key", self,
                                        "MLflow database storage and master secret", args.protect,
                                        policy=json.dumps(key_policy(args.account_id,
                                                                     args.region)),
                                        outlives_stack=True)
        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets", subnet_ids=args.subnet_ids, opts=child(self))
        # No ingress here: the tracking server adds the one rule that admits its own group.
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id,
            description="MLflow database; ingress only from the tracking server",
            opts=child(self))
        self.parameters = aws.rds.ClusterParameterGroup(
            f"{name}-params",
            family=PARAMETER_FAMILY,
            description="MLflow: TLS required; slow statements and schema changes logged",
            parameters=[aws.rds.ClusterParameterGroupParameterArgs(name=key, value=value)
                        for key, value in PARAMETERS.items()],
            opts=child(self),
        )
        self.cluster = aws.rds.Cluster(
            f"{name}-cluster",
            engine=ENGINE,
            engine_mode="provisioned",  # Serverless v2; v1 ("serverless") is end-of-life
            engine_version=ENGINE_VERSION,
            database_name=DATABASE_NAME,
            master_username=MASTER_USERNAME,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=self.key.key_id,
            storage_encrypted=True,
            kms_key_id=self.key.arn,
            serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=args.min_capacity, max_capacity=args.max_capacity),
            db_subnet_group_name=self.subnet_group.name,
            db_cluster_parameter_group_name=self.parameters.name,
            vpc_security_group_ids=[self.security_group.id],
            port=PORT,
            backup_retention_period=args.backup_retention_days,
            preferred_backup_window="03:00-04:00",
            copy_tags_to_snapshot=True,
            deletion_protection=args.protect,
            skip_final_snapshot=False,
            # Unique per cluster: a snapshot outlives its cluster, and a fixed name makes the
            # next cluster of this name fail to delete. Chosen at creation, then kept.
            final_snapshot_identifier=f"{name}-final-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}",
            enabled_cloudwatch_logs_exports=["postgresql"],
            allow_major_version_upgrade=False,
            # The minor version policy: AWS applies minor upgrades in the maintenance window
            # (auto_minor_version_upgrade on the writer); ENGINE_VERSION is only what a new
            # cluster starts at, and the running version is never pulled back to it (an
            # update that tried, after AWS upgraded, would fail). A major upgrade is a change
            # of PARAMETER_FAMILY and ENGINE_VERSION made on purpose, with a snapshot first.
            opts=data_resource(self, args.protect,
                               ignore_changes=["engineVersion", "finalSnapshotIdentifier"]),
        )
        self.instance = aws.rds.ClusterInstance(
            f"{name}-writer",
            cluster_identifier=self.cluster.id,
            instance_class="db.serverless",
            engine=ENGINE,
            engine_version=ENGINE_VERSION,
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
            db_subnet_group_name=self.subnet_group.name,
            # which statements wait on what: seven days are free
            performance_insights_enabled=True,
            performance_insights_kms_key_id=self.key.arn,
            performance_insights_retention_period=PERFORMANCE_INSIGHTS_DAYS,
            opts=child(self, ignore_changes=["engineVersion"]),
        )
        self.endpoint = self.cluster.endpoint
        self.cluster_arn = self.cluster.arn  # what the schema migration snapshots first
        self.cluster_identifier = self.cluster.cluster_identifier
        self.secret_arn = self.cluster.master_user_secrets.apply(lambda s: s[0].secret_arn)
        self.security_group_id = self.security_group.id
        self.key_arn = self.key.arn
        self.register_outputs({"endpoint": self.endpoint, "secret_arn": self.secret_arn,
                               "security_group_id": self.security_group_id})
