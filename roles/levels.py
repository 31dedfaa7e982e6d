"""Access levels and the capabilities each one holds.

Read this table with the route catalogue (`catalogue.py`): a route belongs to one capability,
a level holds a set of capabilities, and nothing else decides who may call what.
"""

LEVELS = ("reader", "contributor", "model-approver", "admin")

# Routes that MLflow serves but the catalogue does not name. Only admin holds it, so an MLflow
# upgrade that adds routes fails closed until somebody classifies them (the tests insist).
UNCLASSIFIED = "unclassified"

CAPABILITIES = {
    "public": "What a signed-in browser needs to load the app: the UI shell, its static files, "
    "health, version and server info.",
    "read": "Read everything that is not a secret: experiments, runs, metrics, params, tags, "
    "artifacts, logged models, datasets, traces, the registry. Includes POST routes that only "
    "search (runs/search, traces/search, /graphql, ...).",
    "write-tracking": "Write tracking data: experiments, runs, metrics, params, tags, artifacts, "
    "traces and assessments, logged models, evaluation datasets, labelling queues, scorers.",
    "register": "Register models and prompts (MLflow stores a prompt as a registered model): "
    "create registered models and versions, set their descriptions and tags, and the tag "
    "MLflow's client puts on a logged model it registers. Registering is tracking work; "
    "promoting it is approval.",
    "write-registry": "Promote in the registry: aliases (of models and of prompts), stage "
    "transitions and renames, which decide what production uses; the MCP server registry "
    "likewise. The tracking server refuses the team's deploy alias (default `champion`) and "
    "Staging or Production to the person who registered the version, unless the team's "
    "`requireSecondPerson` is off; tags under `landing_zone.` are the platform's at every "
    "level.",
    "publish-skills": "Publish agent skills (MLflow's skill registry): skills, their versions, "
    "tags and aliases. A skill is instructions and scripts a team's agents load and run, from "
    "a location outside the landing zone: its admin's to decide.",
    "delete-registry": "Delete registered models and model versions, and anything in the MCP "
    "server and skill registries (see the catalogue for why): "
    "the registry is the organisation's record of what was approved.",
    "delete-artifacts": "Delete artifact files through the artifact proxy (S3 keeps noncurrent "
    "versions, but a delete is still destructive).",
    "invoke-genai": "Spend money or reach other hosts: AI-gateway invocations and proxy, "
    "scorer/judge and evaluation runs, issue detection, prompt optimisation, background jobs, "
    "online scoring. Held by contributors because GenAI evaluation is part of their tracking "
    "work; admins cap the spend with gateway budgets. Readers and model approvers do not spend.",
    "assistant": "The MLflow assistant: a coding agent that can run shell tools on the server "
    "host. Admin only; MLflow itself keeps it to localhost by default.",
    "admin-secrets": "AI-gateway secrets, endpoints, model definitions, bindings, budgets, "
    "guardrails and provider configuration, even to read: they hold or point at credentials.",
    "admin-server": "Server configuration: webhooks, workspaces, demo data, assistant settings "
    "and skills.",
    UNCLASSIFIED: "Any route of MLflow that the catalogue does not name.",
}

# Server-wide configuration, not any one team's: held only by the platform team (a Cognito
# group that holds admin everywhere), never through a level in a team's workspace. A team's
# admin may do everything else in its own workspace (deletes, unclassified routes).
PLATFORM_CAPABILITIES = frozenset({"admin-server", "admin-secrets", "assistant"})

_READ = ("public", "read")

GRANTS = {
    "reader": frozenset(_READ),
    "contributor": frozenset(_READ + ("write-tracking", "register", "invoke-genai")),
    "model-approver": frozenset(_READ + ("register", "write-registry")),
    "admin": frozenset(CAPABILITIES),
}


# What each capability allows on artifact objects in S3 directly (SDK artifact bytes do not
# pass through API Gateway: its payload limit is 10 MB). Registering needs none: the tracking
# server copies a registered version's files (components/mlflow_image/plugin).
S3_ACTIONS_OF_CAPABILITY = {
    "read": ("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"),
    # (not s3:ListBucketMultipartUploads: a listing of every upload in the bucket, which no
    # s3:prefix condition narrows, since that action has no such key; the SDK's uploads do not
    # list them)
    "write-tracking": ("s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
    "delete-artifacts": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}
# ... and so each level's, from its grant (not restated)
ARTIFACT_ACTIONS = {
    level: tuple(action for capability, actions in S3_ACTIONS_OF_CAPABILITY.items()
                 if capability in GRANTS[level] for action in actions)
    for level in LEVELS
}
# The KMS rights that go with them on the bucket's key (SSE-KMS: a data key to write, Decrypt
# to read; S3 never calls Encrypt for its callers).
ARTIFACT_KEY_ACTIONS = {
    level: ("kms:Decrypt", "kms:DescribeKey")
    + (("kms:GenerateDataKey",) if "s3:PutObject" in actions else ())
    for level, actions in ARTIFACT_ACTIONS.items()
}


def capabilities_of(levels) -> frozenset:
    """The union of the capabilities of some levels (a user in several groups)."""
    held = set()
    for level in levels:
        if level not in GRANTS:
            raise ValueError(f"unknown access level {level!r}; expected one of {', '.join(LEVELS)}")
        held |= GRANTS[level]
    return frozenset(held)
