"""The landing zone's facts the serving loop's Lambdas use.

Generated from spec/ by python -m spec.generate; do not edit.
"""

EVENT_SOURCE = 'mlflow.landing-zone'
PROMOTED = 'Model version promoted'
ALIAS_REMOVED = 'Model alias removed'
DEFAULT_DEPLOY_ALIAS = 'champion'
DEPLOYMENT_TAG = 'landing_zone.deployment'
DEPLOYMENT_STATES = ('Creating', 'InService', 'Updating', 'Failed', 'RolledBack', 'Deleted')
DEPLOYMENT_FIELDS = ('state', 'endpoint', 'account', 'region', 'version')
DEPLOYER_SOURCE = 'mlflow.landing-zone.deployer'
DEPLOYMENT_STATUS_DETAIL_TYPE = 'Model deployment status'
DEPLOYMENT_STATUS_FIELDS = ('team', 'workspace', 'model', 'version', 'deployment')
SAGEMAKER_SOURCE = 'aws.sagemaker'
ENDPOINT_STATE_CHANGE = 'SageMaker Endpoint State Change'
SDK_PREFIX = '/api'
WORKSPACE_HEADER = 'X-MLFLOW-WORKSPACE'
