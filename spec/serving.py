"""The serving loop's IAM: what the team stack's deployer and serving roles, and the central
stack's status writer, may do. The stacks and the sandbox grant exactly these documents.

A team account's endpoints, models, configs and alarms are named `<team>-...` (the deployer's
deployer.handler.endpoint_name), so the deployer reaches its own and nothing else of the account.
"""

from roles.catalogue import SDK_PREFIX

from .accounts import registry_prefix, role_arn, sagemaker_trust_policy
from .registry_events import (
    ALIAS_REMOVED,
    DEPLOYER_SOURCE,
    DEPLOYMENT_STATUS_DETAIL_TYPE,
    DETAIL_TYPES,
    ENDPOINT_STATE_CHANGE,
    EVENT_SOURCE,
    PROMOTED,
    SAGEMAKER_SOURCE,
    central_bus_arn,
    serving_role_name,
)

# What a status writer's call is (its one route, on any team's base path)
SET_TAG_ROUTE = ("POST", f"{SDK_PREFIX.lstrip('/')}/2.0/mlflow/model-versions/set-tag")
# SageMaker's serverless memory sizes (MB) and its concurrency bound per endpoint
SERVERLESS_MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200


def serving_trust_policy(account_id: str) -> dict:
    """The serving role is SageMaker's, for this account only (as the execution roles)."""
    return sagemaker_trust_policy(account_id)


def lambda_trust_policy(account_id: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}}]}


def serving_role_policy(team: str, account_id: str, region: str, bucket: str,
                        central_key_arn: str, repository_arn: str) -> dict:
    """The team's endpoints' execution role: read the team's frozen copies (its registry prefix
    of the central bucket, and the central key through S3 only), pull the serving image, write
    its endpoints' logs and metrics. Nothing else of the central account."""
    prefix = registry_prefix(team)
    statements = [
        {"Sid": "ListTheTeamsRegistry", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
        {"Sid": "ReadTheTeamsFrozenCopies", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"},
        {"Sid": "DecryptThroughS3Only", "Effect": "Allow", "Action": "kms:Decrypt",
         "Resource": central_key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}},
        {"Sid": "PullTokenForTheServingImage", "Effect": "Allow",
         "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Sid": "PullTheServingImage", "Effect": "Allow", "Action": [
            "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
         "Resource": repository_arn},
        {"Sid": "EndpointLogs", "Effect": "Allow", "Action": [
            "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
            "logs:DescribeLogStreams"],
         "Resource": f"arn:aws:logs:{region}:{account_id}:log-group:/aws/sagemaker/Endpoints/"
                     f"{team}-*"},
        {"Sid": "EndpointMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData",
         "Resource": "*",
         "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*",
                                                              "AWS/SageMaker"]}}},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def deployer_policy(team: str, account_id: str, region: str, central_account_id: str,
                    team_key_arn: str, log_group_arn: str) -> dict:
    """The deployer Lambda's role: SageMaker models, configs and endpoints named `<team>-*`,
    passing only the serving role, the rollback alarms `<team>-*`, the team's key for endpoint
    volumes (through SageMaker), status events to the central bus, its own logs."""
    sagemaker = f"arn:aws:sagemaker:{region}:{account_id}"
    own = [f"{sagemaker}:{kind}/{team}-*" for kind in ("model", "endpoint-config", "endpoint")]
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "TheTeamsEndpoints", "Effect": "Allow", "Action": [
            "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
            "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint",
            "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
            "sagemaker:DescribeModel", "sagemaker:AddTags", "sagemaker:ListTags"],
         "Resource": own},
        {"Sid": "PassOnlyTheServingRole", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": role_arn(account_id, serving_role_name(team)),
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
        {"Sid": "RollbackAlarms", "Effect": "Allow", "Action": [
            "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms"],
         "Resource": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{team}-*"},
        {"Sid": "TheTeamsKeyForEndpointVolumes", "Effect": "Allow", "Action": [
            "kms:CreateGrant", "kms:DescribeKey"], "Resource": team_key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": f"sagemaker.{region}.amazonaws.com"}}},
        {"Sid": "StatusToTheCentralBus", "Effect": "Allow", "Action": "events:PutEvents",
         "Resource": central_bus_arn(region, central_account_id)},
        {"Sid": "OwnLogs", "Effect": "Allow", "Action": [
            "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*"},
    ]}


def status_writer_policy(api_arn: str, log_group_arn: str) -> dict:
    """The central status writer's role: the one route that sets a model version's tag, on any
    team's base path (`api_arn`: arn:aws:execute-api:<region>:<account>:<api>/<stage>); its logs."""
    method, path = SET_TAG_ROUTE
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "SetAVersionsTagOnATeamsPath", "Effect": "Allow",
         "Action": "execute-api:Invoke", "Resource": f"{api_arn}/{method}/*/{path}"},
        {"Sid": "OwnLogs", "Effect": "Allow", "Action": [
            "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*"},
    ]}


def deploy_rule_pattern(team: str, alias: str) -> dict:
    """The registry's events the deployer acts on: the team's deploy alias set or removed."""
    return {"source": [EVENT_SOURCE],
            "detail-type": [DETAIL_TYPES[PROMOTED], DETAIL_TYPES[ALIAS_REMOVED]],
            "detail": {"team": [team], "alias": [alias]}}


def state_change_pattern(team: str) -> dict:
    """SageMaker's state changes of the team's endpoints (the deployer names them <team>-...)."""
    return {"source": [SAGEMAKER_SOURCE], "detail-type": [ENDPOINT_STATE_CHANGE],
            "detail": {"EndpointName": [{"prefix": f"{team}-"}]}}


def invoke_policy(team: str, account_id: str, region: str) -> dict:
    """For the team's applications (attach where they run): invoke the team's endpoints, and
    see which configuration serves."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "InvokeTheTeamsEndpoints", "Effect": "Allow",
        "Action": ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
        "Resource": f"arn:aws:sagemaker:{region}:{account_id}:endpoint/{team}-*"}]}


def deployer_environment(team, account_id, region, central_account_id, deploy_alias, *,
                         image_uri, execution_role_arn, key_arn, memory_mb=2048,
                         max_concurrency=5, instance_type=None, instance_count=1,
                         delete_on_alias_removed=True) -> dict:
    """The deployer Lambda's environment (deployer.handler.Settings reads it)."""
    environment = {
        "TEAM": team, "ACCOUNT_ID": account_id, "DEPLOY_ALIAS": deploy_alias,
        "IMAGE_URI": image_uri, "EXECUTION_ROLE_ARN": execution_role_arn,
        "KMS_KEY_ARN": key_arn,
        "SERVERLESS_MEMORY_MB": str(memory_mb),
        "SERVERLESS_MAX_CONCURRENCY": str(max_concurrency),
        "INSTANCE_COUNT": str(instance_count),
        "DELETE_ON_ALIAS_REMOVED": "true" if delete_on_alias_removed else "false",
        "CENTRAL_BUS_ARN": central_bus_arn(region, central_account_id)}
    if instance_type:
        environment["INSTANCE_TYPE"] = instance_type
    return environment


def status_rule_pattern() -> dict:
    """The central bus's rule for the deployers' status (the status writer's)."""
    return {"source": [DEPLOYER_SOURCE], "detail-type": [DEPLOYMENT_STATUS_DETAIL_TYPE]}

