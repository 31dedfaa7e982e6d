"""MLflow's workspace-aware tracking store, with the references and locations it takes from
clients kept inside the request's workspace.

MLflow (since 3.17) hides another workspace's runs, experiments and logged models from a direct
read (RESOURCE_DOES_NOT_EXIST even by id), but takes their ids as references: a run of team-b
could record team-a's logged model as its input or output, a logged model name team-a's run as
its source, a dataset link a team-a experiment. Here every such reference is read first, in the
request's workspace, so a foreign id is RESOURCE_DOES_NOT_EXIST exactly as a direct read is.

A trace's storage locations (`mlflow.artifactLocation`, where its `traces.json` and
attachments are; the spans and archive locations) are the server's to set: MLflow refuses two
of them on set-tag, but takes all three from a client's start-trace, the third on set-tag, and
any of them as a root span's `mlflow.traceTag.*` attribute over OTLP. Each is refused here.
MLflow 3.18 refuses all three on set-tag itself, and drops them, silently, before its store
sees them elsewhere (start-trace, v2 start and end, and OTLP root spans): `install()` has its
handlers hand those to this store's refusal instead, so a client still learns why, with a 400,
and nothing of the request is stored.

Spans name their trace by id. MLflow (3.17, 3.18) looks the id up in the request's workspace
only; an id that lives in another workspace is then neither found nor creatable (the row
exists), and MLflow drops the spans with a warning in the server's log while the client gets
200. Here such a batch is refused, with a 400 that says why, and nothing of it is stored.

Deleting a skill or a skill version (MLflow 3.18's skill registry, an admin's act) writes one
audit line, as deleting a registered model or version does (registry.py): the workspace, the
skill, each deleted version's recorded source and aliases, and the caller's identity headers.
"""

from __future__ import annotations

import json
import os

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.tracking.dbmodels.models import SqlTraceInfo
from mlflow.store.tracking.sqlalchemy_workspace_store import WorkspaceAwareSqlAlchemyStore
from mlflow.tracing.constant import SpanAttributeKey
from mlflow.utils import workspace_context
from mlflow.utils.mlflow_tags import (
    MLFLOW_ARTIFACT_LOCATION,
    MLFLOW_TRACE_ARCHIVE_LOCATION,
    MLFLOW_TRACE_SPANS_LOCATION,
)
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from . import approval, events

_UNSET = object()  # an argument not given (MLflow's stores tell it from None)

# The trace tags that name storage: the server's alone.
STORAGE_TAGS = frozenset({MLFLOW_ARTIFACT_LOCATION, MLFLOW_TRACE_SPANS_LOCATION,
                          MLFLOW_TRACE_ARCHIVE_LOCATION})


def _refuse_storage_tags(keys, where: str) -> None:
    named = sorted(set(keys or ()) & STORAGE_TAGS)
    if named:
        raise MlflowException(
            f"Trace tag {named[0]!r} names where the trace's data is stored: only the tracking "
            f"server sets it, not {where}.", error_code=INVALID_PARAMETER_VALUE)


