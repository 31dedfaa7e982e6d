"""Typed stack configuration, checked before anything is created.

Every error names the config key and says what is expected, so a bad `Pulumi.<stack>.yaml`
fails `pulumi preview` at once instead of half-way through a deployment.
"""

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from roles import INLINE_POLICY_LIMIT, LEVELS, policy_size
from spec.accounts import (
    BUCKET_POLICY_LIMIT,
    PLATFORM_GROUP_LEVELS,
    TEAM_GROUP_SEPARATOR,
    access_role_inline_policies,
    artifact_bucket_statements,
    invoke_policy_documents,
    invoke_policy_keys,
    readable_by,
    role_arn,
)
from spec.edge import (
    DEFAULT_AUTHORIZER_TTL_SECONDS,
    DEFAULT_CONTACT,
    DEFAULT_TOKEN_MINUTES,
    STUDIO_ORIGIN,
    TOKEN_MINUTES_RANGE,
    check_contact,
    max_authorizer_ttl,
    reserved_team_names,
    sample_api_arn,
)
from .sizing import (
    MIN_WORKERS,
    SUBNET_MASKS,
    WORKER_MB,
    fits,
    fixed_mb,
    largest_prefix,
    min_memory_mb,
)
from .registry_events import (
    BUS_POLICY_SIZE,
    DEFAULT_DEPLOY_ALIAS,
    DEFAULT_REQUIRE_SECOND_PERSON,
    EVENT_BUS_NAME,
    RULES_PER_BUS,
    central_bus_arn,
    central_bus_policy,
    central_bus_rules,
)
from .serving import SERVERLESS_MAX_CONCURRENCY, SERVERLESS_MEMORY_SIZES

NAMESPACE = "mlflow-landing-zone"
ACCOUNT_TYPES = ("central", "datascience")
NAT_STRATEGIES = ("none", "single", "one-per-az")
MFA_MODES = ("OFF", "OPTIONAL", "ON")
FARGATE_SIZES = {256: (512, 1024, 2048), 512: tuple(range(1024, 4097, 1024)),
                 1024: tuple(range(2048, 8193, 1024)), 2048: tuple(range(4096, 16385, 1024)),
                 4096: tuple(range(8192, 30721, 1024))}
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# The MLflow the tracking server runs (requirements.txt): its serving image's default tag
MLFLOW_IMAGE_TAG = "3.18.0"
_TEAM_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


CLOUDWATCH_ROLE_MODES = ("create", "existing")


class ConfigError(ValueError):
    """A stack config value is missing or wrong; the message names the key."""


@dataclass(frozen=True)
class Team:
    name: str  # also the team's MLflow workspace, and its base path on the API
    account_id: str
    levels: tuple
    shared_with: tuple = ()  # teams that may read this team's workspace
    # The alias whose promotion deploys the version (the team's deployer serves it), and
    # whether a version's registrant is refused that promotion (and Staging, Production)
    deploy_alias: str = DEFAULT_DEPLOY_ALIAS
    require_second_person: bool = DEFAULT_REQUIRE_SECOND_PERSON


def workspaces(teams) -> dict:
    """{team: [teams it is shared with]}: the authorizer's and the UI's WORKSPACES."""
    return {t.name: list(t.shared_with) for t in teams}


def approval_rules(teams) -> dict:
    """The tracking server's APPROVAL_ENV: the teams whose approval rule is not the default
    ({team: {"deployAlias": ..., "requireSecondPerson": ...}}; the rest have the defaults, so
    the task's environment does not grow with teams that keep them)."""
    return {t.name: {"deployAlias": t.deploy_alias,
                     "requireSecondPerson": t.require_second_person}
            for t in teams if (t.deploy_alias, t.require_second_person)
            != (DEFAULT_DEPLOY_ALIAS, DEFAULT_REQUIRE_SECOND_PERSON)}


@dataclass(frozen=True)
class IamQuotas:
    """The central account's IAM quotas (Service Quotas, service "IAM"), at their defaults. The
    config refuses a team list that would not fit; who asked AWS for more sets what they got
    (`iamQuotas`)."""
    roles: int = 1_000  # "Roles per account", adjustable
    managed_policies: int = 1_500  # "Customer managed policies per account", adjustable
    policies_per_role: int = 10  # "Managed policies per role", adjustable to 20


@dataclass(frozen=True)
class EventBridgeQuotas:
    """The central account's EventBridge quotas that grow with the teams (Service Quotas,
    "Amazon EventBridge"), at their defaults: the central bus holds a forward rule per team and
    lists every team account in its policy. The config refuses a team list that would not fit;
    who asked AWS for more sets what they got (`eventBridgeQuotas`)."""
    rules_per_bus: int = RULES_PER_BUS  # "Rules" (per event bus), adjustable
    bus_policy_size: int = BUS_POLICY_SIZE  # "Event bus policy size" (characters), adjustable


# (Service Quotas' name, the config key, the highest value the config takes: AWS publishes no
# maximum for these, so a bound that keeps a typo out)
EVENTBRIDGE_QUOTA_NAMES = {"rules_per_bus": ("Rules", "rulesPerBus", 10_000),
                           "bus_policy_size": ("Event bus policy size", "busPolicySize",
                                               100_000)}


# AWS's highest values for each (Service Quotas)
QUOTA_MAXIMA = {"roles": 5_000, "managed_policies": 5_000, "policies_per_role": 20}
QUOTA_NAMES = {"roles": ("Roles per account", "rolesPerAccount"),
               "managed_policies": ("Customer managed policies per account",
                                    "managedPoliciesPerAccount"),
               "policies_per_role": ("Managed policies per role", "managedPoliciesPerRole")}
