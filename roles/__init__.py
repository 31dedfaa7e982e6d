"""The permission model: access levels, the route catalogue, and the policies compiled from it.

    from roles import LEVELS, allows, iam_policy
    allows("reader", "GET", "/api/2.0/mlflow/runs/get")          # True
    iam_policy("reader", "arn:aws:execute-api:us-east-1:111111111111:abc123/prod")

Standard library only; `roles.mlflow_routes` imports MLflow for the checks that need it.
"""

from .catalogue import CATALOGUE, Route
from .levels import (
    ARTIFACT_ACTIONS,
    ARTIFACT_KEY_ACTIONS,
    CAPABILITIES,
    GRANTS,
    LEVELS,
    UNCLASSIFIED,
    capabilities_of,
)
from .model import allows, allows_any, rules_for
from .policies import (
    INLINE_POLICY_LIMIT,
    MANAGED_POLICY_LIMIT,
    authorizer_rules,
    iam_policy,
    managed_policies,
    policy_size,
)

__all__ = [
    "ARTIFACT_ACTIONS", "ARTIFACT_KEY_ACTIONS", "CAPABILITIES", "CATALOGUE", "GRANTS", "INLINE_POLICY_LIMIT", "LEVELS",
    "MANAGED_POLICY_LIMIT", "UNCLASSIFIED", "Route", "allows", "allows_any",
    "authorizer_rules", "capabilities_of", "iam_policy", "managed_policies", "policy_size",
    "rules_for",
]
