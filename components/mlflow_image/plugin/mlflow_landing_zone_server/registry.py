"""Approved bytes cannot change: a registered version serves a frozen copy of its files.

MLflow's registry only points at the files a version came from: a run's or a logged model's
artifacts, which the team's contributors may rewrite at any time, and S3 keeps no link between
the version and those bytes. So when a model or prompt version is created this store copies
its files (server-side S3 copies) to

    <registry root>/workspaces/<team>/<model name>/v<version>-<random>/

and points the version's storage location there; `models:/name@alias`, `/model-versions/
get-artifact` and the UI read that copy. Only the tracking server's role writes under the
registry root (its task role, and the bucket policy denies everyone else: contracts.accounts), so
after registration no contributor, reader or approver can change what the version serves,
whatever they do to the run's files.

Why a copy, and not the alternatives: S3 Object Lock protects object versions, not keys (a
new PUT still becomes what MLflow loads), and needs a bucket created with it; pinning object
versions in the version's source would need every MLflow client to download by VersionId,
which MLflow's S3 artifact repository does not do. A copy works with MLflow unchanged.

The copy runs in the background: the version is PENDING_REGISTRATION until it is done, then
READY (or FAILED_REGISTRATION with the reason), and MLflow's client waits for READY (as
`register_model` and `create_model_version` do by default). A copy cut short by a restart is
taken up again when a worker starts. The source must be files of the version's own workspace
(the server's role reads every team's files: it must not copy another team's bytes into a
workspace that cannot read them).

Deleting a version or a registered model (an admin's act at the edge) is written to the
server's log as one JSON line with the caller's identity (the gateway's identity headers),
and the frozen files stay: nobody deletes under the registry root.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import sys
import threading
import uuid
from urllib.parse import quote, urlparse

from mlflow.entities.model_registry import ModelVersionTag
from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException
from mlflow.prompt.constants import (
    IS_PROMPT_TAG_KEY,
    PROMPT_MODEL_CONFIG_TAG_KEY,
    PROMPT_TEXT_TAG_KEY,
    PROMPT_TYPE_TAG_KEY,
    RESPONSE_FORMAT_TAG_KEY,
)
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlModelVersionTag
from mlflow.store.model_registry.sqlalchemy_workspace_store import WorkspaceAwareSqlAlchemyStore
from mlflow.utils import workspace_context
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME, WORKSPACES_DIR_NAME

REGISTRY_ROOT_ENV = "MLFLOW_LZ_REGISTRY_ROOT"
# mlflow.server.constants.ARTIFACT_ROOT_ENV_VAR: `mlflow server --default-artifact-root`
ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"
# Where a frozen version's files were copied from (a model version tag, shown in the UI).
FROZEN_FROM_TAG = "landing_zone.frozen_from"
# The gateway's identity headers (contracts.edge.IDENTITY_HEADER_NAMES; a test holds them equal).
IDENTITY_HEADERS = ("X-MLflow-Caller-Arn", "X-MLflow-User", "X-MLflow-Levels")
# A prompt version's content is its tags (MLflow keeps no files for prompts): these never
# change once the version exists; its model configuration (mutable in MLflow) freezes once an
# approver promotes the version (an alias or a stage). A change is a new version.
FROZEN_TAGS = frozenset({PROMPT_TEXT_TAG_KEY, PROMPT_TYPE_TAG_KEY, RESPONSE_FORMAT_TAG_KEY,
                         IS_PROMPT_TAG_KEY, FROZEN_FROM_TAG})
FROZEN_WHEN_PROMOTED_TAGS = frozenset({PROMPT_MODEL_CONFIG_TAG_KEY})
STORAGE_LOCATION_MAX = 500  # SqlModelVersion.storage_location

PENDING = ModelVersionStatus.to_string(ModelVersionStatus.PENDING_REGISTRATION)
READY = ModelVersionStatus.to_string(ModelVersionStatus.READY)
FAILED = ModelVersionStatus.to_string(ModelVersionStatus.FAILED_REGISTRATION)

_logger = logging.getLogger(__name__)


def _audit_logger() -> logging.Logger:
    """One JSON line per audited act on stderr (CloudWatch on Fargate), whatever the server's
    log configuration says about other loggers."""
    logger = logging.getLogger("mlflow_landing_zone.audit")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def _s3_parts(uri: str):
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _caller() -> dict:
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - Flask comes with MLflow's server
        return {}
    if not has_request_context():
        return {}
    return {name: request.headers.get(name, "") for name in IDENTITY_HEADERS}


class FrozenVersionsStore(WorkspaceAwareSqlAlchemyStore):
    """MLflow's workspace-aware SQL registry store, whose versions serve frozen copies."""

    def __init__(self, db_uri, read_db_uri=None, *, registry_root: str, artifact_root: str,
                 s3_client=None):
        super().__init__(db_uri, read_db_uri=read_db_uri)
        self.registry_bucket, self.registry_key = _s3_parts(registry_root.rstrip("/"))
        self.artifact_bucket, self.artifact_key = _s3_parts(artifact_root.rstrip("/"))
        self._s3 = s3_client
        self._resume_pending()

    # -- what a version may be made from ---------------------------------------------------

    def _workspace(self) -> str:
        return workspace_context.get_request_workspace() or DEFAULT_WORKSPACE_NAME

    def _allowed_prefixes(self, workspace: str) -> list:
        """The s3:// prefixes a version of `workspace` may be copied from: its artifacts and
        its own frozen versions (a version made from another version)."""
        return [f"s3://{self.artifact_bucket}/{self.artifact_key}/{WORKSPACES_DIR_NAME}/"
                f"{workspace}/",
                f"s3://{self.registry_bucket}/{self.registry_key}/{WORKSPACES_DIR_NAME}/"
                f"{workspace}/"]

    def _resolve_source(self, source: str, run_id=None) -> str:
        """The s3:// location of the files a new version is made from."""
        from mlflow.server.handlers import _get_tracking_store
        from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
        from mlflow.store.artifact.utils.models import _parse_model_uri

        scheme = urlparse(source).scheme
        if scheme == "runs":
            source_run_id, path = RunsArtifactRepository.parse_runs_uri(source)
            root = _get_tracking_store().get_run(source_run_id).info.artifact_uri
            return posixpath.join(root, path) if path else root
        if scheme == "models":
            parsed = _parse_model_uri(source)
            if parsed.model_id is not None:
                return _get_tracking_store().get_logged_model(parsed.model_id).artifact_location
            if parsed.alias is not None:
                version = self.get_model_version_by_alias(parsed.name, parsed.alias).version
            else:
                version = parsed.version
            return self.get_model_version_download_uri(parsed.name, version)
        return source

    def _checked_location(self, source: str, run_id=None) -> str:
        workspace = self._workspace()
        location = self._resolve_source(source, run_id).rstrip("/")
        allowed = self._allowed_prefixes(workspace)
        segments = urlparse(location).path.split("/")
        inside = any(location.startswith(prefix) and len(location) > len(prefix)
                     for prefix in allowed)  # files below a prefix, not all of it
        if ".." in segments or "." in segments or not inside:
            raise MlflowException(
                f"A version registered in workspace {workspace!r} is made from that workspace's "
                f"own files, under {' or '.join(allowed)}; {source!r} is at {location!r}. "
                "Log the model in one of this workspace's experiments and register it from "
                "there.", error_code=INVALID_PARAMETER_VALUE)
        return location

    def _frozen_location(self, workspace: str, name: str, version) -> str:
        leaf = f"v{version}-{uuid.uuid4().hex[:12]}"
        base = f"s3://{self.registry_bucket}/{self.registry_key}/{WORKSPACES_DIR_NAME}/{workspace}"
        location = f"{base}/{quote(name, safe='')}/{leaf}"
        if len(location) > STORAGE_LOCATION_MAX:  # a long name with many escaped characters
            location = f"{base}/{hashlib.sha256(name.encode()).hexdigest()}/{leaf}"
        return location

    # -- creating a version -----------------------------------------------------------------

    def _is_prompt(self, name, tags) -> bool:
        if any(t.key == IS_PROMPT_TAG_KEY and str(t.value).lower() == "true"
               for t in tags or []):
            return True
        return self.get_registered_model(name)._is_prompt()

    def create_model_version(self, name, source, run_id=None, tags=None, run_link=None,
                             description=None, local_model_path=None, model_id=None):
        create = super().create_model_version
        if self._is_prompt(name, tags):  # its content is in its tags (see FROZEN_TAGS)
            return create(name, source, run_id=run_id, tags=tags, run_link=run_link,
                          description=description, local_model_path=local_model_path,
                          model_id=model_id)
        location = self._checked_location(source, run_id)
        created = create(name, source, run_id=run_id, tags=tags, run_link=run_link,
                         description=description, local_model_path=local_model_path,
                         model_id=model_id)
        workspace = self._workspace()
        frozen = self._frozen_location(workspace, name, created.version)
        super().set_model_version_tag(name, created.version,
                                      ModelVersionTag(FROZEN_FROM_TAG, location))
        self._set_state(name, created.version, PENDING, f"copying the files from {location}",
                        storage_location=frozen)
        self._start_copy(workspace, name, created.version, location, frozen)
        return self.get_model_version(name, created.version)

    def _set_state(self, name, version, status, message, storage_location=None):
        with self.ManagedSessionMaker(read_only=False) as session:
            row = self._get_sql_model_version(session, name, version)
            row.status = status
            row.status_message = message[:500] if message else None
            if storage_location is not None:
                row.storage_location = storage_location
            session.add(row)

    def _start_copy(self, workspace, name, version, source, target):
        thread = threading.Thread(target=self._copy_and_mark,
                                  args=(workspace, name, version, source, target),
                                  name=f"freeze {workspace}/{name}/{version}", daemon=True)
        thread.start()
        return thread

    def _copy_and_mark(self, workspace, name, version, source, target):
        with workspace_context.ServerWorkspaceContext(workspace):
            try:
                count, size = self.copy_files(source, target)
            except Exception as e:  # the version says why; nothing is half-served
                _logger.exception("freezing %s version %s of workspace %s failed",
                                  name, version, workspace)
                self._set_state(name, version, FAILED,
                                f"Copying the version's files from {source} failed: {e}")
                return
            # No files is what MLflow allows too (a version of a logged model without any)
            self._set_state(name, version, READY,
                            f"{count} files ({size} bytes) frozen from {source}")

    def _client(self):
        if self._s3 is None:
            from mlflow.store.artifact.s3_artifact_repo import _get_s3_client

            self._s3 = _get_s3_client()
        return self._s3

    def copy_files(self, source: str, target: str):
        """Copy every object under `source` to `target` inside S3 (managed copies: multipart
        for large objects); return (files, bytes)."""
        s3 = self._client()
        source_bucket, source_key = _s3_parts(source)
        target_bucket, target_key = _s3_parts(target)
        count = size = 0
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=source_bucket,
                                                               Prefix=f"{source_key}/")
        for page in pages:
            for item in page.get("Contents", []):
                relative = item["Key"][len(source_key) + 1:]
                s3.copy({"Bucket": source_bucket, "Key": item["Key"]}, target_bucket,
                        f"{target_key}/{relative}")
                count, size = count + 1, size + item["Size"]
        return count, size

    def _resume_pending(self):
        """Take up the copies that a stopped worker left PENDING (copies are idempotent: two
        workers that both take one up write the same bytes)."""
        prefix = f"s3://{self.registry_bucket}/{self.registry_key}/"
        try:
            with self.ManagedSessionMaker() as session:
                rows = (session.query(SqlModelVersion, SqlModelVersionTag.value)
                        .join(SqlModelVersionTag,
                              (SqlModelVersionTag.name == SqlModelVersion.name)
                              & (SqlModelVersionTag.version == SqlModelVersion.version)
                              & (SqlModelVersionTag.workspace == SqlModelVersion.workspace))
                        .filter(SqlModelVersion.status == PENDING,
                                SqlModelVersionTag.key == FROZEN_FROM_TAG,
                                SqlModelVersion.storage_location.startswith(prefix))
                        .all())
                pending = [(r.workspace, r.name, r.version, source, r.storage_location)
                           for r, source in rows]
        except Exception:  # a fresh database: nothing to take up
            _logger.debug("no pending versions to take up", exc_info=True)
            return
        for args in pending:
            self._start_copy(*args)

    # -- a version's content tags ----------------------------------------------------------------

    def _refuse_frozen_tag(self, name, version, key):
        if key in FROZEN_TAGS:
            why = "it is part of what the version serves"
        elif key in FROZEN_WHEN_PROMOTED_TAGS:
            current = self.get_model_version(name, version)
            if not current.aliases and current.current_stage in (None, "", "None"):
                return
            why = "the version has been promoted (an alias or a stage)"
        else:
            return
        raise MlflowException(
            f"Version {version} of {name!r} is frozen: its tag {key!r} cannot change because "
            f"{why}. Register a new version with the change.",
            error_code=INVALID_PARAMETER_VALUE)

    def set_model_version_tag(self, name, version, tag):
        self._refuse_frozen_tag(name, version, tag.key)
        super().set_model_version_tag(name, version, tag)

    def delete_model_version_tag(self, name, version, key):
        self._refuse_frozen_tag(name, version, key)
        super().delete_model_version_tag(name, version, key)

    # -- deleting (an admin's act): audit-logged ----------------------------------------------

    def _audit(self, event, name, versions):
        _audit_logger().info(json.dumps({
            "audit": event, "workspace": self._workspace(), "name": name,
            "versions": versions, "caller": _caller()}, sort_keys=True))

    def _described(self, session, name, rows) -> list:
        """What the audit line keeps of each version about to be deleted."""
        aliases = {}
        for alias in self._get_registered_model(session, name).registered_model_aliases:
            aliases.setdefault(alias.version, []).append(alias.alias)
        return [{"version": row.version, "storage_location": row.storage_location,
                 "source": row.source, "run_id": row.run_id, "stage": row.current_stage,
                 "aliases": sorted(aliases.get(row.version, []))} for row in rows]

    def delete_model_version(self, name, version):
        with self.ManagedSessionMaker() as session:
            before = self._described(session, name,
                                     [self._get_sql_model_version(session, name, version)])
        super().delete_model_version(name, version)
        self._audit("model_version_deleted", name, before)

    def delete_registered_model(self, name):
        with self.ManagedSessionMaker() as session:
            rows = [v for v in self._get_registered_model(session, name).model_versions
                    if v.current_stage != STAGE_DELETED_INTERNAL]
            before = self._described(session, name, rows)
        super().delete_registered_model(name)
        self._audit("registered_model_deleted", name, before)


def store_factory(store_uri, read_db_uri=None):
    """The registry store `mlflow server --app-name landing-zone` uses for a database URI."""
    from mlflow.server.constants import READ_REPLICA_BACKEND_STORE_URI_ENV_VAR

    registry_root = os.environ.get(REGISTRY_ROOT_ENV, "")
    artifact_root = os.environ.get(ARTIFACT_ROOT_ENV, "")
    if not registry_root.startswith("s3://") or not artifact_root.startswith("s3://"):
        raise MlflowException(
            f"The landing zone's registry needs {REGISTRY_ROOT_ENV} (s3://<bucket>/registry) "
            f"and --default-artifact-root as s3:// URIs; got {registry_root!r} and "
            f"{artifact_root!r}.")
    return FrozenVersionsStore(
        store_uri, read_db_uri or os.environ.get(READ_REPLICA_BACKEND_STORE_URI_ENV_VAR),
        registry_root=registry_root, artifact_root=artifact_root)