# What the central stack holds besides the access roles and their invoke policies (the tracking
# server's, the authorizer's, API Gateway's logging roles: 5, and 2 for CI with `ci`; other
# customer managed policies: none), and room for the account's own (SSO, break-glass): kept
# free of the quota, so the access roles never take the account's last role.
OTHER_ROLES = 50
OTHER_MANAGED_POLICIES = 50


@dataclass(frozen=True)
class Network:
    cidr: str = "10.40.0.0/16"
    availability_zones: int = 2
    nat: str = "single"


@dataclass(frozen=True)
class TrackingServerSize:
    cpu: int = 1024
    # 4 workers beside MLflow's job runner, its consumers and its jobs (spec.sizing)
    memory: int = 7168
    desired_count: int = 2
    max_count: int = 4
    # The image repository's newest images kept (its lifecycle policy): the running one and
    # those a rollback pulls. At least 2: the previous image must outlive the next update.
    images_kept: int = 10


@dataclass(frozen=True)
class DatabaseSize:
    min_capacity: float = 0.5
    max_capacity: float = 4.0
    backup_retention_days: int = 14


@dataclass(frozen=True)
class CiSettings:
    """GitHub Actions' roles in this account (components/ci_access.py)."""
    repository: str  # org/repo
    environment: str  # the GitHub environment that deploys this stack
    oidc_provider_arn: str = None  # the account's GitHub OIDC provider, if it has one
    # The repository's OIDC subject carries the ref (GitHub's subject template with the claims
    # repo, context, ref): the deploy role then trusts runs of `main` only, besides the
    # environment's own deployment-branch rule. IAM reads no other GitHub claim.
    ref_in_subject: bool = False


@dataclass(frozen=True)
class WafSettings:
    # AWS WAF's rate-based rule and managed rule groups on the stage (the cross-site rules are
    # there either way)
    enabled: bool = True
    # Requests one caller may send in 5 minutes: one SigV4 session (an assumed role's session
    # token: a SageMaker job, a notebook) or one browser user's token. A third of the stage's
    # default throttle (100/s): one caller cannot take the API, and a team's jobs, each its
    # own session, do not share one allowance.
    caller_rate_limit: int = 10_000
    # Requests one address may send in 5 minutes, whatever the caller (a ceiling for a team's
    # NAT, one of CloudFront's addresses for the UI, or a client inventing credentials): two
    # thirds of the stage's default throttle, twice a caller's allowance.
    rate_limit: int = 20_000


@dataclass(frozen=True)
class ApiSettings:
    # API Gateway throttles each method of the stage on its own (these are every method's
    # default): requests per second, steady and in a burst
    throttle_rate_limit: float = 100.0
    throttle_burst_limit: int = 200
    # ... but the one method every team's SDKs and jobs share (`ANY /{workspace}/{proxy+}`)
    # has its own, sized for all teams together
    teams_throttle_rate_limit: float = 1_000.0
    teams_throttle_burst_limit: int = 2_000
    authorizer_cache_ttl: int = DEFAULT_AUTHORIZER_TTL_SECONDS
    # Lambda concurrency reserved for the authorizer: held for it whatever else runs in the
    # account, and its ceiling, so a flood of made-up tokens cannot take the account's pool
    # from other functions. It runs once per (token, workspace) per authorizerCacheTtl, in
    # tens of milliseconds: 50 at once is some hundreds of new sign-ins a second. Lambda keeps
    # 100 of an account's concurrency unreserved, so reserving needs a limit of 100 + this
    # (new accounts may start lower); 0 reserves none.
    authorizer_reserved_concurrency: int = 50
    # API Gateway's CloudWatch role is one setting per account and region: "create" (this
    # stack creates a role and sets it) or "existing" (another stack or the platform owns it;
    # this stack leaves it alone: never clobbers another's)
    cloudwatch_role: str = "create"
    waf: WafSettings = field(default_factory=WafSettings)


@dataclass(frozen=True)
class UiSettings:
    # SageMaker Studio domains whose pages may embed the UI (CSP frame-ancestors)
    studio_origins: tuple = ()


@dataclass(frozen=True)
class EmailSettings:
    """Cognito's invitations and password resets sent through Amazon SES (`email`)."""
    ses_identity_arn: str  # a verified SES identity: a domain or an address
    from_address: str  # "MLflow <mlflow@example.com>": an address of that identity
    reply_to: str = None


# Without `email`, Cognito sends with its built-in sender: a small daily quota (AWS documents
# 50 messages a day), enough for a pilot, not for inviting an organisation.
COGNITO_DEFAULT_EMAIL_PER_DAY = 50
# Regions whose SES identities Cognito may use for a pool elsewhere (besides the pool's own).
SES_REGIONS_FOR_COGNITO = ("us-east-1", "us-west-2", "eu-west-1")


