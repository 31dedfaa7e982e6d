"""Act against the running sandbox as one identity at a time, with the real MLflow client.

Channels: "client" (this repo's SigV4 client assuming the central role), "builtin" (MLflow's
own MLFLOW_TRACKING_AWS_SIGV4 with the assumed role's credentials in the environment), both at
a team's base URL (its `tracking_uri`); and "token" (a Cognito id token on the browser paths:
/ajax-api instead of /api, naming the workspace in X-MLFLOW-WORKSPACE as MLflow's UI does).
"""

import contextlib
import json
import os
import time
from pathlib import Path

import boto3
import mlflow
import requests
from mlflow.tracking._tracking_service import utils as tracking_utils
from mlflow.store.artifact import s3_artifact_repo
from mlflow.tracking import MlflowClient
from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider
from mlflow.tracking.request_auth.registry import _request_auth_provider_registry

from mlflow_landing_zone_client.provider import LandingZoneAuthProvider

_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_AWS_SIGV4",
        "MLFLOW_LANDING_ZONE_ROLE_ARN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "AWS_PROFILE")


class BrowserPaths(requests.auth.AuthBase):
    """What the UI does: the same handlers under /ajax-api, with the user's token."""

    token = None
    workspace = None

    def __call__(self, request):
        request.url = request.url.replace("/api/", "/ajax-api/", 1)
        request.headers["Authorization"] = f"Bearer {self.token}"
        if self.workspace is not None:
            request.headers["X-MLFLOW-WORKSPACE"] = self.workspace
        return request


class BrowserPathsProvider(RequestAuthProvider):
    def get_name(self):
        return "test-browser-paths"

    def get_auth(self):
        return BrowserPaths()


if not any(p.get_name() == "test-browser-paths" for p in _request_auth_provider_registry):
    _request_auth_provider_registry.register(BrowserPathsProvider)


def team_of(sandbox, team="team-a"):
    return next(t for t in sandbox["teams"] if t["name"] == team)


def role_of(sandbox, level, team="team-a"):
    return next(r for r in team_of(sandbox, team)["roles"] if r["level"] == level)


def id_token(sandbox, username):
    return id_token_and_refresh(sandbox, username)[0]


def id_token_and_refresh(sandbox, username):
    """A fresh sign-in: (id token, refresh token, the id token's claims)."""
    import jwt

    user = next(u for u in sandbox["cognito"]["users"] if u["username"] == username)
    idp = boto3.client("cognito-idp", region_name="us-east-1",
                       endpoint_url=sandbox["aws"]["endpoint_url"],
                       aws_access_key_id="anonymous", aws_secret_access_key="anonymous")
    result = idp.initiate_auth(ClientId=sandbox["cognito"]["client_id"],
                               AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": user["username"],
                                               "PASSWORD": user["password"]})["AuthenticationResult"]
    claims = jwt.decode(result["IdToken"], options={"verify_signature": False})
    return result["IdToken"], result["RefreshToken"], claims


def assume_central(sandbox, level, team="team-a"):
    role = role_of(sandbox, level, team)
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=sandbox["aws"]["endpoint_url"],
                       **{k: v for k, v in zip(
                           ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"),
                           (role["credentials"]["AccessKeyId"],
                            role["credentials"]["SecretAccessKey"],
                            role["credentials"]["SessionToken"]))})
    return sts.assume_role(RoleArn=role["central_role_arn"],
                           RoleSessionName=f"test-{level}")["Credentials"]


@contextlib.contextmanager
def identity(sandbox, level, channel, team="team-a", username=None, workspace=None):
    """Environment and MLflow client acting as `level` of `team` over `channel`, in
    `workspace` (default: the team's own; SigV4 callers name it by the base URL they use)."""
    workspace = workspace or team
    saved = {k: os.environ.get(k) for k in _ENV}
    for k in _ENV:
        os.environ.pop(k, None)
    uri = (sandbox["gateway_url"] if channel == "token"
           else f"{sandbox['gateway_url']}/{workspace}")
    os.environ.update({"MLFLOW_TRACKING_URI": uri,
                       "AWS_ENDPOINT_URL": sandbox["aws"]["endpoint_url"],
                       "AWS_DEFAULT_REGION": "us-east-1", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    if channel == "client":
        role = role_of(sandbox, level, team)
        os.environ.update({"MLFLOW_TRACKING_AUTH": "landing-zone",
                           "MLFLOW_LANDING_ZONE_ROLE_ARN": role["central_role_arn"],
                           "AWS_ACCESS_KEY_ID": role["credentials"]["AccessKeyId"],
                           "AWS_SECRET_ACCESS_KEY": role["credentials"]["SecretAccessKey"],
                           "AWS_SESSION_TOKEN": role["credentials"]["SessionToken"]})
    elif channel == "builtin":
        c = assume_central(sandbox, level, team)
        os.environ.update({"MLFLOW_TRACKING_AWS_SIGV4": "true",
                           "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
                           "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
                           "AWS_SESSION_TOKEN": c["SessionToken"]})
    elif channel == "token":
        BrowserPaths.token = id_token(sandbox, username or f"{level}-user")
        BrowserPaths.workspace = workspace
        os.environ.update({"MLFLOW_TRACKING_AUTH": "test-browser-paths",
                           "AWS_ACCESS_KEY_ID": "none", "AWS_SECRET_ACCESS_KEY": "none"})
    else:
        raise ValueError(channel)
    LandingZoneAuthProvider.reset()
    boto3.setup_default_session()
    s3_artifact_repo._cached_get_s3_client.cache_clear()
    mlflow.set_tracking_uri(uri)  # the fluent API too (an earlier test may have set another)
    try:
        yield MlflowClient(uri)
    finally:
        tracking_utils._tracking_uri = None  # back to MLFLOW_TRACKING_URI
        # an experiment set in one identity's workspace means nothing in the next one's
        mlflow.tracking.fluent._active_experiment_id = None
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        LandingZoneAuthProvider.reset()
        boto3.setup_default_session()
        s3_artifact_repo._cached_get_s3_client.cache_clear()


def audit_lines(sandbox, name, wait: float = 10, kind: str = None):
    """The tracking server's audit lines (its log, mlflow.log) that name `name` (and are of
    `kind`, their "audit" value, when given), waiting up to `wait` seconds for the first."""
    log = Path(sandbox["_state_file"]).with_name("mlflow.log")
    deadline = time.monotonic() + wait
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines()
                 if line.startswith('{"audit"') and f'"{name}"' in line]
        lines = [entry for entry in lines if kind is None or entry.get("audit") == kind]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)
