"""What the sandbox seeds, from the stack config it runs and its users file: a pure function of
the two (no moto, no server), so a test sees the teams and levels a start would seed.

The central stack's config (`Pulumi.central.yaml`, or `--stack-config FILE`) gives the central
account, the teams (account, levels, sharing), the platform's Cognito groups, whom refusals
name, token and cache lifetimes, MFA and the region, read through `spec` as the stack reads
it. A team stack beside it (`Pulumi.<stack>.yaml` with accountType datascience) gives the
SageMaker roles of its team's account, as that stack deploys them; a team without one gets a
SageMaker role for each level the central stack grants it. The users are the sandbox's own
(`sandbox/users.yaml`, or `--users FILE`).
"""

import re
from dataclasses import dataclass
from pathlib import Path


from roles import LEVELS
from spec.accounts import team_group
from spec.config import NAMESPACE, CentralConfig, ConfigError, approval_rules
from spec.registry_events import DEFAULT_DEPLOY_ALIAS, DEFAULT_REQUIRE_SECOND_PERSON
from spec.stack_file import CENTRAL_FILE, StackFile, check_team_stack, read_yaml, team_stacks

USERS_FILE = Path(__file__).resolve().parent / "users.yaml"
_USERNAME = re.compile(r"^[\w.@+-]{1,128}$")  # what Cognito takes as a username


@dataclass(frozen=True)
class TeamPlan:
    name: str  # also its workspace
    account_id: str
    levels: tuple  # the central roles mlflow-<team>-<level>
    sagemaker_levels: tuple  # the team account's SageMaker roles, one session each
    shared_with: tuple = ()
    deploy_alias: str = DEFAULT_DEPLOY_ALIAS  # the promotion that deploys
    require_second_person: bool = DEFAULT_REQUIRE_SECOND_PERSON


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple
    new: bool = False  # a temporary password, changed at the first sign-in
    mfa: bool = False  # an authenticator app paired


@dataclass(frozen=True)
class SeedPlan:
    region: str
    central_account: str
    teams: tuple  # TeamPlan
    group_levels: dict  # groups holding a level in every workspace
    users: tuple  # User
    platform_contact: str
    token_seconds: int
    authorizer_ttl: int
    mfa: str  # OFF | OPTIONAL | ON
    # the teams whose approval rule is not the default (the tracking server's APPROVAL_ENV)
    approval: dict = None

    @property
    def workspaces(self) -> dict:
        """{team: [teams it is shared with]}, as the authorizer's WORKSPACES."""
        return {t.name: list(t.shared_with) for t in self.teams}

    @property
    def team_groups(self) -> tuple:
        """`<team>:<level>` for every team and level, as the central stack creates them."""
        return tuple(team_group(t.name, level) for t in self.teams for level in LEVELS)


def seed_plan(central: CentralConfig, team_configs=(), users=(), users_file=None) -> SeedPlan:
    """`team_configs`: (file, DataScienceConfig) of the team stacks, checked against `central`
    first; `users`: read from `users_file` (named in errors)."""
    if not central.teams:
        raise ConfigError(f"{NAMESPACE}:central.teams: the sandbox needs at least one team (its "
                          f"example run goes to the first team's workspace)")
    own = {}
    for where, team in team_configs:
        check_team_stack(central, team, str(where))
        own[team.team] = team.levels
    teams = tuple(TeamPlan(t.name, t.account_id, t.levels, own.get(t.name, t.levels),
                           t.shared_with, t.deploy_alias, t.require_second_person)
                  for t in central.teams)
    plan = SeedPlan(region=central.region, central_account=central.account_id, teams=teams,
                    group_levels=dict(central.group_levels), users=tuple(users),
                    platform_contact=central.platform_contact,
                    token_seconds=central.token_minutes * 60,
                    authorizer_ttl=central.api.authorizer_cache_ttl, mfa=central.mfa,
                    approval=approval_rules(central.teams))
    check_users(plan, users_file)
    return plan


def check_users(plan: SeedPlan, users_file=None) -> None:
    """Every group a user names exists in this landing zone; a paired authenticator needs MFA."""
    where = f"{users_file}: " if users_file else ""
    known = set(plan.group_levels) | set(plan.team_groups)
    teams = [t.name for t in plan.teams]
    for user in plan.users:
        for group in user.groups:
            if group in known:
                continue
            team, _, level = group.partition(":")
            if not level:
                why = (f"the config's cognitoGroups are {', '.join(plan.group_levels)}; a "
                       f"team's group is <team>:<level>")
            elif team not in teams:
                why = f"the config has no team {team!r} (its teams: {', '.join(teams) or 'none'})"
            else:
                why = f"{level!r} is not a level ({', '.join(LEVELS)})"
            raise ConfigError(f"{where}user {user.name}'s group {group!r}: {why}")
        if user.mfa and plan.mfa == "OFF":
            raise ConfigError(f"{where}user {user.name} has mfa: true, but the config's mfa is OFF (no "
                              f"authenticator apps in the user pool)")


def read_users(path=USERS_FILE) -> tuple:
    """The `users:` section of a users file (sandbox/users.yaml documents it)."""
    path = Path(path)
    document = read_yaml(path)
    raw = document.get("users") if isinstance(document, dict) else None
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: users must be a list of users (name, groups, new, mfa)")
    users, names = [], set()
    for i, entry in enumerate(raw):
        key = f"{path}: users[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{key} must be an object (name, groups, new, mfa)")
        unknown = sorted(set(entry) - {"name", "groups", "new", "mfa"})
        if unknown:
            raise ConfigError(f"{key} has unknown keys: {', '.join(map(str, unknown))}")
        name, groups = entry.get("name"), entry.get("groups", [])
        if not isinstance(name, str) or not _USERNAME.match(name):
            raise ConfigError(f"{key}.name must be a username (letters, digits, . @ + - _), "
                              f"got {name!r}")
        if name in names:
            raise ConfigError(f"{key}.name: user {name!r} is listed twice")
        names.add(name)
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ConfigError(f"{key}.groups must be a list of group names, got {groups!r}")
        flags = {}
        for flag in ("new", "mfa"):
            value = entry.get(flag, False)
            if not isinstance(value, bool):
                raise ConfigError(f"{key}.{flag} must be true or false, got {value!r}")
            flags[flag] = value
        if flags["new"] and flags["mfa"]:
            raise ConfigError(f"{key}: a new user (temporary password) pairs an authenticator "
                              f"only after the first sign-in; give one of new, mfa")
        users.append(User(name, tuple(groups), **flags))
    return tuple(users)


def load_plan(stack_config=CENTRAL_FILE, users_file=USERS_FILE) -> SeedPlan:
    """The plan of `python -m sandbox --stack-config <stack_config> --users <users_file>`."""
    stack = StackFile(stack_config)
    config = stack.load()
    if not isinstance(config, CentralConfig):
        raise ConfigError(f"{stack.path}: the sandbox runs a central stack's config "
                          f"(mlflow-landing-zone:accountType central), got {config.account_type}")
    return seed_plan(config, team_stacks(stack.path), read_users(users_file), users_file)

