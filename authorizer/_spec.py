"""The landing zone's facts the authorizer uses.

Generated from spec/ by python -m spec.generate; do not edit.
"""

DEFAULT_WORKSPACE = 'default'
WORKSPACE_HEADER = 'X-MLFLOW-WORKSPACE'
TEAM_GROUP_SEPARATOR = ':'
SHARED_LEVEL = 'reader'
CACHE_TTL_ENV = 'CACHE_TTL_SECONDS'
LEEWAY_ENV = 'LEEWAY_SECONDS'
TOKEN_LEEWAY_SECONDS = 5
RULES_FILE = 'policy_rules.json'
WORKSPACES_FILE = 'workspaces.json'
API_ARN_PLACEHOLDER = '<api-arn>'
HTTP_METHODS = ('DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT')
