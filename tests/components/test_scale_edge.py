"""Organisation scale at the edge (issue 25, items 1 and 2): the API's resources and methods,
its resource policy and the web ACL's capacity are the same for 10 teams as for 300 (with
32-character names), and each stays under 80 % of its AWS limit.

The API and web ACL components run under Pulumi's mocks on their own (the whole central
program's time at 300 teams is the scale benchmark's to measure, benchmarks/scale.py)."""

import json
import re

import pulumi
import pytest

from components.api import Api, ApiArgs
from components.web_acl import (
    WCU_LIMIT,
    RateLimits,
    WebAcl,
    WebAclArgs,
    estimated_wcu,
    rule_wcu,
    web_acl_rules,
)
from roles.policy_eval import DENY, evaluate
from spec.edge import (
    TEAM_ROUTE,
    edge_methods,
    edge_resources,
    integration_header_sources,
    is_ui_redirect_path,
    match_route,
    resource_policy,
)

from tests.pulumi_program import Mocks, prebuilt

ACCOUNT, REGION = "111111111111", "us-east-1"
RESOURCES_PER_API = 300  # API Gateway's default quota (adjustable)
RESOURCE_POLICY_CHARACTERS = 8_192
WAF_REGEX_CHARACTERS = 200  # a regex pattern set's pattern; inline regexes may be longer


def team_names(count: int) -> list:
    """Names as long as a team's may be (32 characters), all different."""
    return [f"team-{i:04d}-".ljust(31, "x") + "z" for i in range(count)]


def edge(count: int) -> dict:
    """{type: [(name, inputs)]} of what the API and the web ACL register for `count` teams."""
    mocks = Mocks(ACCOUNT, REGION)
    pulumi.runtime.set_mocks(mocks, project="mlflow-landing-zone", stack="central",
                             preview=False)
    names = team_names(count)
    # each team's workspace shared with the next 5 teams, and the first with every team
    workspaces = {t: names[i + 1:i + 6] for i, t in enumerate(names)}
    workspaces[names[0]] = names[1:]

    @pulumi.runtime.test
    def program():
        api = Api("mlflow-edge", ApiArgs(
            account_id=ACCOUNT, region=REGION, nlb_arn="arn:aws:elasticloadbalancing:nlb",
            nlb_dns_name="nlb.example", authorizer_code=pulumi.FileArchive(
                str(prebuilt().authorizer_archive)),
            user_pool_id="pool", app_client_ids=["client"], group_levels={"admins": "admin"},
            workspaces=workspaces, ui_url="https://ui.example", authorizer_cache_ttl=60,
            platform_contact="the platform team", cloudwatch_role="create",
            throttle_rate_limit=100, throttle_burst_limit=200, teams_throttle_rate_limit=1000,
            teams_throttle_burst_limit=2000, log_retention_days=90))
        WebAcl("mlflow-firewall", WebAclArgs(
            stage_arn=api.stage_arn, stage="prod", ui_url="https://ui.example",
            rate_limits=RateLimits(address=20_000, caller=10_000)))
        return api.url

    program()
    found = {}
    for (typ, name), record in mocks.resources.items():
        found.setdefault(typ, []).append((name, record.inputs))
    return found


@pytest.fixture(scope="module")
def few():
    return edge(10)


@pytest.fixture(scope="module")
def many():
    return edge(300)


def test_the_apis_resources_and_methods_do_not_grow_with_teams(few, many):
    counted = ("aws:apigateway/resource:Resource", "aws:apigateway/method:Method",
               "aws:apigateway/integration:Integration")
    for typ in counted:
        assert sorted(n for n, _ in few[typ]) == sorted(n for n, _ in many[typ]), typ
    resources = len(many["aws:apigateway/resource:Resource"])
    assert resources == 24 and resources + 1 <= 0.8 * RESOURCES_PER_API  # + the root
    assert len(many["aws:apigateway/method:Method"]) == 25
    # what spec.edge says the API has (the scale benchmark's figures) is what it registers
    assert sorted(i["pathPart"] for _, i in many["aws:apigateway/resource:Resource"]) == sorted(
        p.rsplit("/", 1)[1] for p in edge_resources())
    assert sorted((i["httpMethod"]) for _, i in many["aws:apigateway/method:Method"]) == sorted(
        m for m, _ in edge_methods())


