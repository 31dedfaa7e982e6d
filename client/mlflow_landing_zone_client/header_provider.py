"""The `mlflow.request_header_provider` entry point: MLflow asks it before every request,
whatever MLFLOW_TRACKING_AUTH says, so it can tell a user who forgot to set it."""

import logging

from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider

from .workspaces import landing_zone_without_auth, missing_auth_message

_logger = logging.getLogger(__package__)


class MissingAuthHint(RequestHeaderProvider):
    """Adds no header; says once, before the first unsigned call to a landing zone, what to set
    (the refusal that follows says only "Missing Authentication Token")."""

    _said = False

    def in_context(self):
        import mlflow

        return not MissingAuthHint._said and landing_zone_without_auth(mlflow.get_tracking_uri())

    def request_headers(self):
        import mlflow

        MissingAuthHint._said = True
        _logger.warning(missing_auth_message(mlflow.get_tracking_uri()))
        return {}
