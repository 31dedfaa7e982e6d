"""The landing zone's facts the tracking server's image uses.

Generated from spec/ by python -m spec.generate; do not edit.
"""

IDENTITY_HEADERS = ('X-MLflow-Caller-Arn', 'X-MLflow-User', 'X-MLflow-Levels')
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
