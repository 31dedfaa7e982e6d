"""The route catalogue: every route `mlflow server` answers, in the release requirements.txt
pins, and its capability.

One row per (methods, path template). Templates are written as MLflow declares them
(`{name}` for one segment, `{name:path}` for several). The form says where MLflow mounts it:

- BOTH: under `/api` and `/ajax-api` (the SDK's and the browser's spelling of one handler);
- AJAX: under `/ajax-api` only (routes MLflow serves to its UI alone);
- ROOT: exactly the path given.

`tests/roles/test_catalogue.py` compares this table with the routes of the installed MLflow, both
ways, so an upgrade that adds, moves or drops a route fails until it is classified here.
"""

from dataclasses import dataclass

# Where MLflow mounts its handlers: the SDK's spelling and the browser's (its UI's). The edge
# gives the SDK's to SigV4 callers (spec.edge), the browser's to tokens.
SDK_PREFIX, BROWSER_PREFIX = "/api", "/ajax-api"
BOTH = (SDK_PREFIX, BROWSER_PREFIX)
AJAX = (BROWSER_PREFIX,)


def under(prefix: str, path: str) -> bool:
    """Whether `path` is `prefix` or below it (`/api`, `/api/...`; not `/apis`)."""
    return path == prefix or path.startswith(prefix + "/")
ROOT = ("",)


@dataclass(frozen=True)
class Route:
    capability: str
    method: str
    path: str  # a concrete template, e.g. /api/2.0/mlflow/runs/get


def _rows(capability, methods, path, form=BOTH):
    return tuple(
        Route(capability, method, prefix + path) for prefix in form for method in methods.split()
    )


