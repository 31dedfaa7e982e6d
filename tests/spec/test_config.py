"""Bad stack config fails at once, naming the key and what is expected."""

import copy

import pulumi
import pytest

from roles import LEVELS
from spec.config import ConfigError, iam_usage, load, parse_central

from tests.pulumi_program import run_program, stack_config

GOOD = stack_config("central")["mlflow-landing-zone:central"]


def central(**changes):
    raw = copy.deepcopy(GOOD)
    for path, value in changes.items():
        target = raw
        *parents, last = path.split("__")
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is KeyError:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return raw


def test_the_example_config_is_valid():
    config = parse_central(GOOD, "us-east-1")
    assert [t.name for t in config.teams] == ["team-a", "team-b"]
    assert config.teams[0].levels == ("reader", "contributor", "model-approver", "admin")
    assert config.protect is True and config.network.nat == "single"
    assert config.platform_contact == "the MLflow platform team (#mlflow-platform)"
    assert parse_central(central(platformContact=KeyError), "us-east-1").platform_contact == (
        "your MLflow platform team")
    assert (config.token_minutes, config.api.authorizer_cache_ttl) == (10, 60)
    assert (config.api.waf.enabled, config.api.waf.rate_limit,
            config.api.waf.caller_rate_limit) == (True, 20_000, 10_000)
    assert parse_central(central(api={}), "us-east-1").api.waf == config.api.waf  # the defaults
    # the longest cache a 15-minute token allows
    assert parse_central(central(tokenMinutes=15, api={"authorizerCacheTtl": 435}),
                         "us-east-1").api.authorizer_cache_ttl == 435


def test_each_team_has_a_deploy_alias_and_a_second_person_by_default():
    from spec.config import approval_rules
    from spec.registry_events import DEFAULT_DEPLOY_ALIAS

    config = parse_central(GOOD, "us-east-1")
    assert [(t.deploy_alias, t.require_second_person) for t in config.teams] == [
        (DEFAULT_DEPLOY_ALIAS, True), (DEFAULT_DEPLOY_ALIAS, True)]
    assert DEFAULT_DEPLOY_ALIAS == "champion"
    # only the teams that differ travel to the tracking server
    assert approval_rules(config.teams) == {}
    changed = parse_central(central(teams__0__deployAlias="prod_v2",
                                    teams__1__requireSecondPerson=False), "us-east-1")
    assert approval_rules(changed.teams) == {
        "team-a": {"deployAlias": "prod_v2", "requireSecondPerson": True},
        "team-b": {"deployAlias": "champion", "requireSecondPerson": False}}


