"""The `mlflow.request_auth_provider` entry point: MLFLOW_TRACKING_AUTH=landing-zone."""

import os
import threading

from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider

from ._spec import AUTH_PROVIDER
from .credentials import ROLE_ARN_ENV, CentralRoleCredentials, install_as_default_boto3_session
from .refusals import install_trace_filter
from .signing import SigV4Auth
from .workspaces import check_workspace

NAME = AUTH_PROVIDER  # MLFLOW_TRACKING_AUTH's value (pyproject.toml's entry point)


class LandingZoneAuthProvider(RequestAuthProvider):
    """MLflow asks for the auth object on every request; it gets the same one each time, so
    credentials are resolved once and the assumed role is refreshed only when due."""

    _auth = None
    _lock = threading.Lock()

    def get_name(self):
        return NAME

    def get_auth(self):
        if LandingZoneAuthProvider._auth is None:
            with LandingZoneAuthProvider._lock:
                if LandingZoneAuthProvider._auth is None:
                    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                    source = CentralRoleCredentials(os.environ.get(ROLE_ARN_ENV) or None, region)
                    install_as_default_boto3_session(source)
                    install_trace_filter()
                    LandingZoneAuthProvider._auth = SigV4Auth(source, region,
                                                              check=_check_workspace)
        return LandingZoneAuthProvider._auth

    @classmethod
    def reset(cls):
        """Forget the resolved credentials (tests, or a process that changes identity). Under
        the lock: a thread of MLflow's (trace export, prompt linking) resolving them from the
        old environment at this moment cannot leave its result behind."""
        with cls._lock:
            cls._auth = None


def _check_workspace(request):
    import mlflow

    check_workspace(request, mlflow.get_tracking_uri())
