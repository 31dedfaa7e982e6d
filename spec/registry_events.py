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
     "approver": "alice@example.com", "time": "2026-12-04T18:00:00.123Z"}
`time` is when the act happened, ISO 8601 UTC to the millisecond; events may arrive out of
order (the server's workers send their own; EventBridge keeps no order): order them by it.
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
# --- added with the approval rule and the events' plumbing (issue 27 items 1, 2, 4) ----------
# The tracking server's environment: where it puts its events (the central bus's ARN; absent:
# no events, only the audit line), and the teams whose approval rule differs from the defaults
# (JSON {team: {"deployAlias": ..., "requireSecondPerson": ...}}; a team not named there has
# DEFAULT_DEPLOY_ALIAS and DEFAULT_REQUIRE_SECOND_PERSON, so the variable stays small however
# many teams there are).
EVENT_BUS_ARN_ENV = "MLFLOW_LZ_EVENT_BUS_ARN"
APPROVAL_ENV = "MLFLOW_LZ_APPROVAL"
DEFAULT_REQUIRE_SECOND_PERSON = True
# The stages whose transition is a promotion (MLflow's, case-insensitively), beside the alias.
PROMOTION_STAGES = ("staging", "production")
# Tags the store itself writes and nobody (a platform writer neither) changes afterwards.
FROZEN_FROM_TAG = PLATFORM_TAG_PREFIX + "frozen_from"
STORE_OWNED_TAGS = (FROZEN_FROM_TAG, REGISTRANT_TAG)
# The log group every event also lands in: in the central account the audit trail, in a team
# account that team's own record of what was forwarded to it. (Log groups that EventBridge
# rules write to are named under /aws/events/.)
AUDIT_LOG_GROUP = "/aws/events/mlflow-landing-zone/registry-events"


def team_rule_name(team: str) -> str:
    """The central bus's rule that forwards one team's events to its account's bus."""
    return f"{EVENT_BUS_NAME}-to-{team}"


def event_bus_arn(region: str, account_id: str) -> str:
    return f"arn:aws:events:{region}:{account_id}:event-bus/{EVENT_BUS_NAME}"


def team_event_pattern(team: str) -> dict:
    """What the team's forward rule matches: this landing zone's registry events of one team."""
    return {"source": [EVENT_SOURCE], "detail": {"team": [team]}}


def audit_event_pattern() -> dict:
    """Every event on the central bus of this landing zone (the registry's and the deployers')."""
    return {"source": [EVENT_SOURCE, DEPLOYER_SOURCE]}


def team_rule_arn(region: str, central_account_id: str, team: str) -> str:
    return rule_arn(region, central_account_id, team_rule_name(team))


def forward_role_name(team: str) -> str:
    """The central account's role the team's forward rule puts events with (one per team: it
    may put on that team's bus alone)."""
    return f"mlflow-events-to-{team}"


def forward_role_trust_policy(region: str, central_account_id: str, team: str) -> dict:
    """EventBridge assumes the forward role for this team's rule only."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": central_account_id},
                      "ArnEquals": {"aws:SourceArn": team_rule_arn(region, central_account_id,
                                                                    team)}}}]}


def forward_role_statements(team_bus_arn: str) -> list:
    return [{"Sid": "PutOnTheTeamsBusOnly", "Effect": "Allow", "Action": "events:PutEvents",
             "Resource": team_bus_arn}]


def team_bus_policy(team_bus_arn: str, central_account_id: str, team: str) -> dict:
    """The team bus's resource policy: only the central account's forward role of this team
    (the role its forward rule puts with) puts events on it."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TheCentralForwardRuleOnly", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{central_account_id}:root"},
        "Action": "events:PutEvents", "Resource": team_bus_arn,
        "Condition": {"ArnEquals": {"aws:PrincipalArn": (
            f"arn:aws:iam::{central_account_id}:role/{forward_role_name(team)}")}}}]}


def log_delivery_policy(log_group_arn, rule_arn) -> dict:
    """The CloudWatch Logs resource policy that lets EventBridge write one rule's events into
    the log group (EventBridge writes to log groups under this policy, not with a role)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EventBridgeWritesTheRegistryEvents", "Effect": "Allow",
        "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"{log_group_arn}:*",
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]}


def put_events_statement(bus_arn) -> dict:
    """The tracking server's (task role's) one EventBridge right: put on the central bus."""
    return {"Sid": "RegistryEventsToTheCentralBus", "Effect": "Allow",
            "Action": "events:PutEvents", "Resource": bus_arn}


# The rule that writes every event of a bus (the central one, or a team's) into its account's
# AUDIT_LOG_GROUP.
AUDIT_RULE_NAME = f"{EVENT_BUS_NAME}-audit"


def rule_arn(region: str, account_id: str, rule_name: str) -> str:
    """A rule of a bus named EVENT_BUS_NAME (a custom bus's rules carry its name)."""
    return f"arn:aws:events:{region}:{account_id}:rule/{EVENT_BUS_NAME}/{rule_name}"


def log_group_arn(region: str, account_id: str, name: str = AUDIT_LOG_GROUP) -> str:
    return f"arn:aws:logs:{region}:{account_id}:log-group:{name}"


def central_bus_policy(bus_arn: str, team_account_ids) -> dict:
    """The central bus's resource policy: the team accounts' deployers (their role's shape, in
    a team's account) put their endpoints' status events there, and nothing else. The status
    writer still checks each event's account against its team (EventBridge sets it)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TeamDeployersReportStatus", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": "events:PutEvents", "Resource": bus_arn,
        "Condition": {
            "StringEquals": {"aws:PrincipalAccount": sorted(set(team_account_ids)),
                             "events:source": DEPLOYER_SOURCE},
            "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::*:role/{deployer_role_name('*')}"}}}]}


# --- what the central bus holds per team (the config refuses a team list beyond its quotas) ---
# EventBridge's quotas (Service Quotas, "Amazon EventBridge"), per account and region, at their
# defaults; both adjustable.
RULES_PER_BUS = 300  # "Rules": rules per event bus
BUS_POLICY_SIZE = 10_240  # "Event bus policy size": characters of a bus's resource policy
# The central bus's rules besides one forward rule per team: the audit rule (AUDIT_RULE_NAME)
# and the status writer's (components/serving_status.py).
CENTRAL_BUS_OTHER_RULES = 2


def central_bus_rules(team_count: int) -> int:
    """The rules the central stack puts on the central bus for `team_count` teams."""
    return team_count + CENTRAL_BUS_OTHER_RULES
