"""The team stack under mocks, and its roles against the central stack's trust policies."""

import copy
import json

import pytest

from spec.config import ConfigError, parse_central, parse_datascience
from components.datascience_account import execution_policy
from spec.accounts import sagemaker_trust_policy
from roles.policy_eval import ALLOW, evaluate

from tests.pulumi_program import run_program, stack_config

TEAM_ACCOUNT, CENTRAL = "222222222222", "111111111111"
STUDIO = {"enabled": True, "vpcId": "vpc-0123456789abcdef0",
          "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba987654321f"]}


def datascience(**changes):
    config = copy.deepcopy(stack_config("datascience"))
    config["mlflow-landing-zone:datascience"].update(changes)
    return config


@pytest.fixture(scope="module")
def team_stack():
    inventory = run_program(datascience(studio=STUDIO), stack="datascience")
    print("\n" + inventory.render())
    return inventory


@pytest.fixture(scope="module")
def central_stack():
    return run_program(stack_config("central"))


def doc(resource, key):
    value = resource.inputs[key]
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize("level", ["reader", "contributor", "model-approver", "admin"])
def test_execution_roles_trust_sagemaker_and_reach_one_central_role(team_stack, level):
    role = team_stack.one("aws:iam/role:Role", f"team-a-{level}")
    assert role.inputs["name"] == f"mlflow-team-a-{level}-sagemaker"
    assert doc(role, "assumeRolePolicy") == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": TEAM_ACCOUNT}}}]}
    policy = doc(team_stack.one("aws:iam/rolePolicy:RolePolicy", f"team-a-{level}"), "policy")
    config = parse_datascience(datascience(studio=STUDIO)["mlflow-landing-zone:datascience"],
                               "us-east-1")
    assert policy == execution_policy(config, level)
    assert role.inputs["tags"] == {"mlflow-level": level, "mlflow-team": "team-a"}
    assume = [s for s in policy["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert assume == [{"Sid": "AssumeTheCentralRoleOfThisLevel", "Effect": "Allow",
                       "Action": "sts:AssumeRole",
                       "Resource": f"arn:aws:iam::{CENTRAL}:role/mlflow-team-a-{level}"}]
    assert not any(s["Action"] in ("*", "iam:*", "sagemaker:*") for s in policy["Statement"])
    passes = [s for s in policy["Statement"] if s["Action"] == "iam:PassRole"]
    assert passes[0]["Resource"] == f"arn:aws:iam::{TEAM_ACCOUNT}:role/mlflow-team-a-{level}-sagemaker"


def test_studio_domain_is_iam_vpc_only_and_defaults_to_the_least_privileged_role(team_stack):
    domain = team_stack.one("aws:sagemaker/domain:Domain").inputs
    assert domain["authMode"] == "IAM" and domain["appNetworkAccessType"] == "VpcOnly"
    assert domain["vpcId"] == STUDIO["vpcId"] and domain["subnetIds"] == STUDIO["subnetIds"]
    assert domain["defaultUserSettings"]["executionRole"] == (
        f"arn:aws:iam::{TEAM_ACCOUNT}:role/mlflow-team-a-reader-sagemaker")
    profiles = {r.inputs["userProfileName"]: r.inputs["userSettings"]["executionRole"]
                for r in team_stack.of_type("aws:sagemaker/userProfile:UserProfile")}
    assert profiles == {f"team-a-{level}": f"arn:aws:iam::{TEAM_ACCOUNT}:role/"
                                           f"mlflow-team-a-{level}-sagemaker"
                        for level in ["reader", "contributor", "model-approver", "admin"]}


def test_the_studio_origin_is_what_the_central_stack_takes_to_let_studio_embed_the_ui(team_stack):
    origin = team_stack.outputs["studioOrigin"]
    assert origin == "https://d-abc123xyz456.studio.us-east-1.sagemaker.aws"
    central = copy.deepcopy(stack_config("central")["mlflow-landing-zone:central"])
    central["ui"] = {"studioOrigins": [origin]}
    assert parse_central(central, "us-east-1").ui.studio_origins == (origin,)


def test_no_studio_domain_unless_asked():
    inventory = run_program(datascience(), stack="datascience")
    assert inventory.of_type("aws:sagemaker/domain:Domain") == []
    assert "studioDomainId" not in inventory.outputs and "studioOrigin" not in inventory.outputs


