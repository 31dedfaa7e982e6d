"""The registry's events and the deployment status: the contract between the tracking server
(which emits an event for every registry act), the central account's EventBridge bus (which
forwards each team's events to that team's account), the team's deployer (which serves the
frozen copy on SageMaker) and the platform's status writer (which records what serves what on
the model version). Pulumi-free, like the rest of `spec/`.

An event is EventBridge's envelope with `Source` = EVENT_SOURCE, `DetailType` one of
DETAIL_TYPES' values, and `Detail` a JSON object with exactly DETAIL_FIELDS (absent facts are
null): e.g. a promotion
    {"team": "team-a", "workspace": "team-a", "model": "churn", "version": "3",
     "alias": "champion", "stage": null,
     "frozen_location": "s3://<bucket>/registry/workspaces/team-a/models/churn/3",
     "registrant": "arn:aws:sts::...:assumed-role/mlflow-team-a-contributor/job",
     "approver": "alice@example.com", "time": "2026-12-04T18:00:00Z"}
"""

EVENT_SOURCE = "mlflow.landing-zone"
# The central bus's name; each team account gets its events on its own bus of the same name.
EVENT_BUS_NAME = "mlflow-landing-zone"

REGISTERED = "registered"
PROMOTED = "promoted"
ALIAS_REMOVED = "alias_removed"
STAGE_CHANGED = "stage_changed"
DELETED = "deleted"
DETAIL_TYPES = {
    REGISTERED: "Model version registered",      # created and its bytes frozen (READY)
    PROMOTED: "Model version promoted",          # an alias set (or moved) onto a version
    ALIAS_REMOVED: "Model alias removed",
    STAGE_CHANGED: "Model version stage changed",
    DELETED: "Model version deleted",
}
DETAIL_FIELDS = ("team", "workspace", "model", "version", "alias", "stage",
                 "frozen_location", "registrant", "approver", "time")

# The alias whose promotion deploys, unless a team's config names another (`deployAlias`).
DEFAULT_DEPLOY_ALIAS = "champion"

# Tags under this prefix are the platform's: clients cannot set or delete them; only the
# platform's status writer (its role ARN given to the server in PLATFORM_WRITER_ENV) may.
PLATFORM_TAG_PREFIX = "landing_zone."
DEPLOYMENT_TAG = PLATFORM_TAG_PREFIX + "deployment"
# A model version's registrant, recorded by the server at registration (the Cognito user, or
# the role session's principal ARN).
REGISTRANT_TAG = PLATFORM_TAG_PREFIX + "registrant"
PLATFORM_WRITER_ENV = "MLFLOW_LZ_PLATFORM_WRITER_ARNS"  # comma-separated role ARNs
DEPLOYMENT_STATES = ("Creating", "InService", "Updating", "Failed", "RolledBack", "Deleted")
# The deployment tag's JSON fields.
DEPLOYMENT_FIELDS = ("state", "endpoint", "account", "region", "version")
# The team deployer's own status events, sent back to the central bus for the status writer.
DEPLOYER_SOURCE = "mlflow.landing-zone.deployer"
DEPLOYMENT_STATUS_DETAIL_TYPE = "Model deployment status"

# --- serving: the team's deployer and the platform's status writer (issue 27, items 3 and 4) --
# A status event's Detail: whose version (team, workspace, model, version) and the deployment
# tag's value (`deployment`, exactly DEPLOYMENT_FIELDS). The status writer checks that the
# envelope's `account` (set by EventBridge, not by the sender) is the team's own account.
DEPLOYMENT_STATUS_FIELDS = ("team", "workspace", "model", "version", "deployment")
# SageMaker's own events on each account's default bus, which tell the deployer how an
# endpoint's creation or update ended (InService, Failed, or rolled back).
SAGEMAKER_SOURCE = "aws.sagemaker"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
# Roles of the serving loop. In a team account: the deployer's (its Lambda) and the SageMaker
# execution role its endpoints run as, which reads the team's `registry/workspaces/<team>/` in
# the central bucket and nothing else central (the bucket and key policies admit the shape
# `mlflow-*-serving` with the team from its TEAM_ACCOUNT_TEAM_TAG). In the central account:
# the status writer's, whose ARN the server's PLATFORM_WRITER_ENV names.
SERVING_ROLE_SUFFIX = "-serving"
DEPLOYER_ROLE_SUFFIX = "-deployer"
STATUS_WRITER_ROLE_NAME = "mlflow-platform-status-writer"


def serving_role_name(team: str) -> str:
    return f"mlflow-{team}{SERVING_ROLE_SUFFIX}"


def deployer_role_name(team: str) -> str:
    return f"mlflow-{team}{DEPLOYER_ROLE_SUFFIX}"


def serving_role_arn_pattern() -> str:
    """Every team account's serving role, by shape (the central policies admit no list)."""
    return f"arn:aws:iam::*:role/{serving_role_name('*')}"


def central_bus_arn(region: str, central_account_id: str) -> str:
    return f"arn:aws:events:{region}:{central_account_id}:event-bus/{EVENT_BUS_NAME}"
