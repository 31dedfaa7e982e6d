"""The tracking server acts for one team at a time: every S3 access it makes while serving a
request uses credentials that reach only that request's workspace.

MLflow reads and writes storage locations that clients name (a version's source, a trace's
artifact location, an artifact path). Its checks decide which location a request may name; this
module makes IAM the backstop. The server's own identity (the ECS task role) reads no team's
objects: it may only assume the workspace role (`MLFLOW_LZ_WORKSPACE_ROLE_ARN`) with the
session tags `workspace=<the request's workspace>` and `purpose=serve` (or `freeze`, for the
registry's frozen copy), and that role's policy names
`<bucket>/{artifacts,registry}/workspaces/${aws:PrincipalTag/workspace}/*`
(spec.accounts.workspace_role_statements). So a request of team-b that names team-a's files,
whatever MLflow gets wrong, is refused by S3, and the policy does not grow with the teams.

How: an `S3ArtifactRepository` (MLflow's, unchanged) remembers the workspace and purpose it was
made for (it is made in the request's thread; its downloads may run in a pool's threads) and
asks this module for its client. Sessions are cached per (workspace, purpose) and renewed five
minutes before they end. A repository made outside any workspace gets no credentials at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading
import time

# spec.accounts' session tags (this package installs on its own, in the image: _spec.py is
# generated from spec/); role chaining (the task role's credentials) caps a session at an hour
from ._spec import FREEZE, PURPOSE_TAG, SERVE, SESSION_SECONDS, WORKSPACE_ROLE_ENV, WORKSPACE_TAG

RENEW_BEFORE_SECONDS = 300
# MLflow's own rule for workspace names (DNS labels), and a session tag's value limit
_WORKSPACE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

_purpose: contextvars.ContextVar[str] = contextvars.ContextVar("mlflow_lz_purpose",
                                                               default=SERVE)


class NoWorkspace(PermissionError):
    """Storage was asked for outside any workspace: the server reaches storage only for one."""


def current_workspace() -> "str | None":
    from mlflow.utils import workspace_context

    return workspace_context.get_request_workspace()


@contextlib.contextmanager
def acting_for(workspace: str, purpose: str = SERVE):
    """Work of `workspace` outside a request (the registry's background copy)."""
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    token = _purpose.set(purpose)
    try:
        with ServerWorkspaceContext(workspace):
            yield
    finally:
        _purpose.reset(token)


class WorkspaceSessions:
    """Sessions of the workspace role, one per (workspace, purpose), renewed before they end."""

    def __init__(self, role_arn: str, sts_client=None, clock=time.time):
        self.role_arn = role_arn
        self._sts = sts_client
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions = {}

    def _client(self):
        if self._sts is None:
            import boto3

            self._sts = boto3.client("sts")
        return self._sts

    def credentials(self, workspace: str, purpose: str = SERVE) -> dict:
        if not isinstance(workspace, str) or not _WORKSPACE_NAME.match(workspace):
            raise NoWorkspace(f"the tracking server reaches storage only for a workspace; "
                              f"got {workspace!r}")
        if purpose not in (SERVE, FREEZE):
            raise ValueError(f"unknown purpose {purpose!r}")
        key = (workspace, purpose)
        with self._lock:
            held = self._sessions.get(key)
            if held and held["Expiration"] - self._clock() > RENEW_BEFORE_SECONDS:
                return held
            response = self._client().assume_role(
                RoleArn=self.role_arn, RoleSessionName=f"mlflow-{purpose}-{workspace}"[:64],
                DurationSeconds=SESSION_SECONDS,
                Tags=[{"Key": WORKSPACE_TAG, "Value": workspace},
                      {"Key": PURPOSE_TAG, "Value": purpose}])["Credentials"]
            held = {"AccessKeyId": response["AccessKeyId"],
                    "SecretAccessKey": response["SecretAccessKey"],
                    "SessionToken": response["SessionToken"],
                    "Expiration": response["Expiration"].timestamp()}
            self._sessions[key] = held
            return held


_sessions: list = []  # the process's WorkspaceSessions, made on first use


def sessions() -> WorkspaceSessions:
    if not _sessions:
        role_arn = os.environ.get(WORKSPACE_ROLE_ENV, "")
        if not role_arn.startswith("arn:"):
            raise NoWorkspace(f"{WORKSPACE_ROLE_ENV} is not set: the tracking server has no "
                              "role to reach a workspace's storage with")
        _sessions.append(WorkspaceSessions(role_arn))
    return _sessions[0]


def client_for(workspace: str, purpose: str = SERVE):
    """An S3 client (MLflow's, with its endpoint and signing settings) whose credentials reach
    only `workspace`'s prefixes."""
    from mlflow.store.artifact.s3_artifact_repo import _get_s3_client

    c = sessions().credentials(workspace, purpose)
    return _get_s3_client(access_key_id=c["AccessKeyId"], secret_access_key=c["SecretAccessKey"],
                          session_token=c["SessionToken"])


def install() -> None:
    """Make every S3ArtifactRepository of this process use its workspace's session (once)."""
    from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository, _get_s3_client

    if getattr(S3ArtifactRepository, "_landing_zone_scoped", False):
        return
    original_init = S3ArtifactRepository.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # Where MLflow makes the repository: the request's (or the copy's) thread
        self._landing_zone_scope = (current_workspace(), _purpose.get())

    def scoped_client(self):
        if self._access_key_id is not None:  # credentials MLflow was given explicitly
            return _get_s3_client(access_key_id=self._access_key_id,
                                  secret_access_key=self._secret_access_key,
                                  session_token=self._session_token)
        workspace, purpose = getattr(self, "_landing_zone_scope", (None, SERVE))
        return client_for(workspace, purpose)

    S3ArtifactRepository.__init__ = __init__
    S3ArtifactRepository._get_s3_client = scoped_client
    S3ArtifactRepository._landing_zone_scoped = True