@dataclass(frozen=True)
class CentralConfig:
    region: str
    account_id: str
    teams: tuple
    group_levels: dict
    network: Network = field(default_factory=Network)
    tracking_server: TrackingServerSize = field(default_factory=TrackingServerSize)
    database: DatabaseSize = field(default_factory=DatabaseSize)
    api: ApiSettings = field(default_factory=ApiSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    mfa: str = "OPTIONAL"
    token_minutes: int = DEFAULT_TOKEN_MINUTES  # Cognito id and access tokens
    log_retention_days: int = 90
    protect: bool = True  # data resources (bucket, key, database, user pool) refuse deletion
    # whom a refused user should ask (every 403 says so): a team, a channel, an address
    platform_contact: str = DEFAULT_CONTACT
    # the SNS topic the alarms notify (the organisation's on-call topic); None: the stack
    # creates one (its alarmTopicArn output), to which the platform team subscribes
    alarm_topic_arn: str = None
    ci: CiSettings = None  # None: no CI roles (the workflows' roles are made by hand)
    email: EmailSettings = None  # None: Cognito's own sender and its daily quota
    iam_quotas: IamQuotas = field(default_factory=IamQuotas)
    eventbridge_quotas: EventBridgeQuotas = field(default_factory=EventBridgeQuotas)
    account_type: str = "central"


@dataclass(frozen=True)
class StudioConfig:
    enabled: bool = False
    vpc_id: str = None
    subnet_ids: tuple = ()


@dataclass(frozen=True)
class ServingConfig:
    """The team's deployer (components/serving.py): a promotion of `deploy_alias` serves the
    version on a SageMaker endpoint of this account (issue 27)."""
    enabled: bool = True
    artifact_bucket: str = None  # the central stack's artifactBucket output
    artifact_key_arn: str = None  # the central stack's artifactKeyArn output
    deploy_alias: str = DEFAULT_DEPLOY_ALIAS
    # the tag of MLflow's serving image in the team's repository (the stack's
    # servingImageRepositoryUrl output; `mlflow sagemaker build-and-push-container` pushes it)
    image_tag: str = MLFLOW_IMAGE_TAG
    memory_mb: int = 2048  # serverless memory
    max_concurrency: int = 5  # serverless concurrency
    instance_type: str = None  # set: instances instead of serverless
    instance_count: int = 1
    delete_on_alias_removed: bool = True


@dataclass(frozen=True)
class DataScienceConfig:
    region: str
    account_id: str
    team: str
    central_account_id: str
    levels: tuple
    tracking_uri: str
    studio: StudioConfig = field(default_factory=StudioConfig)
    # as the central stack's: jobs name it when S3 refuses them (MLFLOW_LANDING_ZONE_CONTACT)
    platform_contact: str = DEFAULT_CONTACT
    ci: CiSettings = None
    serving: ServingConfig = field(default_factory=ServingConfig)
    account_type: str = "datascience"


class _Reader:
    """Reads one config object, naming each key by its full path in errors."""

    def __init__(self, data, path: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must be an object (a YAML mapping), got {_kind(data)}")
        self.data, self.path = data, path
        self.seen = set()

    def key(self, name):
        return f"{self.path}.{name}"

    def get(self, name, kind, default=None, required=False):
        self.seen.add(name)
        if name not in self.data or self.data[name] is None:
            if required:
                raise ConfigError(f"{self.key(name)} is required ({_describe(kind)})")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise ConfigError(f"{self.key(name)} must be {_describe(kind)}, got {_kind(value)}")
        return value

    def finish(self):
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self.path} has unknown keys: {', '.join(unknown)}")


def _describe(kind):
    return {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
            list: "a list", dict: "an object"}[kind]


def _kind(value):
    return type(value).__name__ if value is not None else "nothing"


def _account_id(value, key):
    if not isinstance(value, str) or not _ACCOUNT_ID.match(value):
        raise ConfigError(f"{key} must be a 12-digit AWS account id in quotes, got {value!r}")
    return value


def _one_of(value, choices, key):
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def _between(value, low, high, key):
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {value}")
    return value


def _levels(value, key):
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list of levels ({', '.join(LEVELS)})")
    for level in value:
        _one_of(level, LEVELS, key)
    if len(set(value)) != len(value):
        raise ConfigError(f"{key} names a level twice")
    return tuple(level for level in LEVELS if level in value)


_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,255}$")  # MLflow's rule for an alias's characters
_VERSION_LIKE = re.compile(r"^[vV]\d+$")


def _deploy_alias(value, key):
    """An alias MLflow accepts: letters, digits, `_` and `-`, neither `latest` nor `v<n>`
    (MLflow reserves both for versions)."""
    if not _ALIAS.match(value) or value.lower() == "latest" or _VERSION_LIKE.match(value):
        raise ConfigError(f"{key} must be a model alias MLflow accepts (letters, digits, '_' "
                          f"and '-', up to 255; not 'latest' nor v<number>), got {value!r}")
    return value


def _teams(value, key):
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of teams")
    teams, names, reserved = [], set(), reserved_team_names()
    for i, raw in enumerate(value):
        r = _Reader(raw, f"{key}[{i}]")
        name = r.get("name", str, required=True)
        if not _TEAM_NAME.match(name):
            raise ConfigError(f"{r.key('name')} must be 2-32 lowercase letters, digits and "
                              f"dashes, starting with a letter, got {name!r}")
        if name in reserved:
            raise ConfigError(f"{r.key('name')}: {name!r} is taken by MLflow's own paths or "
                              f"workspaces (reserved: {', '.join(sorted(reserved))})")
        if name in names:
            raise ConfigError(f"{r.key('name')}: team {name!r} is listed twice")
        names.add(name)
        account = _account_id(r.get("accountId", str, required=True), r.key("accountId"))
        levels = _levels(r.get("levels", list, required=True), r.key("levels"))
        shared = r.get("sharedWith", list, default=[])
        alias = _deploy_alias(r.get("deployAlias", str, default=DEFAULT_DEPLOY_ALIAS),
                              r.key("deployAlias"))
        second = r.get("requireSecondPerson", bool, default=DEFAULT_REQUIRE_SECOND_PERSON)
        r.finish()
        teams.append(Team(name, account, levels, tuple(shared), alias, second))
    for i, team in enumerate(teams):
        where = f"{key}[{i}].sharedWith"
        for other in team.shared_with:
            if not isinstance(other, str) or other not in names:
                raise ConfigError(f"{where} must name other teams of {key}, got {other!r}")
            if other == team.name:
                raise ConfigError(f"{where}: a team does not share its workspace with itself")
        if len(set(team.shared_with)) != len(team.shared_with):
            raise ConfigError(f"{where} names a team twice")
    return tuple(teams)


