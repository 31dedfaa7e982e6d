"""The sandbox runs your landing zone: one edit of `Pulumi.central.yaml` (a team more, a level
changed) is seen by the central stack's program and by the sandbox alike; the sandbox reads
the file as Pulumi hands it to the program, and a bad one fails at once, naming the key."""

import os
import re
import subprocess
import sys
import time

import pulumi
import pytest
import yaml

from roles import LEVELS
from sandbox.plan import USERS_FILE, User, load_plan, read_users, seed_plan
from spec.config import NAMESPACE, ConfigError, load, parse_central
from spec.stack_file import CENTRAL_FILE, StackFile, config_values, read_stack

from tests.pulumi_program import ROOT, run_program
from tests.sandbox_clients import identity
from tests.sandbox_process import start_sandbox, stop_sandbox

TEAM_B = '''      - name: team-b
        accountId: "333333333333"
        levels: [reader, contributor]
        sharedWith: [team-a]
'''
# The one edit: team-b gains model-approver, and team-c arrives, sharing its workspace with
# team-b.
EDITED_TEAMS = '''      - name: team-b
        accountId: "333333333333"
        levels: [reader, contributor, model-approver]
        sharedWith: [team-a]
      - name: team-c
        accountId: "444444444444"
        levels: [reader, contributor]
        sharedWith: [team-b]
'''


def edited_central(folder):
    text = CENTRAL_FILE.read_text()
    assert text.count(TEAM_B) == 1
    path = folder / "Pulumi.central.yaml"
    path.write_text(text.replace(TEAM_B, EDITED_TEAMS))
    return path