_TABLE = (
    # --- the UI and the server's own status -------------------------------------------------
    ("public", "GET", "/", ROOT),
    ("public", "GET", "/static-files/{path:path}", ROOT),
    ("public", "GET", "/build/{filename:path}", ROOT),
    ("public", "GET", "/health", ROOT),
    ("public", "GET", "/version", ROOT),
    ("public", "GET", "/3.0/mlflow/server-info", BOTH),
    # UI telemetry: GET tells the UI whether telemetry is on; POST queues the UI's usage events
    # for MLflow's telemetry client. Every signed-in browser sends them, whatever its level.
    ("public", "GET POST", "/3.0/mlflow/ui-telemetry", AJAX),
    # --- experiments ------------------------------------------------------------------------
    ("read", "GET", "/2.0/mlflow/experiments/get", BOTH),
    ("read", "GET", "/2.0/mlflow/experiments/get-by-name", BOTH),
    ("read", "GET POST", "/2.0/mlflow/experiments/search", BOTH),
    ("read", "POST", "/2.0/mlflow/experiments/search-datasets", AJAX),
    # MLflow registers this misspelt path (no slash after 2.0) and answers it 501.
    ("read", "POST", "2.0mlflow/experiments/search-datasets", ("/api/", "/ajax-api/")),
    ("write-tracking", "POST", "/2.0/mlflow/experiments/create", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/experiments/update", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/experiments/delete", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/experiments/restore", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/experiments/set-experiment-tag", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/experiments/delete-experiment-tag", BOTH),
    # --- runs, metrics, params, tags --------------------------------------------------------
    ("read", "GET", "/2.0/mlflow/runs/get", BOTH),
    ("read", "POST", "/2.0/mlflow/runs/search", BOTH),
    ("read", "GET", "/2.0/mlflow/metrics/get-history", BOTH),
    ("read", "GET", "/2.0/mlflow/metrics/get-history-bulk", AJAX),
    ("read", "GET", "/2.0/mlflow/metrics/get-history-bulk-interval", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/create", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/update", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/delete", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/restore", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/log-metric", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/log-parameter", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/log-batch", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/log-model", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/log-inputs", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/outputs", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/set-tag", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/runs/delete-tag", BOTH),
    # Creates a run that records a prompt-lab session; it does not call a model itself.
    ("write-tracking", "POST", "/2.0/mlflow/runs/create-promptlab-run", AJAX),
    # --- artifacts --------------------------------------------------------------------------
    ("read", "GET", "/get-artifact", ROOT),
    ("read", "GET", "/model-versions/get-artifact", ROOT),
    ("read", "GET", "/2.0/mlflow/artifacts/list", BOTH),
    ("read", "POST", "/2.0/mlflow/artifacts/presigned-download-url", BOTH),
    ("read", "GET", "/2.0/mlflow-artifacts/artifacts", BOTH),
    ("read", "GET", "/2.0/mlflow-artifacts/artifacts/{artifact_path:path}", BOTH),
    ("read", "GET", "/2.0/mlflow-artifacts/presigned/{artifact_path:path}", BOTH),
    ("read", "GET", "/2.0/mlflow/get-trace-artifact", AJAX),
    ("read", "GET", "/3.0/mlflow/get-trace-artifact", AJAX),
    ("write-tracking", "POST", "/2.0/mlflow/artifacts/presigned-upload-url", BOTH),
    ("write-tracking", "PUT", "/2.0/mlflow-artifacts/artifacts/{artifact_path:path}", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow-artifacts/mpu/create/{artifact_path:path}", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow-artifacts/mpu/complete/{artifact_path:path}", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow-artifacts/mpu/abort/{artifact_path:path}", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/upload-artifact", AJAX),
    ("delete-artifacts", "DELETE", "/2.0/mlflow-artifacts/artifacts/{artifact_path:path}", BOTH),
    # --- logged models ----------------------------------------------------------------------
    ("read", "GET", "/2.0/mlflow/logged-models/{model_id}", BOTH),
    ("read", "POST", "/2.0/mlflow/logged-models/search", BOTH),
    ("read", "GET", "/2.0/mlflow/logged-models/{model_id}/artifacts/directories", BOTH),
    ("read", "GET", "/2.0/mlflow/logged-models/{model_id}/artifacts/files", AJAX),
    ("write-tracking", "POST", "/2.0/mlflow/logged-models", BOTH),
    # MLflow's client ends `register_model` with a PATCH of the logged model's tags (it adds
    # `mlflow.modelVersions`): registering needs it. IAM cannot tell that PATCH from the one of
    # `{model_id}` itself (a `*` spans `m-1/tags`), so both go with registering; finalizing a
    # logged model is the one tracking write a model approver gains.
    ("register", "PATCH", "/2.0/mlflow/logged-models/{model_id}", BOTH),
    ("write-tracking", "DELETE", "/2.0/mlflow/logged-models/{model_id}", BOTH),
    ("register", "PATCH", "/2.0/mlflow/logged-models/{model_id}/tags", BOTH),
    ("write-tracking", "DELETE", "/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/logged-models/{model_id}/params", BOTH),
    # --- traces and assessments -------------------------------------------------------------
    ("read", "GET", "/2.0/mlflow/traces", BOTH),
    ("read", "GET", "/2.0/mlflow/traces/{request_id}/info", BOTH),
    ("read", "GET", "/3.0/mlflow/traces/{trace_id}", BOTH),
    ("read", "GET", "/3.0/mlflow/traces/get", BOTH),
    ("read", "GET", "/3.0/mlflow/traces/batchGet", BOTH),
    ("read", "POST", "/3.0/mlflow/traces/batchGetInfos", BOTH),
    ("read", "POST", "/3.0/mlflow/traces/search", BOTH),
    ("read", "POST", "/3.0/mlflow/traces/metrics", BOTH),
    ("read", "POST", "/3.0/mlflow/traces/calculate-filter-correlation", BOTH),
    ("read", "GET", "/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}", BOTH),
    # MLflow answers these two 501; classified as reads because they only ever would read.
    ("read", "GET", "/2.0/mlflow/unified-traces", BOTH),
    ("read", "GET", "/2.0/mlflow/get-online-trace-details", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/traces", BOTH),
    ("write-tracking", "PATCH", "/2.0/mlflow/traces/{request_id}", BOTH),
    ("write-tracking", "PATCH DELETE", "/2.0/mlflow/traces/{request_id}/tags", BOTH),
    ("write-tracking", "PATCH DELETE", "/3.0/mlflow/traces/{trace_id}/tags", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/traces", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/traces/link-to-run", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/traces/link-prompts", BOTH),
    ("write-tracking", "POST", "/2.0/mlflow/traces/delete-traces", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/traces/delete-traces", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/traces/{trace_id}/assessments", BOTH),
    ("write-tracking", "PATCH DELETE", "/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}",
     BOTH),
    # OpenTelemetry ingest (OTLP/HTTP): span export from instrumented applications.
    ("write-tracking", "POST", "/v1/traces", ROOT),
    # --- evaluation datasets, issues, label schemas, review queues, scorers -----------------
    ("read", "GET", "/3.0/mlflow/datasets/{dataset_id}", BOTH),
    ("read", "GET POST", "/3.0/mlflow/datasets/search", BOTH),
    ("read", "GET", "/3.0/mlflow/datasets/{dataset_id}/records", BOTH),
    ("read", "GET", "/3.0/mlflow/datasets/{dataset_id}/experiment-ids", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/datasets/create", BOTH),
    ("write-tracking", "DELETE", "/3.0/mlflow/datasets/{dataset_id}", BOTH),
    ("write-tracking", "PATCH", "/3.0/mlflow/datasets/{dataset_id}/tags", BOTH),
    ("write-tracking", "DELETE", "/3.0/mlflow/datasets/{dataset_id}/tags/{key}", BOTH),
    ("write-tracking", "POST DELETE", "/3.0/mlflow/datasets/{dataset_id}/records", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/datasets/{dataset_id}/add-experiments", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/datasets/{dataset_id}/remove-experiments", BOTH),
    ("read", "GET", "/3.0/mlflow/issues/{issue_id}", BOTH),
    ("read", "POST", "/3.0/mlflow/issues/search", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/issues", BOTH),
    ("write-tracking", "PATCH", "/3.0/mlflow/issues/{issue_id}", BOTH),
    ("read", "GET", "/3.0/mlflow/label-schemas/get", BOTH),
    ("read", "GET", "/3.0/mlflow/label-schemas/get-by-name", BOTH),
    ("read", "GET", "/3.0/mlflow/label-schemas/list", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/label-schemas/create", BOTH),
    ("write-tracking", "PATCH", "/3.0/mlflow/label-schemas/update", BOTH),
    ("write-tracking", "DELETE", "/3.0/mlflow/label-schemas/delete", BOTH),
    ("read", "GET", "/3.0/mlflow/review-queues/get", BOTH),
    ("read", "GET", "/3.0/mlflow/review-queues/get-by-name", BOTH),
    ("read", "GET", "/3.0/mlflow/review-queues/list", BOTH),
    ("read", "GET", "/3.0/mlflow/review-queues/items/list", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/review-queues/create", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/review-queues/get-or-create-user", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/review-queues/update", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/review-queues/delete", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/review-queues/items/add", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/review-queues/items/remove", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/review-queues/items/set-status", BOTH),
    ("read", "GET", "/3.0/mlflow/scorers/list", BOTH),
    ("read", "GET", "/3.0/mlflow/scorers/versions", BOTH),
    ("read", "GET", "/3.0/mlflow/scorers/get", BOTH),
    ("read", "GET", "/3.0/mlflow/scorers/online-configs", BOTH),
    ("write-tracking", "POST", "/3.0/mlflow/scorers/register", BOTH),
    ("write-tracking", "DELETE", "/3.0/mlflow/scorers/delete", BOTH),
    # --- GenAI work that spends money or reaches other hosts --------------------------------
    # Online scoring runs judges on every new trace: a standing spend.
    ("invoke-genai", "PUT", "/3.0/mlflow/scorers/online-config", BOTH),
    ("invoke-genai", "POST", "/3.0/mlflow/scorer/invoke", AJAX),
    ("invoke-genai", "POST", "/3.0/mlflow/genai/evaluate/invoke", AJAX),
    ("invoke-genai", "POST", "/3.0/mlflow/issues/invoke", AJAX),
    # MLflow 3.18: re-anchors the next run of an experiment's scheduled issue detection (judges
    # run on its traces at each occurrence: a standing spend) after the UI saved the schedule's
    # tags. The cadence tag alone arms the dispatcher (within its next pass), so what keeps the
    # spend with invoke-genai is that every level holding write-tracking (experiment tags)
    # holds invoke-genai too (tests/roles/test_model.py); this route only says when.
    ("invoke-genai", "POST", "/3.0/mlflow/issues/schedule/state", AJAX),
    ("invoke-genai", "GET POST", "/2.0/mlflow/gateway-proxy", AJAX),
    ("invoke-genai", "POST", "/3.0/mlflow/prompt-optimization/jobs", BOTH),
    ("invoke-genai", "POST", "/3.0/mlflow/prompt-optimization/jobs/{job_id}/cancel", BOTH),
    ("invoke-genai", "DELETE", "/3.0/mlflow/prompt-optimization/jobs/{job_id}", BOTH),
    ("read", "GET", "/3.0/mlflow/prompt-optimization/jobs/{job_id}", BOTH),
    ("read", "GET POST", "/3.0/mlflow/prompt-optimization/jobs/search", BOTH),
    # Background jobs run server-side functions (judges, optimisers) on the caller's behalf.
    ("invoke-genai", "POST", "/3.0/jobs/", AJAX),
    ("invoke-genai", "PATCH", "/3.0/jobs/cancel/{job_id}", AJAX),
    ("invoke-genai", "PATCH", "/3.0/mlflow/jobs/cancel/{job_id}", AJAX),
    ("read", "GET", "/3.0/jobs/{job_id}", AJAX),
    ("read", "POST", "/3.0/jobs/search", AJAX),
    ("read", "GET", "/3.0/mlflow/jobs/{job_id}", AJAX),
    # The AI gateway's serving routes (MLflow answers 501 unless the gateway is enabled).
    ("invoke-genai", "POST", "/gateway/{endpoint_name}/mlflow/invocations", ROOT),
    ("invoke-genai", "POST", "/gateway/mlflow/v1/chat/completions", ROOT),
    ("invoke-genai", "GET", "/gateway/mlflow/v1/models", ROOT),
    ("invoke-genai", "POST", "/gateway/openai/v1/chat/completions", ROOT),
    ("invoke-genai", "POST", "/gateway/openai/v1/embeddings", ROOT),
    ("invoke-genai", "POST", "/gateway/openai/v1/responses", ROOT),
    ("invoke-genai", "POST", "/gateway/openai/v1/responses/compact", ROOT),
    ("invoke-genai", "POST", "/gateway/typesafe/v1/systemone", ROOT),
    ("invoke-genai", "POST", "/gateway/anthropic/v1/messages", ROOT),
    ("invoke-genai", "POST", "/gateway/gemini/v1beta/models/{endpoint_name}:generateContent",
     ROOT),
    ("invoke-genai", "POST",
     "/gateway/gemini/v1beta/models/{endpoint_name}:streamGenerateContent", ROOT),
    ("invoke-genai", "POST", "/gateway/proxy/{endpoint_name}/{path:path}", ROOT),
    # --- the model registry -----------------------------------------------------------------
    ("read", "GET", "/2.0/mlflow/registered-models/get", BOTH),
    ("read", "GET", "/2.0/mlflow/registered-models/search", BOTH),
    ("read", "GET POST", "/2.0/mlflow/registered-models/get-latest-versions", BOTH),
    ("read", "GET", "/2.0/mlflow/registered-models/alias", BOTH),
    ("read", "GET", "/2.0/mlflow/model-versions/get", BOTH),
    ("read", "GET", "/2.0/mlflow/model-versions/search", BOTH),
    ("read", "GET", "/2.0/mlflow/model-versions/get-download-uri", BOTH),
    # Registering (models and prompts alike: a prompt is a registered model) is tracking work:
    # create, describe, tag, add versions. `load_prompt` in an experiment tags the prompt with
    # it (set-tag). Promoting decides what production uses: aliases (a prompt's alias too),
    # stage transitions, and renames (a rename moves every `models:/name/...` reference).
    ("register", "POST", "/2.0/mlflow/registered-models/create", BOTH),
    ("register", "PATCH", "/2.0/mlflow/registered-models/update", BOTH),
    ("register", "POST", "/2.0/mlflow/registered-models/set-tag", BOTH),
    ("register", "DELETE", "/2.0/mlflow/registered-models/delete-tag", BOTH),
    ("register", "POST", "/2.0/mlflow/model-versions/create", BOTH),
    ("register", "PATCH", "/2.0/mlflow/model-versions/update", BOTH),
    ("register", "POST", "/2.0/mlflow/model-versions/set-tag", BOTH),
    ("register", "DELETE", "/2.0/mlflow/model-versions/delete-tag", BOTH),
    ("write-registry", "POST", "/2.0/mlflow/registered-models/rename", BOTH),
    ("write-registry", "POST DELETE", "/2.0/mlflow/registered-models/alias", BOTH),
    ("write-registry", "POST", "/2.0/mlflow/model-versions/transition-stage", BOTH),
    ("delete-registry", "DELETE", "/2.0/mlflow/registered-models/delete", BOTH),
    ("delete-registry", "DELETE", "/2.0/mlflow/model-versions/delete", BOTH),
    # --- the MCP server registry: a registry like the model registry ------------------------
    # MLflow routes these with `{name:path}` parameters and first-match order, so a server
    # named `a/tags/b` makes `DELETE .../mcp-servers/a/tags/b/versions/1` a version delete.
    # IAM cannot tell the two apart, so every DELETE here is one capability (admin's).
    ("read", "GET", "/3.0/mlflow/mcp-servers", BOTH),
    ("read", "GET", "/3.0/mlflow/mcp-servers/endpoints", BOTH),
    ("read", "GET", "/3.0/mlflow/mcp-servers/{name:path}", BOTH),
    ("read", "GET", "/3.0/mlflow/mcp-servers/{name:path}/versions", BOTH),
    ("read", "GET", "/3.0/mlflow/mcp-servers/{name:path}/versions/{version:path}", BOTH),
    ("read", "GET", "/3.0/mlflow/mcp-servers/{name:path}/endpoints", BOTH),
    ("read", "GET", "/3.0/mlflow/mcp-servers/{name:path}/endpoints/{endpoint_id}", BOTH),
    ("read", "GET", "/3.0/mlflow/mcp-servers/{name:path}/aliases/{alias:path}", BOTH),
    ("write-registry", "POST", "/3.0/mlflow/mcp-servers", BOTH),
    ("write-registry", "PATCH", "/3.0/mlflow/mcp-servers/{name:path}", BOTH),
    ("write-registry", "POST", "/3.0/mlflow/mcp-servers/{name:path}/versions", BOTH),
    ("write-registry", "PATCH", "/3.0/mlflow/mcp-servers/{name:path}/versions/{version:path}",
     BOTH),
    ("write-registry", "POST", "/3.0/mlflow/mcp-servers/{name:path}/versions/{version:path}/tags",
     BOTH),
    ("write-registry", "POST", "/3.0/mlflow/mcp-servers/{name:path}/endpoints", BOTH),
    ("write-registry", "PATCH", "/3.0/mlflow/mcp-servers/{name:path}/endpoints/{endpoint_id}",
     BOTH),
    ("write-registry", "POST", "/3.0/mlflow/mcp-servers/{name:path}/tags", BOTH),
    ("write-registry", "POST", "/3.0/mlflow/mcp-servers/{name:path}/aliases", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/mcp-servers/{name:path}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/mcp-servers/{name:path}/versions/{version:path}",
     BOTH),
    ("delete-registry", "DELETE",
     "/3.0/mlflow/mcp-servers/{name:path}/versions/{version:path}/tags/{key:path}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/mcp-servers/{name:path}/endpoints/{endpoint_id}",
     BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/mcp-servers/{name:path}/tags/{key:path}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/mcp-servers/{name:path}/aliases/{alias:path}",
     BOTH),
    # --- the skill registry (MLflow 3.18): agent skills ---------------------------------------
    # A skill's versions are instructions and scripts that agents load and run, from a git, OCI
    # or zip location the version names (the server records it and fetches nothing) or from an
    # upload (refused here: the server runs with --no-serve-artifacts). What a team's agents
    # run from outside the landing zone is its admin's to publish (`publish-skills`). Not an
    # approver's, as MCP servers are: held by approvers, these routes would take the authorizer
    # policy of a contributor who also approves to 10,135 characters, past the 10,000 its
    # tests keep it under (IAM's limit is 10,240); admin is the conservative side anyway.
    # Every DELETE is admin's too, as in the other registries. `{name}` is one segment that
    # never starts with `@`; `@{organization}/{name}` is the same skill under a namespace.
    ("read", "GET", "/3.0/mlflow/skills", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/{name}", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/{name}/versions", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/{name}/versions/{version}", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/{name}/aliases/{alias}", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/@{organization}/{name}", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/@{organization}/{name}/versions", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/@{organization}/{name}/versions/{version}", BOTH),
    ("read", "GET", "/3.0/mlflow/skills/@{organization}/{name}/aliases/{alias}", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/bulk-register", BOTH),
    ("publish-skills", "PATCH", "/3.0/mlflow/skills/{name}", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/{name}/versions", BOTH),
    ("publish-skills", "PATCH", "/3.0/mlflow/skills/{name}/versions/{version}", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/{name}/tags", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/{name}/versions/{version}/tags", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/{name}/aliases", BOTH),
    ("publish-skills", "PATCH", "/3.0/mlflow/skills/@{organization}/{name}", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/@{organization}/{name}/versions", BOTH),
    ("publish-skills", "PATCH", "/3.0/mlflow/skills/@{organization}/{name}/versions/{version}",
     BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/@{organization}/{name}/tags", BOTH),
    ("publish-skills", "POST",
     "/3.0/mlflow/skills/@{organization}/{name}/versions/{version}/tags", BOTH),
    ("publish-skills", "POST", "/3.0/mlflow/skills/@{organization}/{name}/aliases", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/{name}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/{name}/versions/{version}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/{name}/tags/{key:path}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/{name}/versions/{version}/tags/{key:path}",
     BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/{name}/aliases/{alias}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/@{organization}/{name}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/@{organization}/{name}/versions/{version}",
     BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/@{organization}/{name}/tags/{key:path}",
     BOTH),
    ("delete-registry", "DELETE",
     "/3.0/mlflow/skills/@{organization}/{name}/versions/{version}/tags/{key:path}", BOTH),
    ("delete-registry", "DELETE", "/3.0/mlflow/skills/@{organization}/{name}/aliases/{alias}",
     BOTH),
    # --- AI gateway configuration: secrets and what points at them --------------------------
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/secrets/create", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/secrets/get", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/secrets/update", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/secrets/delete", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/secrets/list", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/secrets/config", AJAX),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/endpoints/create", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/endpoints/get", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/endpoints/update", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/endpoints/delete", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/endpoints/list", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/endpoints/models/attach", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/endpoints/models/detach", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/endpoints/bindings/create", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/endpoints/bindings/delete", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/endpoints/bindings/list", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/endpoints/set-tag", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/endpoints/delete-tag", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/model-definitions/create", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/model-definitions/get", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/model-definitions/list", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/model-definitions/update", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/model-definitions/delete", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/budgets/create", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/budgets/get", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/budgets/update", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/budgets/delete", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/budgets/list", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/budgets/windows", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/guardrails/create", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/guardrails/get", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/guardrails/delete", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/guardrails/list", BOTH),
    ("admin-secrets", "POST", "/3.0/mlflow/gateway/guardrails/add-to-endpoint", BOTH),
    ("admin-secrets", "DELETE", "/3.0/mlflow/gateway/guardrails/remove-from-endpoint", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/guardrails/list-for-endpoint", BOTH),
    ("admin-secrets", "PATCH", "/3.0/mlflow/gateway/guardrails/update-config", BOTH),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/supported-providers", AJAX),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/supported-models", AJAX),
    ("admin-secrets", "GET", "/3.0/mlflow/gateway/provider-config", AJAX),
    # --- server configuration ---------------------------------------------------------------
    ("admin-server", "GET POST", "/2.0/mlflow/webhooks", BOTH),
    ("admin-server", "GET PATCH DELETE", "/2.0/mlflow/webhooks/{webhook_id}", BOTH),
    ("admin-server", "POST", "/2.0/mlflow/webhooks/{webhook_id}/test", BOTH),
    # Which workspaces exist: MLflow's UI lists them to offer a choice (the sign-in shell's
    # service worker cuts the list to the user's own; team names are no secret). Creating,
    # changing and deleting one is the platform's (levels.PLATFORM_CAPABILITIES).
    ("read", "GET", "/3.0/mlflow/workspaces", BOTH),
    ("read", "GET", "/3.0/mlflow/workspaces/{workspace_name}", BOTH),
    ("admin-server", "POST", "/3.0/mlflow/workspaces", BOTH),
    ("admin-server", "PATCH DELETE", "/3.0/mlflow/workspaces/{workspace_name}", BOTH),
    ("admin-server", "POST", "/3.0/mlflow/demo/generate", AJAX),
    ("admin-server", "POST", "/3.0/mlflow/demo/delete", AJAX),
    ("admin-server", "GET PUT", "/3.0/mlflow/assistant/config", AJAX),
    ("admin-server", "POST", "/3.0/mlflow/assistant/skills/install", AJAX),
    # --- the assistant ----------------------------------------------------------------------
    ("assistant", "POST", "/3.0/mlflow/assistant/message", AJAX),
    ("assistant", "GET", "/3.0/mlflow/assistant/sessions/{session_id}/stream", AJAX),
    ("assistant", "PATCH", "/3.0/mlflow/assistant/sessions/{session_id}", AJAX),
    ("assistant", "POST", "/3.0/mlflow/assistant/sessions/{session_id}/permission", AJAX),
    ("assistant", "POST", "/3.0/mlflow/assistant/sessions/{session_id}/tool-result", AJAX),
    ("assistant", "GET", "/3.0/mlflow/assistant/providers", AJAX),
    ("assistant", "GET", "/3.0/mlflow/assistant/providers/{provider}/health", AJAX),
    ("assistant", "GET", "/3.0/mlflow/assistant/providers/{provider}/models", AJAX),
    # GraphQL: MLflow's schema has queries and two search "mutations" that only read.
    ("read", "GET POST", "/graphql", ROOT),
)

CATALOGUE = tuple(route for row in _TABLE for route in _rows(*row))
