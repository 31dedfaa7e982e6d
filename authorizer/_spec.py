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