def from_anywhere() -> dict:
    """An environment in which this checkout's packages import from any directory."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}


def access_roles(inventory) -> set:
    """(team, level) of every mlflow-<team>-<level> role the program registered."""
    names = {r.inputs["name"] for r in inventory.of_type("aws:iam/role:Role")
             if r.name.startswith("mlflow-access-")}
    return {(team, level) for team in ("team-a", "team-b", "team-c") for level in LEVELS
            if f"mlflow-{team}-{level}" in names}


def test_the_sandbox_runs_the_stack_config_by_default_with_todays_users():
    plan = load_plan()
    central = read_stack(CENTRAL_FILE)
    assert plan.central_account == central.account_id == "111111111111"
    assert plan.region == central.region == "us-east-1"
    assert [(t.name, t.account_id, t.levels, t.shared_with) for t in plan.teams] == [
        (t.name, t.account_id, t.levels, t.shared_with) for t in central.teams]
    # team-a's own stack (Pulumi.datascience.yaml) deploys the SageMaker roles of every level
    # the central stack grants it; team-b has no stack file here: the central stack's levels
    assert [t.sagemaker_levels for t in plan.teams] == [LEVELS, ("reader", "contributor")]
    assert plan.group_levels == central.group_levels == {"platform-admins": "admin"}
    assert plan.platform_contact == central.platform_contact
    assert (plan.token_seconds, plan.authorizer_ttl, plan.mfa) == (600, 60, "OPTIONAL")
    assert plan.workspaces == {"team-a": [], "team-b": ["team-a"]}
    assert [(u.name, u.groups, u.new, u.mfa) for u in plan.users] == [
        ("reader-user", ("team-a:reader",), False, False),
        ("contributor-user", ("team-a:contributor",), False, False),
        ("model-approver-user", ("team-a:model-approver",), False, False),
        ("admin-user", ("platform-admins",), False, False),
        ("two-groups-user", ("team-a:contributor", "team-a:model-approver"), False, False),
        ("two-teams-user", ("team-a:reader", "team-b:contributor"), False, False),
        ("team-b-user", ("team-b:contributor",), False, False),
        ("team-admin-user", ("team-a:admin",), False, False),
        ("no-group-user", (), False, False),
        ("new-user", ("team-a:reader",), True, False),
        ("mfa-user", ("team-a:reader",), False, True)]


@pytest.mark.parametrize("stack", ["central", "datascience"])
def test_a_stack_file_reads_as_pulumi_config_gives_it_to_the_program(stack):
    path = ROOT / f"Pulumi.{stack}.yaml"
    raw = yaml.safe_load(path.read_text())["config"]
    stack_file = StackFile(path)
    pulumi.runtime.set_all_config(config_values(raw))
    try:
        project = pulumi.Config(NAMESPACE)
        assert stack_file.get("accountType") == project.get("accountType") == stack
        assert stack_file.get_object(stack) == project.get_object(stack) == raw[f"{NAMESPACE}:{stack}"]
        assert stack_file.region == pulumi.Config("aws").get("region") == "us-east-1"
        assert stack_file.load() == load(project.get_object, project.get,
                                         pulumi.Config("aws").get("region"))
    finally:
        pulumi.runtime.set_all_config({})


def test_one_edit_adds_a_team_and_changes_a_level_for_the_stacks_and_the_sandbox(tmp_path):
    path = edited_central(tmp_path)
    # the central stack's program, under mocks, with the edited file's config
    stack = run_program(yaml.safe_load(path.read_text())["config"])
    expected = {("team-a", level) for level in LEVELS} | {
        ("team-b", "reader"), ("team-b", "contributor"), ("team-b", "model-approver"),
        ("team-c", "reader"), ("team-c", "contributor")}
    assert access_roles(stack) == expected
    groups = {r.inputs["name"] for r in stack.of_type("aws:cognito/userGroup:UserGroup")}
    assert groups == {"platform-admins"} | {f"{team}:{level}" for team in
                                            ("team-a", "team-b", "team-c") for level in LEVELS}
    # the sandbox's seeding plan from the same file: the same roles and groups
    plan = load_plan(path)
    assert {(t.name, level) for t in plan.teams for level in t.levels} == expected
    assert {(t.name, level) for t in plan.teams for level in t.sagemaker_levels} == expected
    assert set(plan.team_groups) | set(plan.group_levels) == groups
    team_c = next(t for t in plan.teams if t.name == "team-c")
    assert (team_c.account_id, team_c.shared_with) == ("444444444444", ("team-b",))
    assert plan.workspaces == {"team-a": [], "team-b": ["team-a"], "team-c": ["team-b"]}


def test_a_team_stack_beside_the_config_gives_its_teams_sagemaker_roles(tmp_path):
    (tmp_path / "Pulumi.central.yaml").write_text(CENTRAL_FILE.read_text())
    team_stack = (ROOT / "Pulumi.datascience.yaml").read_text()
    levels = "    levels: [reader, contributor, model-approver, admin]\n"
    assert team_stack.count(levels) == 1
    # a team account that deploys two of the four roles the central stack grants it
    (tmp_path / "Pulumi.team-a.yaml").write_text(
        team_stack.replace(levels, "    levels: [reader, contributor]\n"))
    plan = load_plan(tmp_path / "Pulumi.central.yaml")
    team_a = plan.teams[0]
    assert (team_a.levels, team_a.sagemaker_levels) == (LEVELS, ("reader", "contributor"))

    def refused(text, message):
        (tmp_path / "Pulumi.team-a.yaml").write_text(text)
        with pytest.raises(ConfigError) as e:
            load_plan(tmp_path / "Pulumi.central.yaml")
        assert str(e.value) == f"{tmp_path / 'Pulumi.team-a.yaml'}: {message}"

    refused(team_stack.replace("team: team-a", "team: team-z"),
            "mlflow-landing-zone:datascience.team: 'team-z' is not a team of the central stack "
            "(mlflow-landing-zone:central.teams: team-a, team-b)")
    refused(team_stack.replace('accountId: "222222222222"', 'accountId: "333333333333"'),
            "mlflow-landing-zone:datascience.accountId must be team-a's account as the central "
            "stack lists it (mlflow-landing-zone:central.teams[0].accountId 222222222222), got "
            "333333333333")
    (tmp_path / "Pulumi.central.yaml").write_text(CENTRAL_FILE.read_text().replace(
        "levels: [reader, contributor, model-approver, admin]",
        "levels: [reader, contributor]"))
    refused(team_stack, "mlflow-landing-zone:datascience.levels names model-approver, admin, "
                        "which the central stack does not grant team-a "
                        "(mlflow-landing-zone:central.teams[0].levels: reader, contributor)")
    # and a bad team stack fails with its own key, after its file
    refused(team_stack.replace("team: team-a", "team: Team A"),
            "mlflow-landing-zone:datascience.team must be 2-32 lowercase letters, digits and "
            "dashes, starting with a letter, got 'Team A'")


TEAM_A_LEVELS = '        levels: [reader, contributor, model-approver, admin]\n'
TEAM_STACK_ALIAS = "      deployAlias: champion\n"


def test_a_team_stacks_deploy_alias_must_be_the_one_the_central_stack_names(tmp_path):
    """The central stack's teams[].deployAlias (the tracking server's approval rule guards it)
    and the team stack's serving.deployAlias (its deployer serves it) name one alias."""
    central, team_stack = CENTRAL_FILE.read_text(), (ROOT / "Pulumi.datascience.yaml").read_text()
    assert central.count(TEAM_A_LEVELS) == 1 and team_stack.count(TEAM_STACK_ALIAS) == 1
    (tmp_path / "Pulumi.central.yaml").write_text(central.replace(
        TEAM_A_LEVELS, TEAM_A_LEVELS + "        deployAlias: production\n"))

    def plan_with(alias):
        (tmp_path / "Pulumi.team-a.yaml").write_text(team_stack.replace(
            TEAM_STACK_ALIAS, f"      deployAlias: {alias}\n"))
        return load_plan(tmp_path / "Pulumi.central.yaml")

    assert plan_with("production").teams[0].deploy_alias == "production"
    with pytest.raises(ConfigError) as e:
        plan_with("champion")
    assert str(e.value) == (
        f"{tmp_path / 'Pulumi.team-a.yaml'}: mlflow-landing-zone:datascience.serving.deployAlias "
        "'champion' must be the alias the central stack names for team-a "
        "(mlflow-landing-zone:central.teams[0].deployAlias: 'production', 'champion' when "
        "unset): the deployer serves the promotions of that alias, which the tracking server's "
        "approval rule guards")
    # a team stack that does not serve deploys nothing: its alias is not read
    (tmp_path / "Pulumi.team-a.yaml").write_text(team_stack.replace(
        "    serving:\n", "    serving:\n      enabled: false\n"))
    assert load_plan(tmp_path / "Pulumi.central.yaml").teams[0].deploy_alias == "production"


