"""The landing zone's facts the client package uses.

Generated from spec/ by python -m spec.generate; do not edit.
"""

WORKSPACE_HEADER = 'X-MLFLOW-WORKSPACE'
DEFAULT_WORKSPACE = 'default'
LEVELS = ('reader', 'contributor', 'model-approver', 'admin')
SDK_PREFIX = '/api'
BROWSER_PREFIX = '/ajax-api'
ROLE_NAME_PREFIX = 'mlflow-'
AUTH_PROVIDER = 'landing-zone'
ROLE_ARN_ENV = 'MLFLOW_LANDING_ZONE_ROLE_ARN'
CONTACT_ENV = 'MLFLOW_LANDING_ZONE_CONTACT'
DEFAULT_CONTACT = 'your MLflow platform team'
SESSION_SECONDS = 3600
ARTIFACTS_PREFIX = 'artifacts/workspaces/'
REGISTRY_PREFIX = 'registry/workspaces/'