@pytest.mark.parametrize("raw, message", [
    (central(accountId=KeyError), "mlflow-landing-zone:central.accountId is required"),
    (central(teams__0__accountId=KeyError), r"central.teams\[0\].accountId is required"),
    (central(trackingServer={"cpu": "big"}), "trackingServer.cpu must be a whole number, got str"),
    (central(protect="yes"), "central.protect must be true or false, got str"),
    (central(teams="team-a"), "central.teams must be a list, got str"),
    (central(accountId="12345"), "accountId must be a 12-digit AWS account id"),
    (central(accountId=111111111111), "accountId must be a string"),
    (central(teams__1__accountId="33333333333x"), r"teams\[1\].accountId must be a 12-digit"),
    (central(network={"cidr": "10.40.0.0/33"}), "network.cidr must be an IPv4 CIDR block"),
    (central(network={"cidr": "10.40.0.1/16"}), "network.cidr must be an IPv4 CIDR block"),
    (central(network={"cidr": "10.0.0.0/8"}), "network.cidr must be an IPv4 block from /16"),
    (central(teams__0__levels=["reader", "owner"]), r"teams\[0\].levels must be one of reader"),
    (central(cognitoGroups={"admins": "superuser"}), "cognitoGroups.admins must be one of"),
    (central(teams__1__name="team-a"), r"teams\[1\].name: team 'team-a' is listed twice"),
    (central(teams__0__name="Team A"), r"teams\[0\].name must be 2-32 lowercase"),
    (central(trackingServer={"cpu": 1024, "memory": 512}), "trackingServer.memory must be one of"),
    (central(trackingServer={"desiredCount": 1}), "desiredCount must be between 2 and 20"),
    (central(database={"backupRetentionDays": 1}), "backupRetentionDays must be between 7"),
    (central(network={"natGateways": "two"}), "natGateways must be one of none, single"),
    (central(surprise=1), "mlflow-landing-zone:central has unknown keys: surprise"),
    (central(ui={"studioOrigins": ["https://evil.example.com"]}),
     r"central.ui.studioOrigins\[0\] must be a SageMaker Studio domain's origin"),
    (central(ui={"studioOrigins": "https://d-a.studio.us-east-1.sagemaker.aws"}),
     "central.ui.studioOrigins must be a list"),
    (central(ui={"frameAncestors": []}), "central.ui has unknown keys: frameAncestors"),
    (central(teams__0__name="api"), r"teams\[0\].name: 'api' is taken by MLflow's own paths"),
    (central(teams__0__name="default"), r"teams\[0\].name: 'default' is taken"),
    (central(teams__0__name="static-files"), r"teams\[0\].name: 'static-files' is taken"),
    (central(teams__1__sharedWith=["team-z"]),
     r"teams\[1\].sharedWith must name other teams of .*teams, got 'team-z'"),
    (central(teams__1__sharedWith=["team-b"]), "does not share its workspace with itself"),
    (central(teams__1__sharedWith=["team-a", "team-a"]), r"teams\[1\].sharedWith names a team twice"),
    (central(teams__1__sharedWith="team-a"), r"teams\[1\].sharedWith must be a list"),
    (central(cognitoGroups={"team-a:admin": "admin"}),
     r"cognitoGroups.team-a:admin: a name with ':' is a team's group"),
    (central(platformContact='ops "team"'), r"central.platformContact: platformContact must be"
     r" 1 to 200 characters naming whom refused users ask, without quotes"),
    (central(platformContact="$context.x"), "central.platformContact: "),
    (central(platformContact=" "), "central.platformContact: "),
    (central(platformContact=7), "central.platformContact must be"),
    (central(tokenMinutes=60), "central.tokenMinutes must be between 5 and 15, got 60"),
    (central(tokenMinutes=4), "central.tokenMinutes must be between 5 and 15, got 4"),
    (central(tokenMinutes=5, api={"authorizerCacheTtl": 300}),
     r"central.api.authorizerCacheTtl must be at most 135 seconds with "
     r"mlflow-landing-zone:central.tokenMinutes 5 \(a cached policy must not outlive its "
     r"token\), got 300"),
    (central(api={"waf": {"rateLimit": 5}}), "central.api.waf.rateLimit must be between 10 and"),
    (central(api={"teamsThrottleRateLimit": 20000}),
     "central.api.teamsThrottleRateLimit must be between 1 and 10000"),
    (central(api={"teamsThrottleBurstLimit": 0}),
     "central.api.teamsThrottleBurstLimit must be between 1 and 5000"),
    (central(api={"authorizerReservedConcurrency": -1}),
     "central.api.authorizerReservedConcurrency must be between 0 and 1000, got -1"),
    (central(api={"waf": {"callerRateLimit": 5}}),
     "central.api.waf.callerRateLimit must be between 10 and"),
    (central(api={"waf": {"callerRateLimit": 30000, "rateLimit": 20000}}),
     r"central.api.waf.callerRateLimit \(30000\) must be at most "
     r"mlflow-landing-zone:central.api.waf.rateLimit \(20000\)"),
    (central(api={"waf": {"enabled": "yes"}}), "central.api.waf.enabled must be true or false"),
    (central(api={"waf": {"limit": 100}}), "central.api.waf has unknown keys: limit"),
    (central(teams__0__deployAlias="latest"), r"teams\[0\].deployAlias must be a model alias "
     r"MLflow accepts \(letters, digits, '_' and '-', up to 255; not 'latest' nor v<number>\), "
     r"got 'latest'"),
    (central(teams__0__deployAlias="v2"), r"teams\[0\].deployAlias must be a model alias"),
    (central(teams__0__deployAlias="in prod"), r"teams\[0\].deployAlias must be a model alias"),
    (central(teams__0__deployAlias=""), r"teams\[0\].deployAlias must be a model alias"),
    (central(teams__0__deployAlias=3), r"teams\[0\].deployAlias must be a string, got int"),
    (central(teams__1__requireSecondPerson="no"),
     r"teams\[1\].requireSecondPerson must be true or false, got str"),
])
def test_bad_central_config(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_central(raw, "us-east-1")


def test_bad_region():
    with pytest.raises(ConfigError, match="aws:region must be an AWS region"):
        parse_central(GOOD, "moon-1")


def test_account_type_is_required_and_known():
    with pytest.raises(ConfigError, match="accountType is required"):
        load(lambda k: None, lambda k: None, "us-east-1")
    with pytest.raises(ConfigError, match="accountType must be one of central, datascience"):
        load(lambda k: None, lambda k: "hub", "us-east-1")
    with pytest.raises(ConfigError, match="mlflow-landing-zone:central is required"):
        load(lambda k: None, lambda k: "central", "us-east-1")


def test_the_program_stops_before_creating_anything_on_bad_config():
    config = stack_config("central")
    config["mlflow-landing-zone:central"] = central(accountId="nope")
    with pytest.raises(pulumi.RunError, match="central.accountId must be a 12-digit"):
        run_program(config)


def test_a_workspace_shared_with_every_team_costs_no_managed_policy_per_share():
    """Sharing is a line per method in a role's inline scope, not managed policies: one
    workspace read by 40 teams, each role with its level's policies and one set of the
    reader's for 32-character names."""
    teams = [{"name": f"t{i:031d}", "accountId": "222222222222", "levels": ["contributor"]}
             for i in range(41)]
    teams[0]["sharedWith"] = [t["name"] for t in teams[1:]]
    config = parse_central(central(teams=teams), "ap-southeast-2")
    usage = iam_usage(config.teams, "ap-southeast-2", config.account_id)
    assert usage["roles"] == 41
    # contributor's 4 by the team tag, reader's 2 for 32-character names: 6 in the account
    assert usage["managed_policies"] == 6
    assert set(usage["policies_per_role"].values()) == {4, 6}


def test_a_role_reading_too_many_workspaces_is_refused_with_the_key():
    """What a role reads is listed in its inline policies (its scope, its artifacts' prefixes),
    10,240 characters at most: with 32-character names a role reads 13 shared workspaces."""
    teams = [{"name": f"t{i:031d}", "accountId": "222222222222", "levels": ["contributor"]}
             for i in range(15)]
    for team in teams[1:]:
        team["sharedWith"] = [teams[0]["name"]]
    with pytest.raises(ConfigError, match=(
            rf"central.teams: team {teams[0]['name']}'s contributor role reads 14 shared "
            r"workspaces: its inline policies .* would take 10,\d\d\d characters, more than "
            r"IAM's 10,240 for a role \(not adjustable\): share fewer .*sharedWith")):
        parse_central(central(teams=teams), "ap-southeast-2")
    assert parse_central(central(teams=teams[:14]), "ap-southeast-2").teams[1].shared_with == (
        teams[0]["name"],)


def test_names_of_many_lengths_cost_a_role_managed_policies_and_the_quota_says_so():
    """A shared workspace whose name is 2 or more longer than the role's shortest takes the
    reader's policies of its own (a run of `?` that long could span two segments): 4 of them
    make a contributor's 4 + 2 + 3 x 2 = 12, over the 10 of IAM's default quota, and fit once
    the config says the quota was raised."""
    names = ["ab", "abc", "abcde", "abcdefg", "abcdefghi"]
    teams = [{"name": n, "accountId": "222222222222", "levels": ["contributor"]} for n in names]
    for team in teams[1:]:
        team["sharedWith"] = ["ab"]
    with pytest.raises(ConfigError, match=(
            r"central.teams: team ab's contributor role reads 4 shared workspaces \(names of 4 "
            r"lengths\) and would need 12 managed policies, more than the IAM quota \"Managed "
            r"policies per role\" allows \(10, the default\): ask AWS for more \(Service Quotas, "
            r"IAM, \"Managed policies per role\"\) and set iamQuotas.managedPoliciesPerRole")):
        parse_central(central(teams=teams), "us-east-1")
    config = parse_central(central(teams=teams, iamQuotas={"managedPoliciesPerRole": 12}),
                           "us-east-1")
    assert config.iam_quotas.policies_per_role == 12
    with pytest.raises(ConfigError, match=r"iamQuotas.managedPoliciesPerRole must be between "
                                          r"10 and 20, got 21"):
        parse_central(central(teams=teams, iamQuotas={"managedPoliciesPerRole": 21}),
                      "us-east-1")


def test_more_access_roles_than_the_roles_quota_are_refused_until_it_is_raised():
    """300 teams with every level: 1,200 access roles and 300 event forward roles, beyond
    IAM's 1,000 roles per account (50 kept for the stack's own and the account's other
    roles)."""
    teams = [{"name": f"t{i:031d}", "accountId": "222222222222", "levels": list(LEVELS)}
             for i in range(300)]
    with pytest.raises(ConfigError, match=(
            r"central.teams: the access roles \(1,200, one per team and level\), the registry "
            r"events' forward roles \(300, one per team\) and 50 kept for the stack's and the "
            r"account's other roles need 1,550 roles, more than the IAM "
            r"quota \"Roles per account\" allows \(1,000, the default\): ask AWS for more "
            r"\(Service Quotas, IAM, \"Roles per account\"\) and set "
            r"iamQuotas.rolesPerAccount")):
        parse_central(central(teams=teams), "us-east-1")
    config = parse_central(central(teams=teams, iamQuotas={"rolesPerAccount": 2000},
                                   eventBridgeQuotas={"rulesPerBus": 500}), "us-east-1")
    assert len(config.teams) == 300 and config.iam_quotas.roles == 2000
    # 190 teams of 4 levels fit the default (760 + 190 + 50 <= 1,000)
    assert parse_central(central(teams=teams[:190]), "us-east-1").iam_quotas.roles == 1000
    with pytest.raises(ConfigError, match="need 1,005 roles"):
        parse_central(central(teams=teams[:191]), "us-east-1")


def test_more_teams_than_the_central_bus_holds_are_refused_until_its_quota_is_raised():
    """A forward rule per team on the central bus, beside the audit and status rules: 298
    teams fit EventBridge's default 300 rules per bus; and the bus's policy lists every team
    account (15 characters each), which the default 10,240 characters hold for about 650."""
    teams = [{"name": f"t{i:031d}", "accountId": f"{200000000000 + i:012d}",
              "levels": ["reader"]} for i in range(700)]
    assert len(parse_central(central(teams=teams[:298]), "us-east-1").teams) == 298
    with pytest.raises(ConfigError) as refused:
        parse_central(central(teams=teams[:299]), "us-east-1")
    assert str(refused.value) == (
        "mlflow-landing-zone:central.teams: the central bus mlflow-landing-zone needs 301 rules "
        "(a forward rule for each of the 299 teams, the audit rule and the status writer's), "
        "more than the EventBridge quota \"Rules\" allows (300, the default): ask AWS for more "
        "(Service Quotas, Amazon EventBridge, \"Rules\") and set eventBridgeQuotas.rulesPerBus "
        "to what you got, or list fewer teams")
    config = parse_central(central(teams=teams[:299], eventBridgeQuotas={"rulesPerBus": 301}),
                           "us-east-1")
    assert config.eventbridge_quotas.rules_per_bus == 301
    raised = {"rulesPerBus": 1000}
    roles = {"rolesPerAccount": 2000}  # 700 access and 700 forward roles
    # (540 distinct accounts: the artifact bucket's policy, which lists them too, holds 548:
    # the next test)
    assert len(parse_central(central(teams=teams[:540], eventBridgeQuotas=raised, iamQuotas=roles),
                             "us-east-1").teams) == 540
    with pytest.raises(ConfigError, match=(
            r"central.teams: the central bus's policy \(it lists the 700 team accounts whose "
            r"deployers report status\) would take 10,898 characters, more than the EventBridge "
            r"quota \"Event bus policy size\" allows \(10,240, the default\): .* set "
            r"eventBridgeQuotas.busPolicySize")):
        parse_central(central(teams=teams, eventBridgeQuotas=raised, iamQuotas=roles), "us-east-1")
    # raised, the bus holds them; the artifact bucket's policy (S3's, not adjustable) does not
    with pytest.raises(ConfigError, match=r"the artifact bucket's policy lists the 700 team"):
        parse_central(central(teams=teams, iamQuotas=roles, eventBridgeQuotas={
            **raised, "busPolicySize": 20_480}), "us-east-1")
    assert parse_central(central(teams=teams[:540], iamQuotas=roles, eventBridgeQuotas={
        **raised, "busPolicySize": 20_480}), "us-east-1").eventbridge_quotas.bus_policy_size == \
        20_480
    # teams sharing an account are listed once
    shared = [{**t, "accountId": "222222222222"} for t in teams]
    assert len(parse_central(central(teams=shared, eventBridgeQuotas=raised, iamQuotas=roles), "us-east-1").teams
               ) == 700
    with pytest.raises(ConfigError, match=r"eventBridgeQuotas.rulesPerBus must be between 300 "
                                          r"and 10000, got 299"):
        parse_central(central(eventBridgeQuotas={"rulesPerBus": 299}), "us-east-1")


def test_more_team_accounts_than_the_artifact_bucket_policy_holds_are_refused():
    """The bucket's policy lists every team account (their serving roles read their teams'
    frozen copies): S3's 20,480 bytes, not adjustable, hold 548 accounts at the longest
    names the stack may give the bucket and the server's role (the scale benchmark, with the
    stack's real names, finds ~563). Teams sharing accounts are listed once."""
    from dataclasses import dataclass

    from spec.config import artifact_bucket_policy_size

    @dataclass
    class Team:
        account_id: str

    def accounts(n):
        return [Team(f"{200000000000 + i:012d}") for i in range(n)]

    size = {n: artifact_bucket_policy_size(accounts(n), "us-east-1", "111111111111")
            for n in (300, 548, 549)}
    assert size[300] < 0.8 * 20_480 and size[548] <= 20_480 < size[549]
    # each account adds its id, quoted, in both serving statements
    assert size[549] - size[548] == 2 * len('"200000000548",')
    teams = [{"name": f"t{i:031d}", "accountId": f"{200000000000 + i:012d}",
              "levels": ["reader"]} for i in range(549)]
    raised = {"eventBridgeQuotas": {"rulesPerBus": 1000}, "iamQuotas": {"rolesPerAccount": 2000}}
    assert len(parse_central(central(teams=teams[:548], **raised), "us-east-1").teams) == 548
    with pytest.raises(ConfigError) as refused:
        parse_central(central(teams=teams, **raised), "us-east-1")
    assert str(refused.value) == (
        f"mlflow-landing-zone:central.teams: the artifact bucket's policy lists the 549 team "
        f"accounts (their serving roles read their teams' frozen copies) and would take up to "
        f"{size[549]:,} bytes, more than S3's 20,480 for a bucket policy (not adjustable): list "
        f"fewer team accounts (teams may share an account)")
    shared = [{**t, "accountId": "222222222222"} for t in teams]
    assert len(parse_central(central(teams=shared, **raised), "us-east-1").teams) == 549


def _awsx_layout(cidr: str, azs: int, masks) -> list:
    """awsx's AUTO layout, written out here independently (pulumi-awsx
    `subnetDistributorNew.getSubnetSpecs`): one equal block per AZ, 2^ceil(log2(AZs)) blocks,
    and in each the subnets one after another, each aligned to its own size. None when awsx
    refuses the layout (its subnets need more addresses than an AZ's block)."""
    import ipaddress
    import math

    vpc = ipaddress.ip_network(cidr)
    az_prefix = vpc.prefixlen + math.ceil(math.log2(azs))
    if sum(2 ** (32 - m) for m in masks) > 2 ** (32 - az_prefix):
        return None
    subnets = []
    for block in list(vpc.subnets(new_prefix=az_prefix))[:azs]:
        start = int(block.network_address)
        for mask in masks:
            size = 2 ** (32 - mask)
            start = -(-start // size) * size  # the next address aligned to the subnet's size
            subnet = ipaddress.ip_network(f"{ipaddress.ip_address(start)}/{mask}")
            if not subnet.subnet_of(block):
                return None
            subnets.append(subnet)
            start += size
    return subnets


@pytest.mark.parametrize("azs", [2, 3])
@pytest.mark.parametrize("nat", ["none", "single", "one-per-az"])
def test_the_config_accepts_exactly_the_vpc_sizes_awsx_can_lay_out(azs, nat):
    from spec.sizing import SUBNET_MASKS

    for prefix in range(16, 25):
        cidr = f"10.40.0.0/{prefix}"
        raw = central(network={"cidr": cidr, "availabilityZones": azs, "natGateways": nat})
        layout = _awsx_layout(cidr, azs, SUBNET_MASKS[nat])
        if layout is not None:
            assert parse_central(raw, "us-east-1").network.cidr == cidr
            assert len(layout) == azs * len(SUBNET_MASKS[nat])
            continue
        with pytest.raises(ConfigError) as e:
            parse_central(raw, "us-east-1")
        assert f"network.cidr {cidr} is too small for {azs} availability zones" in str(e.value)


@pytest.mark.parametrize("azs, nat, smallest", [
    (2, "single", 18), (3, "single", 17), (3, "one-per-az", 17), (2, "none", 19), (3, "none", 18),
])
def test_a_vpc_too_small_is_refused_naming_the_smallest_that_fits(azs, nat, smallest):
    raw = central(network={"cidr": f"10.40.0.0/{smallest}", "availabilityZones": azs,
                           "natGateways": nat})
    assert parse_central(raw, "us-east-1").network.cidr == f"10.40.0.0/{smallest}"
    raw["network"]["cidr"] = f"10.40.0.0/{smallest + 1}"
    with pytest.raises(ConfigError, match=rf"mlflow-landing-zone:central\.network\.cidr .*"
                                          rf"use a /{smallest} or larger"):
        parse_central(raw, "us-east-1")


def test_the_serving_images_default_tag_is_the_mlflow_the_tracking_server_runs():
    # MLflow's serving image is pushed per release (docs/serving.md); the default tag follows the
    # pin, so an upgrade that moves the pin moves it too
    from spec.config import MLFLOW_IMAGE_TAG
    from ui.build import pinned_mlflow_version

    assert MLFLOW_IMAGE_TAG == pinned_mlflow_version()