class WorkspaceBoundStore(WorkspaceAwareSqlAlchemyStore):
    """References by id resolve in the request's workspace; trace storage tags are the
    server's."""

    # -- references by id -------------------------------------------------------------------

    def _models_visible(self, models) -> None:
        for model in models or ():
            self.get_logged_model(model.model_id)  # RESOURCE_DOES_NOT_EXIST if foreign

    def _experiments_visible(self, experiment_ids) -> None:
        for experiment_id in experiment_ids or ():
            self.get_experiment(experiment_id)

    def log_inputs(self, run_id, datasets=None, models=None):
        self._models_visible(models)
        return super().log_inputs(run_id, datasets=datasets, models=models)

    def log_outputs(self, run_id, models):
        self._models_visible(models)
        return super().log_outputs(run_id, models)

    def create_logged_model(self, experiment_id, name=None, source_run_id=None, tags=None,
                            params=None, model_type=None):
        if source_run_id:
            self.get_run(source_run_id)
        return super().create_logged_model(experiment_id, name=name,
                                           source_run_id=source_run_id, tags=tags,
                                           params=params, model_type=model_type)

    def create_dataset(self, name, tags=None, experiment_ids=None):
        self._experiments_visible(experiment_ids)
        return super().create_dataset(name, tags=tags, experiment_ids=experiment_ids)

    def add_dataset_to_experiments(self, dataset_id, experiment_ids):
        self._experiments_visible(experiment_ids)
        return super().add_dataset_to_experiments(dataset_id, experiment_ids)

    def link_traces_to_run(self, trace_ids, run_id):
        self.get_run(run_id)
        return super().link_traces_to_run(trace_ids, run_id)

    # -- where a trace's data is ------------------------------------------------------------

    def start_trace(self, trace_info):
        _refuse_storage_tags(trace_info.tags, "a client starting the trace")
        return super().start_trace(trace_info)

    def set_trace_tag(self, trace_id, key, value):
        _refuse_storage_tags([key], "a client")
        return super().set_trace_tag(trace_id, key, value)

    def deprecated_start_trace_v2(self, experiment_id, timestamp_ms, request_metadata, tags):
        _refuse_storage_tags(tags, "a client starting the trace")
        return super().deprecated_start_trace_v2(experiment_id, timestamp_ms, request_metadata,
                                                 tags)

    def deprecated_end_trace_v2(self, request_id, timestamp_ms, status, request_metadata, tags):
        _refuse_storage_tags(tags, "a client ending the trace")
        return super().deprecated_end_trace_v2(request_id, timestamp_ms, status,
                                               request_metadata, tags)

    def log_spans(self, location, spans, tracking_uri=None):
        prefix = SpanAttributeKey.TRACE_TAG_PREFIX
        for span in spans or ():
            attributes = getattr(span, "attributes", None) or {}
            _refuse_storage_tags([k[len(prefix):] for k in attributes if k.startswith(prefix)],
                                 "a span's attributes")
        elsewhere = self._trace_ids_outside_workspace({span.trace_id for span in spans or ()})
        if elsewhere:
            raise MlflowException(
                f"Trace {elsewhere[0]!r} is not one of this workspace's traces, and its id is "
                "taken: spans can only be added to a trace of this workspace. Nothing of this "
                "batch was stored; send the spans under a new trace id.",
                error_code=INVALID_PARAMETER_VALUE)
        return super().log_spans(location, spans, tracking_uri=tracking_uri)

    # -- deleting skills (MLflow 3.18; an admin's act): audit-logged, as the registry's -------

    def _audit_skill(self, event, name, organization, versions):
        events.audit_logger().info(json.dumps({
            "audit": event,
            "workspace": workspace_context.get_request_workspace() or DEFAULT_WORKSPACE_NAME,
            "name": name, "organization": organization, "versions": versions,
            "caller": approval.caller_headers()}, sort_keys=True))

    @staticmethod
    def _skill_version_described(v) -> dict:
        """What the audit line keeps of a skill version about to be deleted: where its content
        is, as recorded, and what named it."""
        source = v.source.to_dict() if hasattr(v.source, "to_dict") else v.source
        return {"version": v.version, "source": source,
                "source_type": getattr(v.source_type, "value", v.source_type),
                "digest": v.digest, "status": getattr(v.status, "value", v.status),
                "aliases": sorted(v.aliases or [])}

    def _skill_versions_described(self, name, organization) -> list:
        described, token = [], None
        while True:
            page = self.search_skill_versions(name, organization=organization,
                                              page_token=token)
            described += [self._skill_version_described(v) for v in page]
            token = page.token
            if not token:
                return described

    def delete_skill_and_collect_artifacts(self, name, organization=""):
        before = self._skill_versions_described(name, organization)
        owned = super().delete_skill_and_collect_artifacts(name, organization)
        self._audit_skill("skill_deleted", name, organization, before)
        return owned

    def update_skill_version(self, name, version, organization="", status=_UNSET, **kwargs):
        # a draft or deprecated version's status set to `deleted` is its delete by another
        # route (PATCH, not DELETE): the same line
        deleting = str(getattr(status, "value", status)).lower() == "deleted"
        before = [self._skill_version_described(
            self.get_skill_version(name, version, organization=organization))] if deleting else []
        if status is not _UNSET:  # MLflow's own default (unchanged) when the caller gave none
            kwargs["status"] = status
        updated = super().update_skill_version(name, version, organization=organization,
                                               **kwargs)
        if deleting:
            self._audit_skill("skill_version_deleted", name, organization, before)
        return updated

    def delete_skill_version(self, name, version, organization="", last_updated_by=None):
        before = [self._skill_version_described(
            self.get_skill_version(name, version, organization=organization))]
        super().delete_skill_version(name, version, organization=organization,
                                     last_updated_by=last_updated_by)
        self._audit_skill("skill_version_deleted", name, organization, before)

    def _trace_ids_outside_workspace(self, trace_ids) -> list:
        """Which of these trace ids exist, but not in the request's workspace."""
        if not trace_ids:
            return []
        ids = sorted(trace_ids)
        with self.ManagedSessionMaker() as session:
            existing = {row[0] for row in session.query(SqlTraceInfo.request_id)
                        .filter(SqlTraceInfo.request_id.in_(ids))}
            if not existing:
                return []
            here = {row.request_id for row in self._trace_query(session)
                    .filter(SqlTraceInfo.request_id.in_(sorted(existing)))}
        return sorted(existing - here)


def install() -> None:
    """Refuse, not drop, a client's storage tags where MLflow 3.18's handlers drop them (no-op on
    a MLflow without that step). The other tags MLflow drops (an archival failure, which is the
    server's bookkeeping, not a location) are still dropped as MLflow does."""
    from mlflow.server import handlers

    drop = getattr(handlers, "_drop_blocked_trace_tags", None)
    if drop is None or getattr(drop, "landing_zone", False):
        return

    def refuse_then_drop(tags):
        _refuse_storage_tags(tags, "a client starting or ending the trace")
        return drop(tags)

    refuse_then_drop.landing_zone = True
    handlers._drop_blocked_trace_tags = refuse_then_drop
    try:
        from mlflow.server import otel_api
    except ImportError:  # pragma: no cover - the server's FastAPI app brings it
        return
    # OTLP: MLflow pops these from a root span's attributes; kept, the store refuses the batch
    blocked = getattr(otel_api, "_HANDLER_BLOCKED_TRACE_TAGS", None)
    if blocked is not None:
        otel_api._HANDLER_BLOCKED_TRACE_TAGS = frozenset(blocked) - STORAGE_TAGS


def store_factory(store_uri, artifact_uri=None):
    """The tracking store `mlflow server --app-name landing-zone` uses for a database URI (with
    workspaces on, as the landing zone runs MLflow); the artifact root as MLflow's own factory
    finds it."""
    from mlflow.server.constants import ARTIFACT_ROOT_ENV_VAR

    return WorkspaceBoundStore(store_uri, artifact_uri or os.environ.get(ARTIFACT_ROOT_ENV_VAR))