def iam_usage(teams, region, account_id) -> dict:
    """What the access roles take of the central account's IAM: roles, customer managed
    policies, and for each role its managed policies and the size of its inline policies, with
    an API ARN of the real one's length (spec.accounts.invoke_policy_keys); and the registry
    events' forward roles, one per team (components/registry_events.py: each may put events on
    its own team's bus only)."""
    sample_arn = sample_api_arn(region, account_id)
    bucket = f"arn:aws:s3:::{'x' * 63}"
    key_arn = f"arn:aws:kms:{region}:{account_id}:key/{'x' * 36}"
    shared, counts, roles, per_role, inline = workspaces(teams), {}, 0, {}, {}
    for team in teams:
        readable = readable_by(shared, team.name)
        for level in team.levels:
            roles += 1
            keys = invoke_policy_keys(team.name, level, readable)
            for k in keys:
                if k not in counts:
                    counts[k] = len(invoke_policy_documents(k, sample_arn))
            per_role[(team.name, level)] = sum(counts[k] for k in keys)
            inline[(team.name, level)] = sum(policy_size(d) for d in access_role_inline_policies(
                level, sample_arn, bucket, key_arn, team=team.name, readable=readable).values())
    return {"roles": roles, "forward_roles": len(teams),
            "managed_policies": sum(counts.values()),
            "policies_per_role": per_role, "inline_size": inline}


def _service_quota_error(key, what, quota, default, service, title, section, config_key,
                         remedy):
    """A team list past a quota: what needs more, the quota's name as Service Quotas shows it,
    how to ask for more and where to say what AWS granted."""
    return ConfigError(
        f"{key}: {what}, more than the {service.split()[-1]} quota \"{title}\" allows "
        f"({quota:,}{', the default' if quota == default else ''}): ask AWS for more (Service "
        f"Quotas, {service}, \"{title}\") and set {section}.{config_key} to what you got, "
        f"or {remedy}")


def _quota_error(key, what, needed, quota, name):
    """`what` says what needs `needed` (its `{}`)."""
    title, config_key = QUOTA_NAMES[name]
    return _service_quota_error(key, what.format(f"{needed:,}"), quota,
                                getattr(IamQuotas, name), "IAM", title, "iamQuotas", config_key,
                                "list fewer teams or levels")


def _check_iam_fits(teams, region, account_id, quotas, key):
    """Refuse a team list that the central account's IAM would not hold: roles and managed
    policies per account, managed policies per role, a role's inline policies' size."""
    usage = iam_usage(teams, region, account_id)
    needed = usage["roles"] + usage["forward_roles"] + OTHER_ROLES
    if needed > quotas.roles:
        raise _quota_error(key, f"the access roles ({usage['roles']:,}, one per team and "
                           f"level), the registry events' forward roles "
                           f"({usage['forward_roles']:,}, one per team) and {OTHER_ROLES} kept "
                           f"for the stack's and the account's other roles need {{}} roles",
                           needed, quotas.roles, "roles")
    if usage["managed_policies"] + OTHER_MANAGED_POLICIES > quotas.managed_policies:
        raise _quota_error(key, f"the access roles' invoke policies ({usage['managed_policies']:,}"
                           f") and {OTHER_MANAGED_POLICIES} kept for others need {{}}",
                           usage["managed_policies"] + OTHER_MANAGED_POLICIES,
                           quotas.managed_policies, "managed_policies")
    shared = workspaces(teams)
    for (team, level), count in usage["policies_per_role"].items():
        if count > quotas.policies_per_role:
            readable = readable_by(shared, team)
            raise _quota_error(key, f"team {team}'s {level} role reads {len(readable)} shared "
                               f"workspaces (names of {len({len(w) for w in readable})} "
                               f"lengths) and would need {{}} managed policies", count,
                               quotas.policies_per_role, "policies_per_role")
    for (team, level), size in usage["inline_size"].items():
        if size > INLINE_POLICY_LIMIT:
            readable = readable_by(shared, team)
            raise ConfigError(
                f"{key}: team {team}'s {level} role reads {len(readable)} shared workspaces: "
                f"its inline policies (the workspaces it reaches, its artifacts) would take "
                f"{size:,} characters, more than IAM's {INLINE_POLICY_LIMIT:,} for a role (not "
                f"adjustable): share fewer workspaces with it (sharedWith)")


def _eventbridge_quota_error(key, what, quota, name):
    title, config_key, _ = EVENTBRIDGE_QUOTA_NAMES[name]
    return _service_quota_error(key, what, quota, getattr(EventBridgeQuotas, name),
                                "Amazon EventBridge", title, "eventBridgeQuotas", config_key,
                                "list fewer teams")


def _check_eventbridge_fits(teams, region, account_id, quotas, key):
    """Refuse a team list that the central bus would not hold: its forward rules (one per team,
    beside the audit and status rules) and its policy (every team account, for the deployers'
    status events), as components/registry_events.py declares them."""
    rules = central_bus_rules(len(teams))
    if rules > quotas.rules_per_bus:
        raise _eventbridge_quota_error(
            key, f"the central bus {EVENT_BUS_NAME} needs {rules:,} rules (a forward rule for "
                 f"each of the {len(teams):,} teams, the audit rule and the status writer's)",
            quotas.rules_per_bus, "rules_per_bus")
    accounts = {t.account_id for t in teams}
    size = policy_size(central_bus_policy(central_bus_arn(region, account_id), accounts))
    if size > quotas.bus_policy_size:
        raise _eventbridge_quota_error(
            key, f"the central bus's policy (it lists the {len(accounts):,} team accounts whose "
                 f"deployers report status) would take {size:,} characters",
            quotas.bus_policy_size, "bus_policy_size")