def test_the_resource_policy_is_constant_and_small(few, many):
    [(_, small)] = few["aws:apigateway/restApiPolicy:RestApiPolicy"]
    [(_, large)] = many["aws:apigateway/restApiPolicy:RestApiPolicy"]
    assert small["policy"] == large["policy"]
    assert len(large["policy"]) <= 0.8 * RESOURCE_POLICY_CHARACTERS
    assert "team-" not in large["policy"]


def test_the_web_acl_is_the_same_for_any_number_of_teams_and_fits(few, many):
    [(_, small)] = few["aws:wafv2/webAcl:WebAcl"]
    [(_, large)] = many["aws:wafv2/webAcl:WebAcl"]
    assert small["rules"] == large["rules"]
    assert "team-" not in json.dumps(large["rules"])
    limits = RateLimits(address=20_000, caller=10_000)
    assert estimated_wcu(limits=limits, teams=team_names(10)) == estimated_wcu(
        limits=limits, teams=team_names(300)) <= 0.8 * WCU_LIMIT
    # each rule as AWS counts it (the comments in components/web_acl.py)
    assert rule_wcu(web_acl_rules("prod", "https://ui.example", limits)) == {
        "RedirectPath": 6, "OtherSiteRequest": 14, "ForeignOrigin": 4, "RequestsPerSession": 32,
        "RequestsPerUser": 34, "RequestsPerAddress": 2,
        "AWSManagedRulesAmazonIpReputationList": 25,
        "AWSManagedRulesKnownBadInputsRuleSet": 200, "AWSManagedRulesCommonRuleSet": 700}
    assert estimated_wcu(limits=limits) == 1017
    assert estimated_wcu(limits=None) == 24  # edge protection off: the cross-site rules
    regexes = re.findall(r'"regexString": "((?:[^"\\]|\\.)*)"', json.dumps(large["rules"]))
    assert len(regexes) == 3 and all(len(r) <= WAF_REGEX_CHARACTERS for r in regexes)
    assert not any(re.search(r"\((?!\?:)", r) for r in regexes)  # WAF refuses capturing groups


@pytest.mark.parametrize("team", [team_names(300)[0], team_names(300)[-1], "team-a"])
def test_every_team_path_names_its_workspace_and_carries_the_real_path(team):
    """One resource for every team: the workspace is the path's first segment, MLflow gets the
    path below it, and the execute-api ARN (what IAM judges) carries the real path."""
    route, parameters = match_route(f"/{team}/api/2.0/mlflow/runs/get")
    assert route is TEAM_ROUTE and parameters == {"workspace": team,
                                                  "proxy": "api/2.0/mlflow/runs/get"}
    assert route.target_path(parameters) == "/api/2.0/mlflow/runs/get"
    assert integration_header_sources(route)["X-MLFLOW-WORKSPACE"] == (
        "method.request.path.workspace")
    assert is_ui_redirect_path(f"/{team}") and is_ui_redirect_path(f"/{team}/")
    # another account's SigV4 caller is refused on every team's path, this account's is not
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123"
    policy = resource_policy(arn, ACCOUNT)
    method_arn = f"{arn}/prod/GET/{team}/api/2.0/mlflow/runs/get"
    for account, denied in (("999999999999", True), (ACCOUNT, False)):
        principal = f"arn:aws:iam::{account}:role/mlflow-{team}-reader"
        decision = evaluate([policy], "execute-api:Invoke", method_arn,
                            context={"aws:PrincipalAccount": account,
                                     "aws:PrincipalArn": principal}, principal=principal)
        assert (decision == DENY) is denied, account
