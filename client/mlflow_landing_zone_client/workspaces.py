"""Which team's workspace a call reaches, and the mistakes that would send it elsewhere.

The edge serves each team's workspace at the team's own base URL (`<apiUrl>/<team>`) and sets
MLflow's workspace header itself, overwriting the client's: a call to team-a's URL asking for
team-b (MLFLOW_WORKSPACE, or the X-MLFLOW-WORKSPACE header) would silently land in team-a.
The client refuses it before it leaves.

A landing zone's API takes only signed calls: one that MLflow sends unsigned, because
MLFLOW_TRACKING_AUTH is not set, gets only API Gateway's "Missing Authentication Token". Where
this package can tell (an API Gateway URL, or MLFLOW_LANDING_ZONE_ROLE_ARN set) it says what to
set, through MLflow's request-header plugins, which run whatever the auth.
"""

import os
from urllib.parse import urlsplit

from ._spec import AUTH_PROVIDER as AUTH_NAME
from ._spec import DEFAULT_WORKSPACE, WORKSPACE_HEADER
from .credentials import ROLE_ARN_ENV, LandingZoneAuthError, execute_api_region

AUTH_ENV = "MLFLOW_TRACKING_AUTH"


def url_workspace(tracking_uri: str) -> str:
    """The workspace a tracking URI reaches: its team's (`<apiUrl>/<team>`), or the default
    workspace (the API's own URL). An execute-api URL's first path segment is the stage."""
    parts = urlsplit(tracking_uri)
    segments = [s for s in parts.path.split("/") if s]
    if execute_api_region(parts.hostname):
        segments = segments[1:]
    return segments[-1] if segments else DEFAULT_WORKSPACE


def check_workspace(request, tracking_uri) -> None:
    """Refuse a request to `tracking_uri` that asks for another workspace than the URL's."""
    asked = request.headers.get(WORKSPACE_HEADER)
    base = (tracking_uri or "").rstrip("/")
    if not asked or not base or not request.url.startswith(base + "/"):
        return
    reached = url_workspace(base)
    if asked != reached:
        where = (f"team {reached}'s workspace" if reached != DEFAULT_WORKSPACE
                 else "the default workspace (it names no team)")
        raise LandingZoneAuthError(
            f"MLFLOW_WORKSPACE (or the {WORKSPACE_HEADER} header) asks for workspace {asked!r}, "
            f"but the tracking URI {base} reaches {where}: the landing zone picks the workspace "
            f"by the URL alone. For {asked}, set MLFLOW_TRACKING_URI to <apiUrl>/{asked}; "
            f"else unset MLFLOW_WORKSPACE")


def landing_zone_without_auth(tracking_uri, environ=os.environ) -> bool:
    """Whether MLflow is about to call a landing zone unsigned: no MLFLOW_TRACKING_AUTH, and an
    API Gateway URL or this package's role variable (the sandbox's lines set it)."""
    if environ.get(AUTH_ENV):
        return False
    host = urlsplit(tracking_uri or "").hostname
    return bool(execute_api_region(host) or environ.get(ROLE_ARN_ENV))


def missing_auth_message(tracking_uri) -> str:
    return (f"MLFLOW_TRACKING_URI {tracking_uri} is an MLflow landing zone's, whose API takes "
            f"only signed calls, and {AUTH_ENV} is not set: API Gateway will answer 'Missing "
            f"Authentication Token'. Set {AUTH_ENV}={AUTH_NAME} (the signer of the "
            f"mlflow-landing-zone-client package)")