def artifact_bucket_policy_size(teams, region, account_id) -> int:
    """The artifact bucket's policy size (bytes) for this team list, at its largest: the names
    the stack gives the bucket and the server's role are not known here, so S3's and IAM's
    longest (63 and 64 characters) stand in for them."""
    bucket_arn = "arn:aws:s3:::" + "b" * 63
    key_arn = f"arn:aws:kms:{region}:{account_id}:key/{'k' * 36}"
    server = role_arn(account_id, "r" * 64)
    return policy_size({"Version": "2012-10-17", "Statement": artifact_bucket_statements(
        bucket_arn, key_arn, account_id, [server], server,
        sorted({t.account_id for t in teams}))})


def _check_bucket_policy_fits(teams, region, account_id, key):
    """Refuse a team list whose team accounts the artifact bucket's policy would not hold (its
    serving roles' reads list every team account: spec.accounts.serving_admission). S3's limit
    is not adjustable."""
    size = artifact_bucket_policy_size(teams, region, account_id)
    if size > BUCKET_POLICY_LIMIT:
        accounts = len({t.account_id for t in teams})
        raise ConfigError(
            f"{key}: the artifact bucket's policy lists the {accounts:,} team accounts (their "
            f"serving roles read their teams' frozen copies) and would take up to {size:,} "
            f"bytes, more than S3's {BUCKET_POLICY_LIMIT:,} for a bucket policy (not "
            f"adjustable): list fewer team accounts (teams may share an account)")


def _eventbridge_quotas(r) -> EventBridgeQuotas:
    q = _section(r, "eventBridgeQuotas")
    values = {name: _between(q.get(config_key, int, default=getattr(EventBridgeQuotas, name)),
                             getattr(EventBridgeQuotas, name), highest, q.key(config_key))
              for name, (_, config_key, highest) in EVENTBRIDGE_QUOTA_NAMES.items()}
    q.finish()
    return EventBridgeQuotas(**values)


def _iam_quotas(r) -> IamQuotas:
    q = _section(r, "iamQuotas")
    values = {name: _between(q.get(config_key, int, default=getattr(IamQuotas, name)),
                             getattr(IamQuotas, name), QUOTA_MAXIMA[name],
                             q.key(config_key))
              for name, (_, config_key) in QUOTA_NAMES.items()}
    q.finish()
    return IamQuotas(**values)


def _group_levels(value, key):
    if value is None:
        return dict(PLATFORM_GROUP_LEVELS)
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{key} must map Cognito group names to levels")
    for group, level in value.items():
        _one_of(level, LEVELS, f"{key}.{group}")
        if TEAM_GROUP_SEPARATOR in group:
            raise ConfigError(f"{key}.{group}: a name with '{TEAM_GROUP_SEPARATOR}' is a team's "
                              f"group (<team>:<level>, created for every team); these groups "
                              f"hold their level in every workspace")
    return dict(value)


def _region(value, key):
    if not _REGION.match(value):
        raise ConfigError(f"{key} must be an AWS region such as us-east-1, got {value!r}")
    return value


def _section(r, name):
    """The reader of an optional object (its keys' defaults: the dataclasses above)."""
    return _Reader(r.get(name, dict, default={}), r.key(name))


def _network(r) -> Network:
    n = _section(r, "network")
    cidr = n.get("cidr", str, default=Network.cidr)
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        raise ConfigError(f"{n.key('cidr')} must be an IPv4 CIDR block such as 10.40.0.0/16, "
                          f"got {cidr!r}") from None
    if net.version != 4 or not 16 <= net.prefixlen <= 24:
        raise ConfigError(f"{n.key('cidr')} must be an IPv4 block from /16 to /24, got {cidr!r}")
    zones = _between(n.get("availabilityZones", int, default=Network.availability_zones), 2, 3,
                     n.key("availabilityZones"))
    nat = _one_of(n.get("natGateways", str, default=Network.nat), NAT_STRATEGIES,
                  n.key("natGateways"))
    n.finish()
    if not fits(net.prefixlen, zones, nat):
        raise ConfigError(
            f"{n.key('cidr')} {cidr} is too small for {zones} availability zones with "
            f"natGateways {nat}: each zone takes a /"
            f"{' and a /'.join(map(str, SUBNET_MASKS[nat]))}; use a /"
            f"{largest_prefix(zones, nat)} or larger (a shorter prefix)")
    return Network(cidr=str(net), availability_zones=zones, nat=nat)


def _tracking_server(r) -> TrackingServerSize:
    t = _section(r, "trackingServer")
    cpu = _one_of(t.get("cpu", int, default=TrackingServerSize.cpu), tuple(FARGATE_SIZES),
                  t.key("cpu"))
    memory = _one_of(t.get("memory", int, default=TrackingServerSize.memory),
                     FARGATE_SIZES[cpu], t.key("memory"))
    why = (f"MLflow's workers take about {WORKER_MB} MB each, {MIN_WORKERS} at least, beside "
           f"its job runner, its consumers and its jobs ({fixed_mb()} MB: spec/sizing.py)")
    if max(FARGATE_SIZES[cpu]) < min_memory_mb(cpu):
        least_cpu = min(c for c, sizes in FARGATE_SIZES.items()
                        if max(sizes) >= min_memory_mb(c))
        raise ConfigError(f"{t.key('cpu')} must be at least {least_cpu}: no Fargate memory "
                          f"size of cpu {cpu} holds {min_memory_mb(cpu)} MB ({why}), got {cpu}")
    if memory < min_memory_mb(cpu):
        least = min(m for m in FARGATE_SIZES[cpu] if m >= min_memory_mb(cpu))
        raise ConfigError(
            f"{t.key('memory')} must be at least {least} MB with cpu {cpu} ({why}), "
            f"got {memory}")
    desired = _between(t.get("desiredCount", int, default=TrackingServerSize.desired_count), 2,
                       20, t.key("desiredCount"))
    maximum = _between(t.get("maxCount", int, default=max(TrackingServerSize.max_count, desired)),
                       desired, 50, t.key("maxCount"))
    kept = _between(t.get("imagesKept", int, default=TrackingServerSize.images_kept), 2, 1000,
                    t.key("imagesKept"))
    t.finish()
    return TrackingServerSize(cpu, memory, desired, maximum, kept)


