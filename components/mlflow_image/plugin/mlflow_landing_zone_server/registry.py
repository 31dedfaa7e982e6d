"""Approved bytes cannot change: a registered version serves a frozen copy of its files.

MLflow's registry only points at the files a version came from: a run's or a logged model's
artifacts, which the team's contributors may rewrite at any time, and S3 keeps no link between
the version and those bytes. So when a model or prompt version is created this store copies
its files (server-side S3 copies) to

    <registry root>/workspaces/<team>/<model name>/v<version>-<random>/

and points the version's storage location there; `models:/name@alias`, `/model-versions/
get-artifact` and the UI read that copy. Only the tracking server's role writes under the
registry root (its task role, and the bucket policy denies everyone else: spec.accounts), so
after registration no contributor, reader or approver can change what the version serves,
whatever they do to the run's files.

Why a copy, and not the alternatives: S3 Object Lock protects object versions, not keys (a
new PUT still becomes what MLflow loads), and needs a bucket created with it; pinning object
versions in the version's source would need every MLflow client to download by VersionId,
which MLflow's S3 artifact repository does not do. A copy works with MLflow unchanged.

A version is a prompt only by MLflow's own rule: its source is one of MLflow's prompt
placeholders (a prompt's content is its tags; it has no files). Tags never make a version a
prompt, and `mlflow.prompt.is_prompt` cannot change on a model that has versions: every other
version is frozen, and a READY one always carries `landing_zone.frozen_from`. Only a READY
version is promoted (an alias or a stage): what an approver promotes is always a whole copy.

The source must be files of the version's own workspace: its run or logged model artifacts, or
(`models:/name/version`) another READY version of it; never a raw location under the registry
root, nor one that contains the copy's target. The source is listed once, before any copy, and
refused past the configured caps (MLFLOW_LZ_FREEZE_MAX_FILES, MLFLOW_LZ_FREEZE_MAX_BYTES) with
a clear error. The copy runs in the background, with a `freeze` session of the workspace role
(storage.py: IAM lets it write only that workspace's registry prefix): the version is
PENDING_REGISTRATION until it is done, then READY (or FAILED_REGISTRATION with the reason, never
READY), and MLflow's client waits for READY (as `register_model` and `create_model_version` do
by default). Each object is copied once (multipart above the transfer threshold, so objects over
5 GB copy too); a worker holds a copy under a lease it renews, and a copy whose worker stopped
is taken up by another once the lease ends, skipping the objects already copied.

Deleting a version or a registered model (an admin's act at the edge) is written to the
server's log as one JSON line with the caller's identity (the gateway's identity headers),
and the frozen files stay: nobody deletes under the registry root.

Two people (approval.py): every new version records its registrant (REGISTRANT_TAG), and a
promotion (the team's deploy alias; Staging or Production) by the same person is refused where
the team requires a second person. Tags under `landing_zone.` are the platform's. Every act on
a model version (registered and frozen, promoted, alias removed, stage changed, deleted) is
one event on the central bus (events.py); prompts' versions have no files to serve and send
none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import re
import socket
import threading
import time
import uuid
from urllib.parse import quote, urlparse

from mlflow.entities.model_registry import ModelVersionTag
from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException
from mlflow.prompt.constants import (
    _PROMPT_SOURCE_PLACEHOLDERS,
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

from . import approval, events as registry_events, storage
# s3://<bucket>/registry; spec.registry_events' kinds of event and the platform's tags
from ._spec import (
    ALIAS_REMOVED,
    DELETED,
    FROZEN_FROM_TAG,
    PLATFORM_TAG_PREFIX,
    PROMOTED,
    REGISTERED,
    REGISTRANT_TAG,
    REGISTRY_ROOT_ENV,
    STAGE_CHANGED,
)

# mlflow.server.constants.ARTIFACT_ROOT_ENV_VAR: `mlflow server --default-artifact-root`
ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"
# FROZEN_FROM_TAG: where a frozen version's files were copied from (a model version tag, shown
# in the UI). PLATFORM_TAG_PREFIX: tags the platform writes and clients never do (on a
# version's creation they are dropped: a copied version brings its source's, which describe
# the source; the store sets its own).
# What one version may hold: past either, registering it is refused before anything is copied.
MAX_FILES_ENV, MAX_BYTES_ENV = "MLFLOW_LZ_FREEZE_MAX_FILES", "MLFLOW_LZ_FREEZE_MAX_BYTES"
DEFAULT_MAX_FILES = 10_000
DEFAULT_MAX_BYTES = 100 * 1024 ** 3
# A worker holds a copy for this long and renews it while it copies; a copy whose worker
# stopped is taken up by another worker once its lease has ended.
LEASE_SECONDS = 300
_LEASE = re.compile(r"\[lease (?P<until>\d+) (?P<holder>[^\]]+)\]$")
# A prompt version's content is its tags (MLflow keeps no files for prompts): these never
# change once the version exists; its model configuration (mutable in MLflow) freezes once an
# approver promotes the version (an alias or a stage). A change is a new version.
FROZEN_TAGS = frozenset({PROMPT_TEXT_TAG_KEY, PROMPT_TYPE_TAG_KEY, RESPONSE_FORMAT_TAG_KEY,
                         IS_PROMPT_TAG_KEY, FROZEN_FROM_TAG})
FROZEN_WHEN_PROMOTED_TAGS = frozenset({PROMPT_MODEL_CONFIG_TAG_KEY})
STORAGE_LOCATION_MAX = 500  # SqlModelVersion.storage_location
TAG_VALUE_MAX = 5_000  # SqlModelVersionTag.value

PENDING = ModelVersionStatus.to_string(ModelVersionStatus.PENDING_REGISTRATION)
READY = ModelVersionStatus.to_string(ModelVersionStatus.READY)
FAILED = ModelVersionStatus.to_string(ModelVersionStatus.FAILED_REGISTRATION)

_logger = logging.getLogger(__name__)


_audit_logger = registry_events.audit_logger


def _s3_parts(uri: str):
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


_caller = approval.caller_headers  # the gateway's identity headers


def limit_from_env(env: str, default: int) -> int:
    """A positive whole-number setting of the tracking server's environment, or its default;
    a clear error naming the variable for anything else."""
    raw = os.environ.get(env, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise MlflowException(f"{env} must be a whole number; got {raw!r}") from None
    if value < 1:
        raise MlflowException(f"{env} must be at least 1; got {value}")
    return value


class FrozenVersionsStore(WorkspaceAwareSqlAlchemyStore):
    """MLflow's workspace-aware SQL registry store, whose versions serve frozen copies."""

    def __init__(self, db_uri, read_db_uri=None, *, registry_root: str, artifact_root: str,
                 s3_client=None, max_files: int = None, max_bytes: int = None,
                 transfer_config=None, resume: bool = True, list_page_size: int = 1000,
                 events=None, team_rules: dict = None):
        super().__init__(db_uri, read_db_uri=read_db_uri)
        # where the registry's acts go (events.py), and the teams' approval rules (approval.py)
        self.events = events or registry_events.sender_from_env()
        self.team_rules = approval.team_rules() if team_rules is None else team_rules
        self.registry_bucket, self.registry_key = _s3_parts(registry_root.rstrip("/"))
        self.artifact_bucket, self.artifact_key = _s3_parts(artifact_root.rstrip("/"))
        self._s3 = s3_client  # tests hand one in; the server uses its workspace's session
        self.max_files = max_files or limit_from_env(MAX_FILES_ENV, DEFAULT_MAX_FILES)
        self.max_bytes = max_bytes or limit_from_env(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)
        self.transfer_config = transfer_config
        self.list_page_size = list_page_size  # S3's own page (tests take smaller ones)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        if resume:
            self._resume_pending()
            threading.Thread(target=self._keep_resuming, name="freeze-resume",
                             daemon=True).start()

    # -- what a version may be made from ---------------------------------------------------

    def _workspace(self) -> str:
        return workspace_context.get_request_workspace() or DEFAULT_WORKSPACE_NAME

    def _artifacts_of(self, workspace: str) -> str:
        return f"s3://{self.artifact_bucket}/{self.artifact_key}/{WORKSPACES_DIR_NAME}/{workspace}/"

    def _registry_of(self, workspace: str) -> str:
        return f"s3://{self.registry_bucket}/{self.registry_key}/{WORKSPACES_DIR_NAME}/{workspace}/"

    def _version_location(self, name, version) -> str:
        """The frozen files of another version of this workspace (a version made from a
        version): only a READY one, never a prompt's placeholder."""
        found = self.get_model_version(name, version)
        if found.status != READY or found.source in _PROMPT_SOURCE_PLACEHOLDERS:
            raise MlflowException(
                f"Version {version} of {name!r} is not a frozen model version (status "
                f"{found.status}): a version is made from a READY one.",
                error_code=INVALID_PARAMETER_VALUE)
        return self.get_model_version_download_uri(name, version)

    def _resolve_source(self, source: str):
        """(the s3:// location of the files a new version is made from, whether it is another
        version's frozen copy)."""
        from mlflow.server.handlers import _get_tracking_store
        from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
        from mlflow.store.artifact.utils.models import _parse_model_uri

        scheme = urlparse(source).scheme
        if scheme == "runs":
            source_run_id, path = RunsArtifactRepository.parse_runs_uri(source)
            root = _get_tracking_store().get_run(source_run_id).info.artifact_uri
            return (posixpath.join(root, path) if path else root), False
        if scheme == "models":
            parsed = _parse_model_uri(source)
            if parsed.model_id is not None:
                return (_get_tracking_store().get_logged_model(parsed.model_id)
                        .artifact_location), False
            if parsed.alias is not None:
                version = self.get_model_version_by_alias(parsed.name, parsed.alias).version
            else:
                version = parsed.version
            return self._version_location(parsed.name, version), True
        return source, False

    def _checked_location(self, name: str, source: str) -> str:
        workspace = self._workspace()
        location, from_version = self._resolve_source(source)
        location = location.rstrip("/")
        allowed = [self._artifacts_of(workspace)]
        if from_version:  # resolved by the store itself from a READY version's record
            allowed.append(self._registry_of(workspace))
        segments = urlparse(location).path.split("/")
        inside = any(location.startswith(prefix) and len(location) > len(prefix)
                     for prefix in allowed)  # files below a prefix, not all of it
        target = self._model_folder(workspace, name)
        contains_target = target == location or target.startswith(location + "/")
        if ".." in segments or "." in segments or not inside or contains_target:
            raise MlflowException(
                f"A version registered in workspace {workspace!r} is made from that workspace's "
                f"own files, under {allowed[0]} (or from another of its versions, as "
                f"models:/<name>/<version>); {source!r} is at {location!r}. Log the model in "
                "one of this workspace's experiments and register it from there.",
                error_code=INVALID_PARAMETER_VALUE)
        return location

    def _model_folder(self, workspace: str, name: str) -> str:
        folder = quote(name, safe="")
        location = f"{self._registry_of(workspace)}{folder}"
        if len(location) + len("/v0000000000-0123456789ab") > STORAGE_LOCATION_MAX:
            # a long name with many escaped characters
            location = f"{self._registry_of(workspace)}{hashlib.sha256(name.encode()).hexdigest()}"
        return location

    def _frozen_location(self, workspace: str, name: str, version) -> str:
        return f"{self._model_folder(workspace, name)}/v{version}-{uuid.uuid4().hex[:12]}"

    # -- the files of a version -------------------------------------------------------------

    def _client(self, workspace: str, purpose: str = storage.SERVE):
        if self._s3 is not None:
            return self._s3
        return storage.client_for(workspace, purpose)

    def list_source(self, workspace: str, location: str) -> list:
        """Every object under `location`, listed once, before anything is copied: [(key, size)].
        Refused past the caps (nothing is created then)."""
        bucket, key = _s3_parts(location)
        objects, total = [], 0
        pages = self._client(workspace).get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{key}/", PaginationConfig={"PageSize": self.list_page_size})
        for page in pages:
            for item in page.get("Contents", []):
                objects.append((item["Key"], item["Size"]))
                total += item["Size"]
                if len(objects) > self.max_files or total > self.max_bytes:
                    raise MlflowException(
                        f"{location} holds more than a registered version may: at most "
                        f"{self.max_files} files and {self.max_bytes} bytes "
                        f"({MAX_FILES_ENV}, {MAX_BYTES_ENV} on the tracking server); "
                        f"counted {len(objects)} files, {total} bytes so far. Register a "
                        "folder with only the model's files.",
                        error_code=INVALID_PARAMETER_VALUE)
        if not objects:  # a single file (runs:/<id>/model.pkl) is an object, not a folder
            size = _size_of(self._client(workspace), bucket, key)
            if size is not None:
                objects.append((key, size))
        return objects

    def copy_files(self, workspace: str, source: str, target: str, objects=None,
                   progress=None):
        """Copy each listed object under `source` to `target` once, inside S3 (managed copies:
        multipart above the transfer threshold); an object already there with its size (a
        retried copy) is skipped. Return (files, bytes)."""
        source_bucket, source_key = _s3_parts(source)
        target_bucket, target_key = _s3_parts(target)
        if objects is None:
            objects = self.list_source(workspace, source)
        size = 0
        for done, (key, length) in enumerate(objects, 1):
            # the session's client, asked for each object: a long copy outlives a session
            s3 = self._client(workspace, storage.FREEZE)
            relative = posixpath.basename(key) if key == source_key else key[len(source_key) + 1:]
            destination = f"{target_key}/{relative}"
            if _size_of(s3, target_bucket, destination) != length:
                extra = {"Config": self.transfer_config} if self.transfer_config else {}
                s3.copy({"Bucket": source_bucket, "Key": key}, target_bucket, destination,
                        **extra)
            size += length
            if progress:
                progress(done, len(objects))
        return len(objects), size

    # -- creating a version -----------------------------------------------------------------

    def create_model_version(self, name, source, run_id=None, tags=None, run_link=None,
                             description=None, local_model_path=None, model_id=None):
        create = super().create_model_version
        tags = [t for t in tags or [] if not str(t.key).startswith(PLATFORM_TAG_PREFIX)]
        if source in _PROMPT_SOURCE_PLACEHOLDERS:  # MLflow's rule: its content is its tags
            created = create(name, source, run_id=run_id, tags=tags, run_link=run_link,
                             description=description, local_model_path=local_model_path,
                             model_id=model_id)
            if self._record_registrant(name, created.version):
                return self.get_model_version(name, created.version)
            return created
        workspace = self._workspace()
        location = self._checked_location(name, source)
        objects = self.list_source(workspace, location)
        created = create(name, source, run_id=run_id, tags=tags, run_link=run_link,
                         description=description, local_model_path=local_model_path,
                         model_id=model_id)
        self._record_registrant(name, created.version)
        frozen = self._frozen_location(workspace, name, created.version)
        super().set_model_version_tag(name, created.version,
                                      ModelVersionTag(FROZEN_FROM_TAG, location))
        self._set_state(name, created.version, PENDING,
                        self._lease_message(f"copying {len(objects)} files from {location}"),
                        storage_location=frozen)
        self._start_copy(workspace, name, created.version, location, frozen, objects)
        return self.get_model_version(name, created.version)

    def _set_state(self, name, version, status, message, storage_location=None):
        with self.ManagedSessionMaker(read_only=False) as session:
            row = self._get_sql_model_version(session, name, version)
            row.status = status
            row.status_message = message[:500] if message else None
            if storage_location is not None:
                row.storage_location = storage_location
            session.add(row)

    def _claim(self, workspace, name, version, expected_message, message) -> bool:
        """Take over a pending copy whose message is still `expected_message`, in one
        conditional UPDATE: of two workers that try at once, one gets it."""
        with self.ManagedSessionMaker(read_only=False) as session:
            claimed = (session.query(SqlModelVersion)
                       .filter(SqlModelVersion.workspace == workspace,
                               SqlModelVersion.name == name,
                               SqlModelVersion.version == version,
                               SqlModelVersion.status == PENDING,
                               SqlModelVersion.status_message == expected_message)
                       .update({SqlModelVersion.status_message: message[:500]},
                               synchronize_session=False))
        return claimed == 1

    def _lease_message(self, text: str) -> str:
        lease = f" [lease {int(time.time()) + LEASE_SECONDS} {self.holder}]"
        return text[:500 - len(lease)] + lease

    def _start_copy(self, workspace, name, version, source, target, objects=None):
        thread = threading.Thread(target=self._copy_and_mark,
                                  args=(workspace, name, version, source, target, objects),
                                  name=f"freeze {workspace}/{name}/{version}", daemon=True)
        thread.start()
        return thread

    def _copy_and_mark(self, workspace, name, version, source, target, objects=None):
        with storage.acting_for(workspace, storage.FREEZE):
            copied = ["the copy's first file"]
            stop = threading.Event()

            def renew():  # the lease, kept while one large object copies; the progress shown
                while not stop.wait(LEASE_SECONDS / 5):
                    if not self._set_while_held(name, version, PENDING, self._lease_message(
                            f"copied {copied[0]} from {source}")):
                        return

            def progress(done, total):
                copied[0] = f"{done} of {total} files"

            renewer = threading.Thread(target=renew, name=f"lease {name}/{version}",
                                       daemon=True)
            renewer.start()
            try:
                count, size = self.copy_files(workspace, source, target, objects, progress)
            except Exception as e:  # the version says why; nothing is half-served
                _logger.exception("freezing %s version %s of workspace %s failed",
                                  name, version, workspace)
                self._set_while_held(name, version, FAILED,
                                     f"Copying the version's files from {source} failed: {e}")
                return
            finally:
                stop.set()
            # No files is what MLflow allows too (a version of a logged model without any).
            # Only the worker that holds the copy marks it: one that lost its lease (another
            # took the copy up) never turns a version READY, nor touches one that is.
            if self._set_while_held(name, version, READY,
                                    f"{count} files ({size} bytes) frozen from {source}"):
                self._emit(REGISTERED, self.get_model_version(name, version))

    def _set_while_held(self, name, version, status, message) -> bool:
        """Set a pending version's status if this worker still holds its copy."""
        with self.ManagedSessionMaker(read_only=False) as session:
            row = self._get_sql_model_version(session, name, version)  # as MLflow scopes it
            changed = (session.query(SqlModelVersion)
                       .filter(SqlModelVersion.workspace == row.workspace,
                               SqlModelVersion.name == name,
                               SqlModelVersion.version == version,
                               SqlModelVersion.status == PENDING,
                               SqlModelVersion.status_message.like(f"% {self.holder}]"))
                       .update({SqlModelVersion.status: status,
                                SqlModelVersion.status_message: message[:500]},
                               synchronize_session=False))
        return changed == 1

    def _resume_pending(self):
        """Take up the copies whose worker stopped (their lease ended): each by one worker,
        which claims it first."""
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
                pending = [(r.workspace, r.name, r.version, source, r.storage_location,
                            r.status_message) for r, source in rows]
        except Exception:  # a fresh database: nothing to take up
            _logger.debug("no pending versions to take up", exc_info=True)
            return []
        taken = []
        for workspace, name, version, source, target, message in pending:
            lease = _LEASE.search(message or "")
            if lease and int(lease.group("until")) > time.time():
                continue  # a worker holds it
            if self._claim(workspace, name, version, message,
                           self._lease_message(f"resuming the copy from {source}")):
                taken.append(self._start_copy(workspace, name, version, source, target))
        return taken

    def _keep_resuming(self):
        while True:
            time.sleep(LEASE_SECONDS)
            self._resume_pending()

    # -- what may change on a model and its versions -------------------------------------------

    def set_registered_model_tag(self, name, tag):
        approval.refuse_platform_tag(tag.key, f"registered model {name!r}")
        self._refuse_prompt_flag_change(name, tag.key)
        super().set_registered_model_tag(name, tag)

    def delete_registered_model_tag(self, name, key):
        approval.refuse_platform_tag(key, f"registered model {name!r}")
        self._refuse_prompt_flag_change(name, key)
        super().delete_registered_model_tag(name, key)

    def _refuse_prompt_flag_change(self, name, key):
        if key != IS_PROMPT_TAG_KEY:
            return
        if self.get_registered_model(name).latest_versions:
            raise MlflowException(
                f"{name!r} has versions: whether it is a prompt ({IS_PROMPT_TAG_KEY}) cannot "
                "change now. Register a new model or prompt.",
                error_code=INVALID_PARAMETER_VALUE)

    def _refuse_unless_ready(self, name, version, act):
        found = self.get_model_version(name, version)
        if found.status != READY:
            raise MlflowException(
                f"Version {version} of {name!r} is {found.status} ({found.status_message}): "
                f"only a READY version, whose files are wholly frozen, can be {act}.",
                error_code=INVALID_PARAMETER_VALUE)

    def set_registered_model_alias(self, name, alias, version):
        self._refuse_unless_ready(name, version, "given an alias")
        rule = self._rule()
        if rule.is_promotion(alias=alias):
            self._refuse_self_promotion(rule, name, version, f"to its alias {alias!r}")
        super().set_registered_model_alias(name, alias, version)
        self._emit(PROMOTED, self.get_model_version(name, version), alias=alias,
                   approver=approval.caller())

    def delete_registered_model_alias(self, name, alias):
        try:
            version = self.get_model_version_by_alias(name, alias)
        except MlflowException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            version = None  # MLflow's own answer (nothing to remove) stands
        super().delete_registered_model_alias(name, alias)
        if version is not None:
            self._emit(ALIAS_REMOVED, version, alias=alias, approver=approval.caller())

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions):
        if str(stage).lower() not in ("none", "archived"):
            self._refuse_unless_ready(name, version, f"moved to {stage}")
        rule = self._rule()
        if rule.is_promotion(stage=stage):
            self._refuse_self_promotion(rule, name, version, f"to {stage}")
        moved = super().transition_model_version_stage(name, version, stage,
                                                       archive_existing_versions)
        self._emit(STAGE_CHANGED, moved, stage=moved.current_stage, approver=approval.caller())
        return moved

    # -- two people, and the registry's events -------------------------------------------------

    def _rule(self) -> "approval.TeamRule":
        return approval.rule_of(self._workspace(), self.team_rules)

    def _record_registrant(self, name, version) -> bool:
        """The caller as the version's registrant (none without the gateway's headers)."""
        registrant = approval.caller()
        if registrant:
            super().set_model_version_tag(name, version,
                                          ModelVersionTag(REGISTRANT_TAG, registrant[:TAG_VALUE_MAX]))
        return bool(registrant)

    def _refuse_self_promotion(self, rule, name, version, what):
        registrant = self.get_model_version(name, version).tags.get(REGISTRANT_TAG)
        approval.refuse_self_promotion(rule, self._workspace(), name, version, registrant,
                                       approval.caller(), what)

    def _emit(self, kind, version, location=None, **facts):
        """One registry act's event (a model version's: a prompt's serves no files);
        `location`: where its files are (read from the store unless given)."""
        if version.source in _PROMPT_SOURCE_PLACEHOLDERS:
            return None
        try:
            workspace = self._workspace()
            frozen = location or self.get_model_version_download_uri(version.name,
                                                                     version.version)
            if not str(frozen or "").startswith(self._registry_of(workspace)):
                frozen = None  # not (yet) a frozen copy: nothing to serve from
            return self.events.emit(kind, registry_events.detail(
                team=workspace, workspace=workspace, model=version.name,
                version=version.version, frozen_location=frozen,
                registrant=version.tags.get(REGISTRANT_TAG), **facts))
        except Exception:  # the act is done: an event that cannot even be logged never undoes it
            _logger.exception("the %s event of %s version %s could not be emitted", kind,
                              version.name, version.version)
            return None

    # -- a version's content tags ----------------------------------------------------------------

    def _refuse_frozen_tag(self, name, version, key):
        if str(key).startswith(PLATFORM_TAG_PREFIX):  # the platform's (approval.py)
            approval.refuse_platform_tag(key, f"version {version} of {name!r}")
            return
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
            row = self._get_sql_model_version(session, name, version)
            before = self._described(session, name, [row])
            gone = [(row.to_mlflow_entity(), row.storage_location)]
        super().delete_model_version(name, version)
        self._audit("model_version_deleted", name, before)
        self._emit_deleted(gone)

    def delete_registered_model(self, name):
        with self.ManagedSessionMaker() as session:
            rows = [v for v in self._get_registered_model(session, name).model_versions
                    if v.current_stage != STAGE_DELETED_INTERNAL]
            before = self._described(session, name, rows)
            gone = [(row.to_mlflow_entity(), row.storage_location) for row in rows]
        super().delete_registered_model(name)
        self._audit("registered_model_deleted", name, before)
        self._emit_deleted(gone)

    def _emit_deleted(self, versions):
        for version, location in versions:
            self._emit(DELETED, version, location, approver=approval.caller())


def _size_of(s3, bucket, key):
    """An object's size, or None where there is none."""
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


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
    if not os.environ.get(storage.WORKSPACE_ROLE_ENV, "").startswith("arn:"):
        raise MlflowException(
            f"The landing zone's tracking server needs {storage.WORKSPACE_ROLE_ENV}: the role "
            "it reaches one workspace's storage with (it holds no team's rights itself).")
    return FrozenVersionsStore(
        store_uri, read_db_uri or os.environ.get(READ_REPLICA_BACKEND_STORE_URI_ENV_VAR),
        registry_root=registry_root, artifact_root=artifact_root)
