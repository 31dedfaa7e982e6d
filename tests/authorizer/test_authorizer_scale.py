"""The authorizer at organisation scale (issue 25): 300 teams of the longest names, each shared
with 5 others and one shared with all. Its team data travels in its archive, read once at cold
start, so the Lambda's environment (4 KB in all, not adjustable) does not grow with teams."""

import json
import zipfile

import pulumi
import pytest

from spec.accounts import PLATFORM_GROUP_LEVELS

from tests.pulumi_program import Mocks, prebuilt

TEAMS = 300
ENVIRONMENT_BUDGET = 1024  # bytes of the variables' JSON; AWS allows 4 KB in all


def scale_workspaces(teams=TEAMS) -> dict:
    """{team: [teams it is shared with]}: 32-character names, each team's workspace shared
    with the 5 after it, the first one's with every other team."""
    names = [f"team-{i:03d}-" + "x" * 23 for i in range(teams)]
    assert all(len(n) == 32 for n in names)
    shared = {n: [names[(i + k) % teams] for k in range(1, 6)] for i, n in enumerate(names)}
    shared[names[0]] = names[1:]
    return shared


def run_api(workspaces: dict):
    """The edge component alone under the stack tests' mocks, as the central stack wires it:
    its authorizer's code is the archive the builder makes of these workspaces (without its
    libraries: tests/pulumi_program.prebuilt). Returns the authorizer function's inputs."""
    from components.api import Api, ApiArgs

    mocks = Mocks("111111111111", "us-east-1")
    pulumi.runtime.set_mocks(mocks, project="mlflow-landing-zone", stack="central",
                             preview=False)
    builds = prebuilt(workspaces)

    @pulumi.runtime.test
    def program():
        api = Api("mlflow-edge", ApiArgs(
            account_id="111111111111", region="us-east-1",
            nlb_arn="arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/x/1",
            nlb_dns_name="x-1.elb.us-east-1.amazonaws.com",
            authorizer_code=pulumi.FileArchive(str(builds.authorizer_archive)),
            user_pool_id="us-east-1_AbCdEf123",
            app_client_ids=["1example23456789abcdefghij"],  # Cognito's 26 characters
            group_levels=dict(PLATFORM_GROUP_LEVELS), workspaces=workspaces,
            ui_url="https://main.d1a2b3c4d5e6f7.amplifyapp.com", authorizer_cache_ttl=60,
            platform_contact="the MLflow platform team (#mlflow-platform)",
            cloudwatch_role="create", throttle_rate_limit=100.0, throttle_burst_limit=200,
            teams_throttle_rate_limit=1000.0, teams_throttle_burst_limit=2000,
            log_retention_days=30))
        return api.url

    program()
    [function] = [r for r in mocks.resources.values() if r.type == "aws:lambda/function:Function"]
    return function.inputs


@pytest.mark.slow  # 300 teams' API resources under mocks (about a minute)
def test_300_teams_ship_in_the_archive_and_the_environment_stays_under_1_kb():
    workspaces = scale_workspaces()
    inputs = run_api(workspaces)
    variables = inputs["environment"]["variables"]
    assert "WORKSPACES" not in variables
    assert len(json.dumps(variables)) < ENVIRONMENT_BUDGET, variables
    with zipfile.ZipFile(inputs["code"].path) as archive:
        shipped = json.loads(archive.read("authorizer/workspaces.json"))
        assert json.loads(archive.read("authorizer/policy_rules.json"))["rules"]
    assert shipped == {team: sorted(shared) for team, shared in workspaces.items()}
    assert len(shipped) == TEAMS and len(shipped["team-000-" + "x" * 23]) == TEAMS - 1


def test_the_environment_does_not_grow_with_teams():
    """The same settings for 2 teams as for 300 (the 300 are measured above): nothing of a
    team is in the environment."""
    few = run_api({"team-a": [], "team-b": ["team-a"]})["environment"]["variables"]
    assert set(few) == {"USER_POOL_ID", "APP_CLIENT_IDS", "TOKEN_USE", "GROUP_LEVELS",
                        "CACHE_TTL_SECONDS", "LEEWAY_SECONDS"}
    assert not any("team-" in str(value) for value in few.values())