def _database(r) -> DatabaseSize:
    d = _section(r, "database")
    min_acu = _half_steps(_between(d.get("minCapacity", float, default=DatabaseSize.min_capacity),
                                   0.0, 256.0, d.key("minCapacity")), d.key("minCapacity"))
    max_acu = _half_steps(_between(d.get("maxCapacity", float, default=DatabaseSize.max_capacity),
                                   max(min_acu, 1.0), 256.0, d.key("maxCapacity")),
                          d.key("maxCapacity"))
    retention = _between(d.get("backupRetentionDays", int,
                               default=DatabaseSize.backup_retention_days), 7, 35,
                         d.key("backupRetentionDays"))
    d.finish()
    return DatabaseSize(min_acu, max_acu, retention)


def _api(r, token_minutes: int) -> ApiSettings:
    a = _section(r, "api")
    api = ApiSettings(
        throttle_rate_limit=_between(
            a.get("throttleRateLimit", float, default=ApiSettings.throttle_rate_limit), 1,
            10_000, a.key("throttleRateLimit")),
        throttle_burst_limit=_between(
            a.get("throttleBurstLimit", int, default=ApiSettings.throttle_burst_limit), 1, 5_000,
            a.key("throttleBurstLimit")),
        # API Gateway's account limits (10,000/s, a burst of 5,000; adjustable)
        teams_throttle_rate_limit=_between(
            a.get("teamsThrottleRateLimit", float,
                  default=ApiSettings.teams_throttle_rate_limit), 1, 10_000,
            a.key("teamsThrottleRateLimit")),
        teams_throttle_burst_limit=_between(
            a.get("teamsThrottleBurstLimit", int,
                  default=ApiSettings.teams_throttle_burst_limit), 1, 5_000,
            a.key("teamsThrottleBurstLimit")),
        authorizer_cache_ttl=_between(
            a.get("authorizerCacheTtl", int, default=ApiSettings.authorizer_cache_ttl), 0, 3600,
            a.key("authorizerCacheTtl")),
        authorizer_reserved_concurrency=_between(
            a.get("authorizerReservedConcurrency", int,
                  default=ApiSettings.authorizer_reserved_concurrency), 0, 1_000,
            a.key("authorizerReservedConcurrency")),
        cloudwatch_role=_one_of(a.get("cloudWatchRole", str, default=ApiSettings.cloudwatch_role),
                                CLOUDWATCH_ROLE_MODES, a.key("cloudWatchRole")),
        waf=_waf(_section(a, "waf")),
    )
    a.finish()
    longest = max_authorizer_ttl(token_minutes * 60)
    if api.authorizer_cache_ttl > longest:
        raise ConfigError(
            f"{a.key('authorizerCacheTtl')} must be at most {longest} seconds with "
            f"{r.key('tokenMinutes')} {token_minutes} (a cached policy must not outlive its "
            f"token), got {api.authorizer_cache_ttl}")
    return api


def _ui(r) -> UiSettings:
    u = _section(r, "ui")
    origins = u.get("studioOrigins", list, default=[])
    for i, origin in enumerate(origins):
        if not isinstance(origin, str) or not STUDIO_ORIGIN.match(origin):
            raise ConfigError(
                f"{u.key('studioOrigins')}[{i}] must be a SageMaker Studio domain's origin such "
                f"as https://d-abc123xyz.studio.us-east-1.sagemaker.aws, got {origin!r}")
    u.finish()
    return UiSettings(studio_origins=tuple(origins))


LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # what CloudWatch Logs accepts


def parse_central(raw, region) -> CentralConfig:
    r = _Reader(raw, f"{NAMESPACE}:central")
    region = _region(region or "", "aws:region")
    account_id = _account_id(r.get("accountId", str, required=True), r.key("accountId"))
    teams = _teams(r.get("teams", list, default=[]), r.key("teams"))
    iam_quotas = _iam_quotas(r)
    _check_iam_fits(teams, region, account_id, iam_quotas, r.key("teams"))
    eventbridge_quotas = _eventbridge_quotas(r)
    _check_eventbridge_fits(teams, region, account_id, eventbridge_quotas, r.key("teams"))
    _check_bucket_policy_fits(teams, region, account_id, r.key("teams"))
    token_minutes = _between(r.get("tokenMinutes", int, default=CentralConfig.token_minutes),
                             *TOKEN_MINUTES_RANGE, r.key("tokenMinutes"))
    config = CentralConfig(
        region=region,
        account_id=account_id,
        teams=teams,
        group_levels=_group_levels(r.get("cognitoGroups", dict), r.key("cognitoGroups")),
        network=_network(r),
        tracking_server=_tracking_server(r),
        database=_database(r),
        api=_api(r, token_minutes),
        ui=_ui(r),
        mfa=_one_of(r.get("mfa", str, default=CentralConfig.mfa), MFA_MODES, r.key("mfa")),
        iam_quotas=iam_quotas,
        eventbridge_quotas=eventbridge_quotas,
        token_minutes=token_minutes,
        log_retention_days=_one_of(
            r.get("logRetentionDays", int, default=CentralConfig.log_retention_days),
            LOG_RETENTION_DAYS, r.key("logRetentionDays")),
        protect=r.get("protect", bool, default=CentralConfig.protect),
        platform_contact=_contact(r),
        alarm_topic_arn=_topic_arn(r.get("alarmTopicArn", str), region, r.key("alarmTopicArn")),
        ci=_ci(r, "central", account_id),
        email=_email(r, region),
    )
    r.finish()
    return config


