"""SigV4 request auth for MLflow behind the landing zone's API Gateway."""

from .credentials import CentralRoleCredentials, LandingZoneAuthError, resolve_region
from .signing import SigV4Auth

__all__ = ["CentralRoleCredentials", "LandingZoneAuthError", "SigV4Auth", "resolve_region"]