def test_outputs_give_a_ready_to_paste_job_environment(team_stack):
    # The team's own base path on the API: its workspace, the only one its roles may call.
    assert team_stack.outputs["jobEnvironment"]["contributor"] == {
        "MLFLOW_TRACKING_URI": "https://abcde12345.execute-api.us-east-1.amazonaws.com/prod/team-a",
        "MLFLOW_WORKSPACE": "team-a",
        "MLFLOW_TRACKING_AUTH": "landing-zone",
        "MLFLOW_LANDING_ZONE_ROLE_ARN": f"arn:aws:iam::{CENTRAL}:role/mlflow-team-a-contributor",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_LANDING_ZONE_CONTACT": "the MLflow platform team (#mlflow-platform)"}
    assert set(team_stack.outputs["sagemakerRoleArns"]) == {"reader", "contributor",
                                                            "model-approver", "admin"}


def test_each_team_role_may_assume_only_its_own_levels_central_role(team_stack, central_stack):
    """The central trust policies (from the central mocks run) against real team role ARNs."""
    central_roles = {r.inputs["name"]: doc(r, "assumeRolePolicy")
                     for r in central_stack.of_type("aws:iam/role:Role")
                     if r.name.startswith("mlflow-access-")}
    # team-a's roles from this stack's run, team-b's as the same stack would make them.
    callers = dict(team_stack.outputs["sagemakerRoleArns"].items())
    callers = {f"team-a/{level}": arn for level, arn in callers.items()}
    callers.update({f"team-b/{level}": f"arn:aws:iam::333333333333:role/mlflow-team-b-{level}-sagemaker"
                    for level in ["reader", "contributor", "admin"]})
    callers["team-a/other"] = f"arn:aws:iam::{TEAM_ACCOUNT}:role/some-other-role"
    for role_name, trust in central_roles.items():
        for caller_key, caller_arn in callers.items():
            allowed = evaluate([trust], "sts:AssumeRole", role_name,
                               context={"aws:PrincipalArn": caller_arn},
                               principal=caller_arn) == ALLOW
            expected = role_name == f"mlflow-{caller_key.replace('/', '-')}"
            assert allowed == expected, (caller_key, role_name)
    # The checks the issue names, spelled out.
    assert callers["team-a/admin"] == (
        f"arn:aws:iam::{TEAM_ACCOUNT}:role/mlflow-team-a-admin-sagemaker")
    assert central_roles.get("mlflow-team-b-admin") is None  # team-b is not granted admin
    reader = callers["team-a/reader"]
    assert evaluate([central_roles["mlflow-team-b-reader"]], "sts:AssumeRole", "x",
                    context={"aws:PrincipalArn": reader}, principal=reader) != ALLOW


def test_trust_of_sagemaker_role_refuses_other_accounts_sagemaker():
    trust = sagemaker_trust_policy(TEAM_ACCOUNT)
    service = {"Service": "sagemaker.amazonaws.com"}
    assert evaluate([trust], "sts:AssumeRole", "r", {"aws:SourceAccount": TEAM_ACCOUNT},
                    service) == ALLOW
    assert evaluate([trust], "sts:AssumeRole", "r", {"aws:SourceAccount": "999999999999"},
                    service) != ALLOW


@pytest.mark.parametrize("changes, message", [
    ({"team": None}, "datascience.team is required"),
    ({"levels": "reader"}, "datascience.levels must be a list, got str"),
    ({"centralAccountId": "1111"}, "centralAccountId must be a 12-digit"),
    ({"centralAccountId": TEAM_ACCOUNT}, "must be the central account"),
    ({"levels": ["reader", "superuser"]}, "datascience.levels must be one of"),
    ({"trackingUri": "http://insecure.example"}, "trackingUri must be the central stack's apiUrl"),
    # the team's own base URL (jobs would call .../team-a/team-a), or any team's
    ({"trackingUri": "https://abcde12345.execute-api.us-east-1.amazonaws.com/prod/team-a"},
     r"^mlflow-landing-zone:datascience\.trackingUri must be the central stack's apiUrl output "
     r"\(https://<id>\.execute-api\.<region>\.amazonaws\.com/prod\) without a team's path: "
     r"jobs append /team-a themselves; got "
     r"'https://abcde12345\.execute-api\.us-east-1\.amazonaws\.com/prod/team-a'$"),
    ({"trackingUri": "https://abcde12345.execute-api.us-east-1.amazonaws.com/prod/team-b/"},
     r"trackingUri must be .* without a team's path: jobs append /team-a themselves; got "
     r"'https://abcde12345\.execute-api\.us-east-1\.amazonaws\.com/prod/team-b'$"),
    ({"trackingUri": "https://mlflow.example.com/team-a"},
     r"trackingUri must be .* without a team's path: jobs append /team-a themselves"),
    ({"studio": {"enabled": True}}, "studio.vpcId must be the id"),
    ({"studio": {"enabled": True, "vpcId": "vpc-0123456789abcdef0", "subnetIds": ["x"]}},
     "studio.subnetIds must list the private subnets"),
    ({"studio": {"enabled": "yes"}}, "studio.enabled must be true or false"),
])
def test_bad_datascience_config(changes, message):
    raw = copy.deepcopy(stack_config("datascience")["mlflow-landing-zone:datascience"])
    for key, value in changes.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    with pytest.raises(ConfigError, match=message):
        parse_datascience(raw, "us-east-1")


def test_a_jobs_tracking_uri_is_its_teams_base_path_which_its_central_role_alone_may_call(
        team_stack, central_stack):
    """The team stack's tracking URI, the central API's team resource, the central role's
    policies and the team's S3 prefix all name the same team."""
    from urllib.parse import urlsplit

    from roles.policy_eval import invoke_allowed

    env = team_stack.outputs["jobEnvironment"]["contributor"]
    stage, team = urlsplit(env["MLFLOW_TRACKING_URI"]).path.strip("/").split("/")
    assert (stage, team, env["MLFLOW_WORKSPACE"]) == ("prod", "team-a", "team-a")
    # every team's base path is the one `/{workspace}/{proxy+}` resource, which names the
    # workspace by the path's first segment: the tracking URI's team
    from spec.edge import TEAM_ROUTE, match_route

    resources = {r.inputs["pathPart"] for r in central_stack.of_type("aws:apigateway/resource:Resource")}
    assert {"{workspace}", "{proxy+}"} <= resources and "team-a" not in resources
    route, parameters = match_route(f"/{team}/api/2.0/mlflow/runs/create")
    assert route is TEAM_ROUTE and parameters["workspace"] == env["MLFLOW_WORKSPACE"]
    execution_arn = central_stack.one("aws:apigateway/restApi:RestApi").outputs["executionArn"]
    api_arn = f"{execution_arn}/{stage}"
    role = central_stack.one("aws:iam/role:Role", "access-team-a-contributor")
    assert role.outputs["arn"] == env["MLFLOW_LANDING_ZONE_ROLE_ARN"]
    arns = {arn for r in central_stack.of_type(
                "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive")
            if r.inputs["roleName"] == role.outputs["name"] for arn in r.inputs["policyArns"]}
    documents = [doc(p, "policy") for p in central_stack.of_type("aws:iam/policy:Policy")
                 if p.outputs["arn"] in arns] + [
        doc(p, "policy") for p in central_stack.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.inputs["role"] == role.outputs["id"]]
    # the shared policies name the caller's team by the role's tag
    assert role.inputs["tags"]["team"] == team
    tags = {f"aws:PrincipalTag/{k}": v for k, v in role.inputs["tags"].items()}
    create = "POST/{}/api/2.0/mlflow/runs/create"
    assert invoke_allowed(documents, f"{api_arn}/{create.format(team)}", tags)
    assert not invoke_allowed(documents, f"{api_arn}/{create.format('team-b')}", tags)
    assert not invoke_allowed(documents, f"{api_arn}/POST/api/2.0/mlflow/runs/create", tags)
    artifacts = doc(central_stack.one("aws:iam/rolePolicy:RolePolicy", "team-a-contributor-artifacts"),
                    "policy")
    writes = next(s for s in artifacts["Statement"] if s["Sid"] == "TeamArtifacts")
    assert writes["Resource"].endswith(f"/artifacts/workspaces/{team}/*")


# --- least privilege inside the team account, and the account's own line ---------------------

SAGEMAKER_FULL_ACCESS = {"Statement": [
    # the statements of AWS's AmazonSageMakerFullAccess that matter here: every SageMaker
    # action, and passing any role to SageMaker
    {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/*",
     "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}]}
ARN = f"arn:aws:iam::{TEAM_ACCOUNT}:role"
PROFILE = f"arn:aws:sagemaker:us-east-1:{TEAM_ACCOUNT}:user-profile/d-abc123xyz456"


def test_execution_roles_keep_levels_apart_inside_the_account(team_stack):
    from roles.policy_eval import DENY, IMPLICIT_DENY

    def policy(level):
        return doc(team_stack.one("aws:iam/rolePolicy:RolePolicy", f"team-a-{level}"), "policy")

    reader, contributor = policy("reader"), policy("contributor")
    bucket = "arn:aws:s3:::sagemaker-us-east-1-222222222222"
    job = f"arn:aws:sagemaker:us-east-1:{TEAM_ACCOUNT}:training-job/train-1"
    # a reader reads the default bucket and writes nothing; a contributor writes its own prefix
    assert evaluate([reader], "s3:GetObject", f"{bucket}/contributor/model.tar.gz") == ALLOW
    assert evaluate([reader], "s3:PutObject", f"{bucket}/reader/model.tar.gz") == IMPLICIT_DENY
    assert evaluate([contributor], "s3:PutObject", f"{bucket}/contributor/m.tar.gz") == ALLOW
    assert evaluate([contributor], "s3:PutObject", f"{bucket}/model-approver/m.tar.gz") \
        == IMPLICIT_DENY
    # jobs: created only tagged as the level's, stopped only if the level's
    tagged = {"aws:RequestTag/mlflow-level": "reader"}
    assert evaluate([reader], "sagemaker:CreateTrainingJob", job, tagged) == ALLOW
    assert evaluate([reader], "sagemaker:CreateTrainingJob", job) == IMPLICIT_DENY
    assert evaluate([reader], "sagemaker:StopTrainingJob", job,
                    {"aws:ResourceTag/mlflow-level": "contributor"}) == IMPLICIT_DENY
    assert evaluate([reader], "sagemaker:StopTrainingJob", job,
                    {"aws:ResourceTag/mlflow-level": "reader"}) == ALLOW
    # List actions match only "*"; network interfaces only in the team's VPC and subnets
    lists = [s for s in reader["Statement"] if s["Sid"] == "ListJobsAndApps"]
    assert lists[0]["Resource"] == "*"
    eni = f"arn:aws:ec2:us-east-1:{TEAM_ACCOUNT}:network-interface/eni-1"
    vpc = f"arn:aws:ec2:us-east-1:{TEAM_ACCOUNT}:vpc/{STUDIO['vpcId']}"
    assert evaluate([reader], "ec2:DeleteNetworkInterface", eni, {"ec2:Vpc": vpc}) == ALLOW
    assert evaluate([reader], "ec2:DeleteNetworkInterface", eni,
                    {"ec2:Vpc": vpc.replace("0123", "9999")}) == IMPLICIT_DENY
    other_subnet = f"arn:aws:ec2:us-east-1:{TEAM_ACCOUNT}:subnet/subnet-0aaaaaaaaaaaaaaaa"
    assert evaluate([reader], "ec2:CreateNetworkInterface", other_subnet) == IMPLICIT_DENY
    # images of this account only; no kms:Encrypt, no dead multipart listing
    assert evaluate([reader], "ecr:BatchGetImage",
                    "arn:aws:ecr:us-east-1:999999999999:repository/x") == IMPLICIT_DENY
    actions = {a for s in reader["Statement"] for a in
               ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not {"kms:Encrypt", "s3:ListBucketMultipartUploads"} & actions
    assert DENY not in {evaluate([reader], "s3:GetObject", f"{bucket}/x")}


@pytest.mark.parametrize("target", ["model-approver"])
def test_a_reader_in_the_team_account_cannot_reach_approver_access_by_any_path(team_stack,
                                                                             target):
    """A person tagged reader, holding AmazonSageMakerFullAccess and the guard: passing the
    approver's execution role to SageMaker, opening the approver's Studio profile, changing
    that role, tagging themselves approver, or assuming it directly are all refused; a person
    tagged approver may pass it and open it."""
    from roles.policy_eval import DENY

    guard = doc(team_stack.one("aws:iam/policy:Policy", "level-guard"), "policy")
    assert team_stack.outputs["levelGuardPolicyArn"] == \
        team_stack.one("aws:iam/policy:Policy", "level-guard").outputs["arn"]
    policies = [SAGEMAKER_FULL_ACCESS, guard]
    role = f"{ARN}/mlflow-team-a-{target}-sagemaker"
    to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}

    def as_level(level, **context):
        return {"aws:PrincipalTag/mlflow-level": level, **to_sagemaker, **context}

    # without the guard, AmazonSageMakerFullAccess would let the reader do both
    assert evaluate([SAGEMAKER_FULL_ACCESS], "iam:PassRole", role, as_level("reader")) == ALLOW
    paths = {
        "pass the role to a job, notebook or profile": ("iam:PassRole", role, {}),
        "open the approver's Studio profile": (
            "sagemaker:CreatePresignedDomainUrl", f"{PROFILE}/team-a-{target}", {}),
        "change the role's trust": ("iam:UpdateAssumeRolePolicy", role, {}),
        "add a policy to the role": ("iam:PutRolePolicy", role, {}),
        "tag oneself approver": ("iam:TagUser", f"{ARN.replace(':role', ':user')}/me",
                                 {"aws:TagKeys": ["mlflow-level"]}),
        "take the tag into a session": ("sts:TagSession", f"{ARN}/other",
                                        {"aws:TagKeys": ["mlflow-level"]}),
    }
    for what, (action, resource, extra) in paths.items():
        assert evaluate(policies, action, resource, as_level("reader", **extra)) == DENY, what
        assert evaluate(policies, action, resource, {**to_sagemaker, **extra}) == DENY, \
            f"{what}, untagged"
    # nor can anyone assume the execution role: only SageMaker may
    trust = doc(team_stack.one("aws:iam/role:Role", f"team-a-{target}"), "assumeRolePolicy")
    assert evaluate([trust], "sts:AssumeRole", role, {"aws:SourceAccount": TEAM_ACCOUNT},
                    principal=f"{ARN}/reader-person") != ALLOW
    # the reader keeps the reader's own profile and role; an approver keeps theirs
    reader_role = f"{ARN}/mlflow-team-a-reader-sagemaker"
    assert evaluate(policies, "iam:PassRole", reader_role, as_level("reader")) == ALLOW
    assert evaluate(policies, "sagemaker:CreatePresignedDomainUrl", f"{PROFILE}/team-a-reader",
                    as_level("reader")) == ALLOW
    assert evaluate(policies, "iam:PassRole", role, as_level(target)) == ALLOW
    assert evaluate(policies, "sagemaker:CreatePresignedDomainUrl",
                    f"{PROFILE}/team-a-{target}", as_level(target)) == ALLOW
    profiles = {r.inputs["userProfileName"]: r.inputs["tags"]
                for r in team_stack.of_type("aws:sagemaker/userProfile:UserProfile")}
    assert profiles[f"team-a-{target}"] == {"mlflow-level": target, "mlflow-team": "team-a"}


def test_the_teams_bus_admits_only_the_central_forward_role_of_this_team(team_stack):
    bus = team_stack.one("aws:cloudwatch/eventBus:EventBus")
    assert bus.inputs["name"] == "mlflow-landing-zone"
    bus_policy = team_stack.one("aws:cloudwatch/eventBusPolicy:EventBusPolicy")
    assert doc(bus_policy, "policy") == {"Version": "2012-10-17", "Statement": [{
        "Sid": "TheCentralForwardRuleOnly", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"}, "Action": "events:PutEvents",
        "Resource": f"arn:aws:events:us-east-1:{TEAM_ACCOUNT}:event-bus/mlflow-landing-zone",
        "Condition": {"ArnEquals": {
            "aws:PrincipalArn": f"arn:aws:iam::{CENTRAL}:role/mlflow-events-to-team-a"}}}]}
    # the team's own record of what it received
    target = team_stack.one("aws:cloudwatch/eventTarget:EventTarget", "audit")
    assert target.inputs["arn"] == (f"arn:aws:logs:us-east-1:{TEAM_ACCOUNT}:log-group:"
                                    "/aws/events/mlflow-landing-zone/registry-events")
    assert team_stack.one("aws:cloudwatch/logGroup:LogGroup", "audit").inputs["retentionInDays"] == 365
    assert team_stack.outputs["registryEventBusArn"] == (
        f"arn:aws:events:us-east-1:{TEAM_ACCOUNT}:event-bus/mlflow-landing-zone")


def test_the_central_forward_role_is_what_the_team_bus_admits(team_stack, central_stack):
    """The two stacks agree: the role the central rule puts with is the one the team's bus
    names."""
    role = central_stack.one("aws:iam/role:Role", "registry-events-to-team-a")
    admitted = doc(team_stack.one("aws:cloudwatch/eventBusPolicy:EventBusPolicy"), "policy")
    assert admitted["Statement"][0]["Condition"]["ArnEquals"]["aws:PrincipalArn"] == (
        f"arn:aws:iam::{CENTRAL}:role/{role.inputs['name']}")