@pytest.mark.parametrize("user, message", [
    (User("ghost", ("team-z:reader",)),
     "user ghost's group 'team-z:reader': the config has no team 'team-z' (its teams: team-a, "
     "team-b)"),
    (User("owner", ("team-a:reader", "team-a:owner")),
     "user owner's group 'team-a:owner': 'owner' is not a level (reader, contributor, "
     "model-approver, admin)"),
    (User("boss", ("platform-owners",)),
     "user boss's group 'platform-owners': the config's cognitoGroups are platform-admins; a "
     "team's group is <team>:<level>"),
])
def test_a_user_in_a_group_the_config_lacks_is_refused_by_name(user, message):
    central = read_stack(CENTRAL_FILE)
    with pytest.raises(ConfigError) as e:
        seed_plan(central, (), (user,), "users.yaml")
    assert str(e.value) == f"users.yaml: {message}"


def test_a_paired_authenticator_needs_the_configs_mfa():
    raw = yaml.safe_load(CENTRAL_FILE.read_text())["config"][f"{NAMESPACE}:central"]
    central = parse_central({**raw, "mfa": "OFF"}, "us-east-1")
    with pytest.raises(ConfigError, match="user mfa-user has mfa: true, but the config's mfa "
                                          "is OFF"):
        seed_plan(central, (), read_users(USERS_FILE))


