"""The landing zone's facts the tracking server's image uses.

Generated from spec/ by python -m spec.generate; do not edit.
"""

IDENTITY_HEADERS = ('X-MLflow-Caller-Arn', 'X-MLflow-User', 'X-MLflow-Levels')
CALLER_ARN_HEADER = 'X-MLflow-Caller-Arn'
USER_HEADER = 'X-MLflow-User'
NOT_THIS_CHANNEL = '-'
FORWARDED_HEADERS = ('X-MLflow-Caller-Arn', 'X-MLflow-User', 'X-MLflow-Levels', 'X-MLFLOW-WORKSPACE')
WORKSPACE_TAG = 'workspace'
PURPOSE_TAG = 'purpose'
SERVE = 'serve'
FREEZE = 'freeze'
SESSION_SECONDS = 3600
PORT = 5000
LOCAL_HOST = '0.0.0.0'
HEALTH_PATH = '/api/2.0/mlflow/experiments/search?max_results=1'
SERVER_FLAGS = ('--no-serve-artifacts', '--enable-workspaces', '--app-name', 'landing-zone')
REGISTRY_ROOT_ENV = 'MLFLOW_LZ_REGISTRY_ROOT'
WORKSPACE_ROLE_ENV = 'MLFLOW_LZ_WORKSPACE_ROLE_ARN'
WORKSPACES_ENV = 'MLFLOW_LZ_WORKSPACES'
WORKERS_ENV = 'MLFLOW_WORKERS'
DB_LOGIN_ARN_ENV = 'DB_LOGIN_ARN'
HANDLER_THREADS = 10
POOL_ENV = {'MLFLOW_SQLALCHEMYSTORE_POOL_SIZE': '10', 'MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW': '10'}
EVENT_SOURCE = 'mlflow.landing-zone'
DETAIL_TYPES = {'registered': 'Model version registered', 'promoted': 'Model version promoted', 'alias_removed': 'Model alias removed', 'stage_changed': 'Model version stage changed', 'deleted': 'Model version deleted'}
DETAIL_FIELDS = ('team', 'workspace', 'model', 'version', 'alias', 'stage', 'frozen_location', 'registrant', 'approver', 'time')
REGISTERED = 'registered'
PROMOTED = 'promoted'
ALIAS_REMOVED = 'alias_removed'
STAGE_CHANGED = 'stage_changed'
DELETED = 'deleted'
EVENT_BUS_ARN_ENV = 'MLFLOW_LZ_EVENT_BUS_ARN'
APPROVAL_ENV = 'MLFLOW_LZ_APPROVAL'
DEFAULT_DEPLOY_ALIAS = 'champion'
DEFAULT_REQUIRE_SECOND_PERSON = True
PROMOTION_STAGES = ('staging', 'production')
PLATFORM_TAG_PREFIX = 'landing_zone.'
REGISTRANT_TAG = 'landing_zone.registrant'
FROZEN_FROM_TAG = 'landing_zone.frozen_from'
STORE_OWNED_TAGS = ('landing_zone.frozen_from', 'landing_zone.registrant')
PLATFORM_WRITER_ENV = 'MLFLOW_LZ_PLATFORM_WRITER_ARNS'