_SES_IDENTITY = re.compile(r"^arn:aws[a-z-]*:ses:(?P<region>[a-z0-9-]+):\d{12}:identity/"
                           r"(?P<identity>[^/\s]+)$")
_ADDRESS = re.compile(r"^(?:[^<>\n]{0,100} <)?(?P<address>[^@<>\s]+@(?P<domain>[^@<>\s]+))>?$")


def _email(r, region):
    """The optional `email` section: None when it is left out."""
    raw = r.get("email", dict)
    if raw is None:
        return None
    e = _Reader(raw, r.key("email"))
    arn = e.get("sesIdentityArn", str, required=True)
    match = _SES_IDENTITY.match(arn)
    if not match:
        raise ConfigError(f"{e.key('sesIdentityArn')} must be an SES identity's ARN "
                          f"(arn:aws:ses:<region>:<account>:identity/<domain or address>), "
                          f"got {arn!r}")
    if match["region"] not in (region,) + SES_REGIONS_FOR_COGNITO:
        raise ConfigError(f"{e.key('sesIdentityArn')} is in {match['region']}: Cognito sends "
                          f"with an SES identity of its own region ({region}) or of "
                          f"{', '.join(SES_REGIONS_FOR_COGNITO)}")
    sender = e.get("from", str, required=True)
    address = _ADDRESS.match(sender)
    identity = match["identity"]
    if not address or identity not in (address["address"], address["domain"]):
        raise ConfigError(f"{e.key('from')} must be an address of the SES identity "
                          f"{identity} (\"Name <name@{identity.split('@')[-1]}>\" or the bare "
                          f"address), got {sender!r}")
    reply_to = e.get("replyTo", str)
    e.finish()
    return EmailSettings(arn, sender, reply_to)


_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_ENVIRONMENT = re.compile(r"^[\w.-]{1,255}$")


def _ci(r, default_environment: str, account_id: str):
    """The optional `ci` section: None when it is left out."""
    raw = r.get("ci", dict)
    if raw is None:
        return None
    c = _Reader(raw, r.key("ci"))
    repository = c.get("githubRepository", str, required=True)
    if not _REPOSITORY.match(repository) or ".." in repository:
        raise ConfigError(f"{c.key('githubRepository')} must be a GitHub repository as "
                          f"owner/name (no wildcards), got {repository!r}")
    environment = c.get("environment", str, default=default_environment)
    if not _ENVIRONMENT.match(environment):
        raise ConfigError(f"{c.key('environment')} must be a GitHub environment's name "
                          f"(letters, digits, '_', '-', '.'), got {environment!r}")
    provider = c.get("oidcProviderArn", str)
    expected = (f"arn:aws:iam::{account_id}:oidc-provider/token.actions.githubusercontent.com")
    if provider is not None and provider != expected:
        raise ConfigError(f"{c.key('oidcProviderArn')} must be this account's GitHub OIDC "
                          f"provider, {expected}, got {provider!r}")
    ref_in_subject = c.get("refInSubject", bool, default=False)
    c.finish()
    return CiSettings(repository, environment, provider, ref_in_subject)


_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[\w-]{1,256}$")


def _topic_arn(value, region, key):
    if value is None:
        return None
    match = _TOPIC_ARN.match(value)
    if not match:
        raise ConfigError(f"{key} must be an SNS topic's ARN (arn:aws:sns:<region>:<account>:"
                          f"<name>), got {value!r}")
    if match["region"] != region:
        raise ConfigError(f"{key} must be a topic in the stack's region {region} (CloudWatch "
                          f"alarms notify topics of their own region), got {value!r}")
    return value


def _waf(w) -> WafSettings:
    settings = WafSettings(
        enabled=w.get("enabled", bool, default=WafSettings.enabled),
        # WAF's own bounds for a rate-based rule's limit
        rate_limit=_between(w.get("rateLimit", int, default=WafSettings.rate_limit), 10,
                            2_000_000_000, w.key("rateLimit")),
        caller_rate_limit=_between(
            w.get("callerRateLimit", int, default=WafSettings.caller_rate_limit), 10,
            2_000_000_000, w.key("callerRateLimit")))
    w.finish()
    if settings.caller_rate_limit > settings.rate_limit:
        raise ConfigError(
            f"{w.key('callerRateLimit')} ({settings.caller_rate_limit}) must be at most "
            f"{w.key('rateLimit')} ({settings.rate_limit}): every caller's requests count "
            "towards its address's too, so a larger allowance could never be used")
    return settings


def _half_steps(value: float, key: str) -> float:
    """Aurora Serverless v2 capacity comes in steps of 0.5 ACU; RDS refuses others at apply."""
    if value * 2 != int(value * 2):
        raise ConfigError(f"{key} must be a multiple of 0.5 ACU (Aurora Serverless v2's "
                          f"step), got {value}")
    return value


def _contact(r) -> str:
    try:
        return check_contact(r.get("platformContact", str, default=DEFAULT_CONTACT))
    except ValueError as e:
        raise ConfigError(f"{r.key('platformContact')}: {e}") from None