@pytest.mark.parametrize("text, message", [
    ("users: [{name: a, groups: [team-a:reader], admin: true}]", "users[0] has unknown keys: admin"),
    ("users: [{name: a}, {name: a}]", "users[1].name: user 'a' is listed twice"),
    ("users: [{name: a, new: yes please}]", "users[0].new must be true or false"),
    ("users: [{name: a, groups: team-a:reader}]", "users[0].groups must be a list"),
    ("users: [{name: 'a b'}]", "users[0].name must be a username"),
    ("people: []", "users must be a list of users"),
])
def test_a_bad_users_file_names_the_entry(tmp_path, text, message):
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_users(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


@pytest.mark.slow  # a fresh interpreter imports the sandbox, to be refused
def test_a_bad_config_fails_at_once_naming_the_key_as_the_stack_does(tmp_path):
    bad = tmp_path / "Pulumi.central.yaml"
    bad.write_text(CENTRAL_FILE.read_text().replace(TEAM_B, TEAM_B.replace(
        "levels: [reader, contributor]", "levels: [owner, contributor]")))
    config = yaml.safe_load(bad.read_text())["config"]
    with pytest.raises(ConfigError) as e:  # the parser the stack's program runs
        parse_central(config[f"{NAMESPACE}:central"], config["aws:region"])
    message = str(e.value)
    assert message.startswith("mlflow-landing-zone:central.teams[1].levels must be one of ")
    with pytest.raises(pulumi.RunError, match=re.escape(message)):
        run_program(config)  # what `pulumi preview` shows
    state_file = tmp_path / "state" / "sandbox.json"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "sandbox", "--stack-config", str(bad),
                             "--state-file", str(state_file), "--port", "0", "--ui-port", "0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env=from_anywhere())
    assert result.returncode == 2
    assert result.stderr == f"sandbox: {bad}: {message}\n"
    assert result.stdout == ""  # nothing started: no step began
    assert not state_file.parent.exists()
    assert time.monotonic() - started < 60  # no MLflow, no moto


def test_the_default_config_is_found_from_any_directory(tmp_path, monkeypatch):
    """`--stack-config` defaults to this checkout's Pulumi.central.yaml, not the cwd's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Pulumi.central.yaml").write_text("config: {}\n")  # not this one
    assert CENTRAL_FILE == ROOT / "Pulumi.central.yaml"
    assert [t.name for t in load_plan().teams] == ["team-a", "team-b"]


@pytest.mark.slow  # a sandbox of its own
def test_the_sandbox_runs_an_edited_config_and_a_new_teams_role_signs_through_it(tmp_path):
    path = edited_central(tmp_path)
    users = tmp_path / "users.yaml"
    users.write_text(USERS_FILE.read_text() + "  - {name: team-c-user, groups: [team-c:reader]}\n")
    (tmp_path / "state").mkdir()
    process, state = start_sandbox(tmp_path / "state" / "sandbox.json", "--stack-config",
                                   str(path), "--users", str(users), timeout=300)
    try:
        teams = {t["name"]: t for t in state["teams"]}
        assert {name: [r["level"] for r in t["roles"]] for name, t in teams.items()} == {
            "team-a": list(LEVELS), "team-b": ["reader", "contributor", "model-approver"],
            "team-c": ["reader", "contributor"]}
        assert teams["team-c"]["account_id"] == "444444444444"
        assert teams["team-c"]["tracking_uri"] == f"{state['gateway_url']}/team-c"
        levels = {u["username"]: u["levels"] for u in state["cognito"]["users"]}
        assert levels["team-c-user"] == {"team-c": "reader"}
        # team-c shares its workspace with team-b
        assert levels["team-b-user"] == {"team-b": "contributor", "team-c": "reader"}
        # team-c's contributor, through the gateway with SigV4, as its SageMaker jobs would
        with identity(state, "contributor", "client", team="team-c") as c:
            experiment = c.create_experiment("team-c-first")
            assert c.get_experiment(experiment).name == "team-c-first"
        with identity(state, "reader", "client", team="team-c") as c:
            assert c.get_experiment_by_name("team-c-first").experiment_id == experiment
            with pytest.raises(Exception, match="PERMISSION_DENIED|403"):
                c.create_experiment("a-reader-may-not")
        # team-b's new level is a role its jobs assume; it reads team-c's shared workspace
        with identity(state, "model-approver", "client", team="team-b",
                      workspace="team-c") as c:
            assert c.get_experiment_by_name("team-c-first").experiment_id == experiment
            with pytest.raises(Exception, match="PERMISSION_DENIED|403"):
                c.create_experiment("shared-is-read-only")
        with identity(state, "model-approver", "client", team="team-b") as c:
            assert c.get_experiment_by_name("team-c-first") is None  # not in team-b's own
    finally:
        stop_sandbox(process)


def test_the_printed_lines_follow_the_config_and_users_it_runs(tmp_path):
    """Another landing zone's teams and users: the lines name what it has."""
    from sandbox.__main__ import newcomer_lines

    state = {"ui_url": "http://127.0.0.2:8081", "gateway_url": "http://127.0.0.1:8080",
             "cognito": {"users": [{"username": "alice", "password": "pw",
                                    "levels": {"fraud": "reader"}}]},
             "teams": [{"name": "fraud", "workspace": "fraud",
                        "tracking_uri": "http://127.0.0.1:8080/fraud",
                        "roles": [{"level": "reader", "central_role_arn":
                                   "arn:aws:iam::111111111111:role/mlflow-fraud-reader"}]}]}
    text = newcomer_lines(state, tmp_path / "sandbox.json")
    assert "sign in as alice / pw, a reader in fraud;" in text
    assert "Log a run as fraud's reader, through the gateway" in text
    assert "AWS_PROFILE=fraud-reader" in text
    assert "MLFLOW_LANDING_ZONE_ROLE_ARN=arn:aws:iam::111111111111:role/mlflow-fraud-reader" in text