_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_TRACKING_URI = re.compile(r"^https://[a-z0-9.-]+(:\d+)?(/[\w.-]*)*$")
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def parse_datascience(raw, region) -> DataScienceConfig:
    key = f"{NAMESPACE}:datascience"
    r = _Reader(raw, key)
    region = _region(region or "", "aws:region")
    account_id = _account_id(r.get("accountId", str, required=True), r.key("accountId"))
    team = r.get("team", str, required=True)
    if not _TEAM_NAME.match(team):
        raise ConfigError(f"{r.key('team')} must be 2-32 lowercase letters, digits and dashes, "
                          f"starting with a letter, got {team!r}")
    central = _account_id(r.get("centralAccountId", str, required=True),
                          r.key("centralAccountId"))
    if central == account_id:
        raise ConfigError(f"{r.key('centralAccountId')} must be the central account, not this "
                          f"team's own account {account_id}")
    levels = _levels(r.get("levels", list, required=True), r.key("levels"))
    uri = r.get("trackingUri", str, required=True).rstrip("/")
    if not _TRACKING_URI.match(uri):
        raise ConfigError(f"{r.key('trackingUri')} must be the central stack's apiUrl output "
                          f"(https://<id>.execute-api.<region>.amazonaws.com/prod), got {uri!r}")
    # Jobs append the team's base path themselves (datascience_account.py): `<apiUrl>/<team>`
    # here would make them call <apiUrl>/<team>/<team>
    segments = urlsplit(uri).path.strip("/").split("/")
    if segments[-1] == team or (_EXECUTE_API_HOST.match(urlsplit(uri).hostname or "")
                                and len(segments) > 1):
        raise ConfigError(f"{r.key('trackingUri')} must be the central stack's apiUrl output "
                          f"(https://<id>.execute-api.<region>.amazonaws.com/prod) without a "
                          f"team's path: jobs append /{team} themselves; got {uri!r}")
    s = _Reader(r.get("studio", dict, default={}), r.key("studio"))
    enabled = s.get("enabled", bool, default=False)
    vpc_id = s.get("vpcId", str)
    subnets = s.get("subnetIds", list, default=[])
    if enabled:
        if not vpc_id or not _VPC_ID.match(vpc_id):
            raise ConfigError(f"{s.key('vpcId')} must be the id (vpc-...) of the VPC the Studio "
                              f"domain uses when studio.enabled is true, got {vpc_id!r}")
        if not subnets or not all(isinstance(x, str) and _SUBNET_ID.match(x) for x in subnets):
            raise ConfigError(f"{s.key('subnetIds')} must list the private subnets (subnet-...) "
                              f"of that VPC, got {subnets!r}")
    s.finish()
    config = DataScienceConfig(region=region, account_id=account_id, team=team,
                               central_account_id=central, levels=levels, tracking_uri=uri,
                               studio=StudioConfig(enabled, vpc_id, tuple(subnets)),
                               platform_contact=_contact(r),
                               ci=_ci(r, "datascience", account_id),
                               serving=_serving(r, region))
    r.finish()
    return config


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:key/[0-9a-f-]{36}$")
_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _serving(r, region) -> ServingConfig:
    s = _section(r, "serving")
    enabled = s.get("enabled", bool, default=ServingConfig.enabled)
    bucket = s.get("artifactBucket", str)
    key_arn = s.get("artifactKeyArn", str)
    if enabled:
        if not bucket or not _BUCKET.match(bucket):
            raise ConfigError(f"{s.key('artifactBucket')} must be the central stack's "
                              f"artifactBucket output (the bucket the frozen copies are in), "
                              f"got {bucket!r}; or set {s.key('enabled')}: false")
        match = _KEY_ARN.match(key_arn or "")
        if not match or match["region"] != region:
            raise ConfigError(f"{s.key('artifactKeyArn')} must be the central stack's "
                              f"artifactKeyArn output (a KMS key of {region}), got {key_arn!r}")
    alias = s.get("deployAlias", str, default=ServingConfig.deploy_alias)
    if not _ALIAS.match(alias):
        raise ConfigError(f"{s.key('deployAlias')} must be an MLflow alias (letters, digits, "
                          f"'_' and '-'), got {alias!r}")
    tag = s.get("imageTag", str, default=ServingConfig.image_tag)
    if not _IMAGE_TAG.match(tag):
        raise ConfigError(f"{s.key('imageTag')} must be an image tag, got {tag!r}")
    memory = _one_of(s.get("memoryMb", int, default=ServingConfig.memory_mb),
                     SERVERLESS_MEMORY_SIZES, s.key("memoryMb"))
    concurrency = _between(s.get("maxConcurrency", int, default=ServingConfig.max_concurrency),
                           1, SERVERLESS_MAX_CONCURRENCY, s.key("maxConcurrency"))
    instance_type = s.get("instanceType", str)
    if instance_type is not None and not _INSTANCE_TYPE.match(instance_type):
        raise ConfigError(f"{s.key('instanceType')} must be a SageMaker instance type such as "
                          f"ml.m5.large, got {instance_type!r}")
    count = _between(s.get("instanceCount", int, default=ServingConfig.instance_count), 1, 10,
                     s.key("instanceCount"))
    delete = s.get("deleteOnAliasRemoved", bool, default=ServingConfig.delete_on_alias_removed)
    s.finish()
    return ServingConfig(enabled, bucket, key_arn, alias, tag, memory, concurrency,
                         instance_type, count, delete)


def load(get_object, get, region):
    """The stack's typed config. `get_object(name)`/`get(name)` read `mlflow-landing-zone:*`."""
    account_type = get("accountType")
    if account_type is None:
        raise ConfigError(f"{NAMESPACE}:accountType is required (one of central, datascience)")
    _one_of(account_type, ACCOUNT_TYPES, f"{NAMESPACE}:accountType")
    raw = get_object(account_type)
    if raw is None:
        raise ConfigError(f"{NAMESPACE}:{account_type} is required for a {account_type} stack")
    if account_type == "central":
        return parse_central(raw, region)
    return parse_datascience(raw, region)
