"""The policy pack's rules on what the mocked program registers, and on resources that break
each rule."""

import copy
import json

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from policy.rules import POLICIES

from tests.pulumi_program import run_program, stack_config

STUDIO = {"enabled": True, "vpcId": "vpc-0123456789abcdef0",
          "subnetIds": ["subnet-0123456789abcdef0"]}


def options(protect=False):
    return PolicyResourceOptions(protect=protect, ignore_changes=[], delete_before_replace=None,
                                 aliases=[], custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                                 additional_secret_outputs=[])


def resource(typ, name, props, protect=False):
    return PolicyResource(typ, props, f"urn:pulumi:s::p::{typ}::{name}", name, options(protect),
                          None, None, [], {})


def violations(resources, config=None):
    found = []
    for policy in POLICIES:
        def report(message, urn=None, policy=policy):
            found.append((policy.name, message))
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                policy.validate(ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name,
                                                       r.opts, None, config or {}), report)
        else:
            policy.validate(StackValidationArgs(resources, config or {}), report)
    return found


def registered(inventory):
    # As at `pulumi up`: inputs with what the provider computes (autonamed bucket names, ids).
    return [resource(r.type, r.name, {**r.outputs, **r.inputs}, r.protect)
            for r in inventory.resources
            if r.custom and not r.type.startswith("pulumi:providers")]


@pytest.fixture(scope="module")
def central():
    return registered(run_program(stack_config("central")))


def test_the_central_stack_breaks_no_rule(central):
    assert len(central) > 100
    assert violations(central) == []


def test_the_datascience_stack_breaks_no_rule():
    config = stack_config("datascience")
    config["mlflow-landing-zone:datascience"]["studio"] = STUDIO
    assert violations(registered(run_program(config, stack="datascience"))) == []


def mutate(resources, typ, name_part, **props):
    out = []
    for r in resources:
        if r.resource_type == typ and name_part in r.name:
            new = copy.deepcopy(dict(r.props))
            for key, value in props.items():
                if value is KeyError:
                    new.pop(key, None)
                else:
                    new[key] = value
            r = resource(r.resource_type, r.name, new, r.opts.protect)
        out.append(r)
    return out


def without(resources, typ, name_part=""):
    return [r for r in resources if not (r.resource_type == typ and name_part in r.name)]


def unprotect(resources, typ):
    return [resource(r.resource_type, r.name, r.props, False) if r.resource_type == typ else r
            for r in resources]


def acl_rules(resources, keep=lambda rule: True, change=lambda rule: rule):
    """The resources with the web ACL's rules filtered and changed."""
    return [resource(r.resource_type, r.name, {**r.props, "rules": [
        change(copy.deepcopy(rule)) for rule in r.props["rules"] if keep(rule)]})
        if r.resource_type == "aws:wafv2/webAcl:WebAcl" else r for r in resources]


def ui_headers(frame_ancestors="'self'", script_src="'self'"):
    """An Amplify headers document, the project's own but for the given directives."""
    from ui.hosting import security_headers

    headers = security_headers("https://cognito-idp.us-east-1.amazonaws.com")
    headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
        "frame-ancestors 'self'", f"frame-ancestors {frame_ancestors}").replace(
        "script-src 'self'", f"script-src {script_src}")
    return {"customHeaders": [{"pattern": "**", "headers": [
        {"key": k, "value": v} for k, v in headers.items()]}]}


BUCKET = "aws:s3/bucket:Bucket"
GITHUB = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"


def github_role(condition):
    return resource("aws:iam/role:Role", "ci", {"assumeRolePolicy": json.dumps({"Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": GITHUB}, "Condition": condition}]})})


def ci_role(subject, policy_arn):
    """A role GitHub's runs of `subject` may assume, with `policy_arn` attached."""
    trust = github_role({"StringEquals": {"token.actions.githubusercontent.com:aud":
                                          "sts.amazonaws.com",
                                          "token.actions.githubusercontent.com:sub": subject}})
    role = resource(trust.resource_type, "by-hand", {**trust.props, "name": "by-hand"})
    return [role, resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "by-hand",
                           {"role": "by-hand", "policyArn": policy_arn})]
WHOLE = "arn:aws:execute-api:us-east-1:111111111111:abcde12345/prod/*"
CASES = {
    # a team's forward role that may put on every bus
    "event-targets-least-privilege": lambda rs: mutate(
        rs, "aws:iam/rolePolicy:RolePolicy", "registry-events-to-team-a",
        policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "events:PutEvents",
            "Resource": "arn:aws:events:*:*:event-bus/*"}]})),
    "event-bus-admits-one-forwarder": lambda rs: rs + [resource(
        "aws:cloudwatch/eventBusPolicy:EventBusPolicy", "team-bus", {"policy": json.dumps({
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                           "Action": "events:PutEvents", "Resource": "*"}]})})],
    "s3-public-access-blocked": lambda rs: mutate(
        rs, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "artifacts",
        blockPublicPolicy=False),
    "s3-buckets-locked-down": lambda rs: without(
        rs, "aws:s3/bucketVersioning:BucketVersioning", "artifacts"),
    "rds-encrypted-and-protected": lambda rs: mutate(rs, "aws:rds/cluster:Cluster", "",
                                                     storageEncrypted=False),
    "rds-not-public": lambda rs: mutate(rs, "aws:rds/clusterInstance:ClusterInstance", "",
                                        publiclyAccessible=True),
    "apigateway-methods-authorized": lambda rs: mutate(
        rs, "aws:apigateway/method:Method", "any-ajax-api-proxy", authorization="NONE"),
    "apigateway-stage-refuses-other-sites": lambda rs: without(
        rs, "aws:wafv2/webAclAssociation:WebAclAssociation"),
    "apigateway-stage-edge-protection": lambda rs: acl_rules(rs, lambda rule: (
        "rateBasedStatement" not in rule["statement"]
        and "managedRuleGroupStatement" not in rule["statement"])),
    "apigateway-stage-access-logs": lambda rs: mutate(
        rs, "aws:apigateway/stage:Stage", "", accessLogSettings=KeyError),
    "apigateway-no-data-tracing": lambda rs: mutate(
        rs, "aws:apigateway/methodSettings:MethodSettings", "",
        settings={"dataTraceEnabled": True}),
    "iam-trust-narrow": lambda rs: mutate(rs, "aws:iam/role:Role", "team-a-reader",
                                          assumeRolePolicy=json.dumps({"Statement": [{
                                              "Effect": "Allow", "Action": "sts:AssumeRole",
                                              "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]})),
    "iam-oidc-trust-narrow": lambda rs: rs + [resource("aws:iam/role:Role", "ci", {
        "assumeRolePolicy": json.dumps({"Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": GITHUB},
            "Condition": {"StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]})})],
    "iam-no-star-star": lambda rs: rs + [resource("aws:iam/rolePolicy:RolePolicy", "oops", {
        "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})})],
    "iam-whole-api-only-for-admin": lambda rs: rs + [resource(
        "aws:iam/policy:Policy", "mlflow-access-team-a-reader-invoke-9", {"policy": json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                            "Resource": [WHOLE]}]})})],
    "cognito-closed-and-strong": lambda rs: mutate(
        rs, "aws:cognito/userPool:UserPool", "", adminCreateUserConfig={}),
    "cognito-mfa": lambda rs: mutate(rs, "aws:cognito/userPool:UserPool", "",
                                     mfaConfiguration="OFF"),
    "ecs-no-public-ip": lambda rs: mutate(
        rs, "aws:ecs/service:Service", "", networkConfiguration={"assignPublicIp": True}),
    "ecs-secrets-not-in-environment": lambda rs: mutate(
        rs, "aws:ecs/taskDefinition:TaskDefinition", "", containerDefinitions=json.dumps([{
            "name": "mlflow", "readonlyRootFilesystem": True,
            "environment": [{"name": "DB_PASSWORD", "value": "hunter2"}]}])),
    "mlflow-cors-origin-exact": lambda rs: mutate(
        rs, "aws:ecs/taskDefinition:TaskDefinition", "", containerDefinitions=json.dumps([{
            "name": "mlflow", "readonlyRootFilesystem": True, "environment": [
                {"name": "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", "value": "*"}]}])),
    "ec2-no-address-range-ingress": lambda rs: mutate(
        rs, "aws:ec2/securityGroup:SecurityGroup", "server-sg", ingress=[
            {"protocol": "tcp", "fromPort": 5000, "toPort": 5000, "cidrBlocks": ["10.40.0.0/16"],
             "description": "the VPC"}]),
    "ec2-no-address-range-ingress-rule": lambda rs: mutate(
        rs, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "from-nlb",
        referencedSecurityGroupId=KeyError, cidrIpv4="10.40.0.0/16"),
    "ecs-read-only-root": lambda rs: [
        resource(r.resource_type, r.name, {**r.props, "containerDefinitions": json.dumps([
            {**c, "readonlyRootFilesystem": False}
            for c in json.loads(r.props["containerDefinitions"])])})
        if r.resource_type == "aws:ecs/taskDefinition:TaskDefinition" else r for r in rs],
    "ec2-rules-described": lambda rs: mutate(
        rs, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "https-out",
        description=KeyError),
    "rds-logs-ddl-and-slow-statements": lambda rs: mutate(
        rs, "aws:rds/clusterParameterGroup:ClusterParameterGroup", "", parameters=[
            {"name": "rds.force_ssl", "value": "1"}]),
    "vpc-flow-logs": lambda rs: without(rs, "aws:ec2/flowLog:FlowLog"),
    # an approver's execution role added by hand, without the team account's guard
    "team-account-guard": lambda rs: rs + [resource(
        "aws:iam/role:Role", "by-hand-approver",
        {"name": "mlflow-team-z-model-approver-sagemaker",
         "tags": {"mlflow-level": "model-approver"},
         "assumeRolePolicy": json.dumps({"Statement": [{
             "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
             "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"aws:SourceAccount": "222222222222"}}}]})})],
    # an endpoint config with instances and no key; a serving role that reads another team's
    # copies; a rule that delivers to another account's function
    "sagemaker-endpoints-encrypted": lambda rs: rs + [resource(
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration", "by-hand", {
            "productionVariants": [{"variantName": "AllTraffic", "modelName": "m",
                                    "instanceType": "ml.m5.large",
                                    "initialInstanceCount": 1}]})],
    "serving-role-reads-only-its-teams-registry": lambda rs: rs + [
        resource("aws:iam/role:Role", "by-hand-serving", {
            "name": "mlflow-team-z-serving", "id": "by-hand-serving-id",
            "tags": {"mlflow-team": "team-z"},
            "assumeRolePolicy": json.dumps({"Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "222222222222"}}}]})}),
        resource("aws:iam/rolePolicy:RolePolicy", "by-hand-serving", {
            "role": "by-hand-serving-id", "policy": json.dumps({"Statement": [{
                "Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::central/registry/workspaces/*"}]})})],
    "event-targets-own-or-landing-zone-bus": lambda rs: mutate(
        rs, "aws:cloudwatch/eventTarget:EventTarget", "status-rule",
        arn="arn:aws:lambda:us-east-1:999999999999:function:elsewhere"),
    "kms-explicit-key-policy": lambda rs: mutate(rs, "aws:kms/key:Key", "db-key",
                                                 policy=KeyError),
    "lambda-supported-python": lambda rs: mutate(rs, "aws:lambda/function:Function", "",
                                                 runtime="python3.8"),
    "cloudwatch-alarms-present": lambda rs: without(
        rs, "aws:cloudwatch/metricAlarm:MetricAlarm", "tasks-below-desired"),
    "cloudwatch-log-retention": lambda rs: mutate(rs, "aws:cloudwatch/logGroup:LogGroup",
                                                  "access-logs", retentionInDays=KeyError),
    "data-resources-protected": lambda rs: unprotect(rs, "aws:kms/key:Key"),
    # a GitHub role added by hand: a pull request's code with administrator rights, a
    # deploy role any push of the repository may assume
    "ci-preview-reads-no-data": lambda rs: rs + ci_role(
        "repo:my-org/mlz:pull_request", "arn:aws:iam::aws:policy/AdministratorAccess"),
    "ci-deploy-behind-an-environment": lambda rs: rs + ci_role(
        "repo:my-org/mlz:ref:refs/heads/main", "arn:aws:iam::aws:policy/AdministratorAccess"),
    # WAF's log keeping the browser's token
    "waf-logging-redacted": lambda rs: mutate(
        rs, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "",
        redactedFields=[{"singleHeader": {"name": "cookie"}}]),
    "cloudwatch-logs-encrypted": lambda rs: mutate(rs, "aws:cloudwatch/logGroup:LogGroup",
                                                   "access-logs", kmsKeyId=KeyError),
    "s3-lifecycle-aborts-incomplete-uploads": lambda rs: mutate(
        rs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "access-logs",
        rules=[{"id": "expire-logs", "status": "Enabled", "filter": {"prefix": ""},
                "expiration": {"days": 365}}]),
    "lambda-authorizer-reserved-concurrency": lambda rs: mutate(
        rs, "aws:lambda/function:Function", "authorizer", reservedConcurrentExecutions=KeyError),
    # the execution role's trust without its source account
    "iam-service-trust-source": lambda rs: mutate(
        rs, "aws:iam/role:Role", "server-execution", assumeRolePolicy=json.dumps({
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]})),
    "amplify-ui-hardened": lambda rs: mutate(rs, "aws:amplify/app:App", "", customHeaders=json.dumps(
        {"customHeaders": [{"pattern": "**", "headers": [
            {"key": "Content-Security-Policy", "value": "default-src 'self'; frame-ancestors 'self'"}]}]})),
}


# "*" on "*" is also execute-api:Invoke on every API: both rules rightly speak up.
ALSO_BROKEN = {"iam-no-star-star": {"iam-whole-api-only-for-admin"},
               # no web ACL at all: no edge protection either
               "apigateway-stage-refuses-other-sites": {"apigateway-stage-edge-protection"},
               # that case's container has only the password in its environment
               "ecs-secrets-not-in-environment": {"mlflow-cors-origin-exact"}}


def test_every_rule_has_a_violating_case():
    assert set(CASES) == {p.name for p in POLICIES}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_rule_catches_its_violation(central, rule):
    found = violations(CASES[rule](central))
    assert any(name == rule for name, _ in found), found
    assert {name for name, _ in found} <= {rule} | ALSO_BROKEN.get(rule, set())


@pytest.mark.parametrize("variant", [
    # a forward target without its role
    lambda rs: mutate(rs, "aws:cloudwatch/eventTarget:EventTarget", "to-team-b",
                      roleArn=KeyError),
    lambda rs: mutate(rs, "aws:s3/bucketServerSideEncryptionConfiguration:"
                      "BucketServerSideEncryptionConfiguration", "artifacts",
                      rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]),
    lambda rs: mutate(rs, "aws:s3/bucketPolicy:BucketPolicy", "artifacts",
                      policy=json.dumps({"Statement": []})),
    lambda rs: without(rs, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "logs"),
    lambda rs: mutate(rs, "aws:rds/cluster:Cluster", "", backupRetentionPeriod=3),
    lambda rs: mutate(rs, "aws:iam/role:Role", "team-a-reader", assumeRolePolicy=json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]})),
    lambda rs: mutate(rs, "aws:amplify/app:App", "", customHeaders=json.loads(
        json.dumps(ui_headers(frame_ancestors="*")))),
    lambda rs: mutate(rs, "aws:amplify/app:App", "", customHeaders=json.dumps(
        ui_headers(script_src="'self' 'unsafe-eval'"))),
    lambda rs: mutate(rs, "aws:amplify/app:App", "", customRules=[
        {"source": "/graphql", "target": "http://api.example.com/graphql", "status": "200"}]),
    lambda rs: mutate(rs, "aws:amplify/app:App", "", repository="https://github.com/o/r"),
    # the root's redirect made to reach MLflow while open
    lambda rs: mutate(rs, "aws:apigateway/integration:Integration", "to-ui-root",
                      type="HTTP_PROXY"),
    # MLflow's container with no allowed origin at all
    lambda rs: mutate(rs, "aws:ecs/taskDefinition:TaskDefinition", "", containerDefinitions=
                      json.dumps([{"name": "mlflow", "environment": []}])),
    # a web ACL that only counts what it should block
    lambda rs: acl_rules(rs, change=lambda rule: {**rule, "action": {"count": {}}}
                         if "action" in rule else rule),
    # managed rule groups whose every rule only counts
    lambda rs: acl_rules(rs, change=lambda rule: {**rule, "overrideAction": {"count": {}}}
                         if "overrideAction" in rule else rule),
    # GitHub trust for any repository of an owner, or of anyone
    lambda rs: rs + [github_role({"StringLike": {
        "token.actions.githubusercontent.com:sub": "repo:my-org/*",
        }, "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}})],
    lambda rs: rs + [github_role({"StringLike": {
        "token.actions.githubusercontent.com:sub": "*"}, "StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}})],
    # a wildcard beyond a pull request's number (the one the ref-in-subject form needs)
    *[lambda rs, s=s: rs + [github_role({"StringLike": {
        "token.actions.githubusercontent.com:sub": s}, "StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}})]
      for s in ("repo:o/r:pull_request:ref:*", "repo:o/*:pull_request:ref:refs/pull/*/merge",
                "repo:o/r:environment:*:ref:refs/heads/main")],
    # a subject but no audience
    lambda rs: rs + [github_role({"StringEquals": {
        "token.actions.githubusercontent.com:sub": "repo:o/r:pull_request"}})],
    # an alarm that notifies nobody
    lambda rs: mutate(rs, "aws:cloudwatch/metricAlarm:MetricAlarm", "api-5xx-rate",
                      alarmActions=[]),
    # no alarms at all
    lambda rs: without(rs, "aws:cloudwatch/metricAlarm:MetricAlarm"),
    # a rate-based rule that only counts
    lambda rs: acl_rules(rs, change=lambda rule: {**rule, "action": {"count": {}}}
                         if "rateBasedStatement" in rule["statement"] else rule),
])
def test_more_ways_to_break_the_rules_are_caught(central, variant):
    assert violations(variant(central)) != []


def test_a_stack_without_edge_protection_is_told_so_and_keeps_the_cross_site_rules():
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["api"]["waf"] = {"enabled": False}
    found = violations(registered(run_program(config)))
    assert [name for name, _ in found] == ["apigateway-stage-edge-protection"]
    assert "lacks a blocking rate-based rule and an AWS managed rule group" in found[0][1]
    advisory = next(p for p in POLICIES if p.name == "apigateway-stage-edge-protection")
    assert advisory.enforcement_level.value == "advisory"


def ci_resources(stack, **ci):
    config = stack_config(stack)
    config[f"mlflow-landing-zone:{stack}"]["ci"] = {"githubRepository": "my-org/mlz", **ci}
    return registered(run_program(config, stack=stack))


@pytest.mark.parametrize("stack", ["central", "datascience"])
@pytest.mark.parametrize("ref_in_subject", [False, True])
def test_ci_roles_break_no_rule(stack, ref_in_subject):
    resources = ci_resources(stack, refInSubject=ref_in_subject)
    assert len([r for r in resources if r.resource_type == "aws:iam/role:Role"
                and "-ci-" in r.name]) == 2
    assert violations(resources) == []


def _with(resources, name_end, change):
    changed = copy.deepcopy(resources)
    for r in changed:
        if r.name.endswith(name_end):
            change(r)
    return changed


def _policy_of(r, document):
    r.props["policy"] = json.dumps(document)


@pytest.mark.parametrize("variant, rule, said", [
    # the preview role given write access, or its data guard dropped, or more than pulls
    (lambda rs: _with(rs, "ci-preview", lambda r: r.props.update(
        policyArn="arn:aws:iam::aws:policy/PowerUserAccess")
        if r.resource_type.endswith("RolePolicyAttachment") else None),
     "ci-preview-reads-no-data", "carries ['arn:aws:iam::aws:policy/PowerUserAccess']"),
    (lambda rs: [r for r in rs if not (r.resource_type == "aws:iam/rolePolicy:RolePolicy"
                                       and r.name.endswith("ci-preview"))],
     "ci-preview-reads-no-data", "does not deny s3:ListBucket, cognito-idp:ListUsers"),
    (lambda rs: _with(rs, "ci-preview", lambda r: _policy_of(r, {"Statement": [
        {"Effect": "Deny", "Action": ["s3:ListBucket", "cognito-idp:ListUsers"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["ecr:PutImage"], "Resource": "*"}]})
        if r.resource_type == "aws:iam/rolePolicy:RolePolicy" else None),
     "ci-preview-reads-no-data", "allows ['ecr:PutImage']"),
    # the deploy role trusting a branch push instead of an environment
    (lambda rs: _with(rs, "ci-deploy", lambda r: r.props.update(
        assumeRolePolicy=r.props["assumeRolePolicy"].replace(
            "environment:central", "ref:refs/heads/main"))
        if r.resource_type == "aws:iam/role:Role" else None),
     "ci-deploy-behind-an-environment", "trusts only runs in a GitHub environment"),
])
def test_ci_roles_that_could_write_from_a_pull_request_are_caught(variant, rule, said):
    found = violations(variant(ci_resources("central")))
    assert any(name == rule and said in message for name, message in found), found


SERVING_VARIANTS = {
    "a serving role that writes": ("serving-role-reads-only-its-teams-registry", {
        "Effect": "Allow", "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::central/registry/workspaces/team-a/*"}),
    "a serving role that lists the whole registry": (
        "serving-role-reads-only-its-teams-registry", {
            "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::central",
            "Condition": {"StringLike": {"s3:prefix": ["registry/*"]}}}),
    "a serving role that reads run artifacts": ("serving-role-reads-only-its-teams-registry", {
        "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::central/artifacts/workspaces/team-a/*"}),
    "a serving role that decrypts directly": ("serving-role-reads-only-its-teams-registry", {
        "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:1:key/x"}),
}


@pytest.mark.parametrize("variant", sorted(SERVING_VARIANTS))
def test_the_team_stacks_serving_role_holds_to_its_reach(variant):
    """The team stack breaks no serving rule; each widening of its serving role's policy is
    caught."""
    rule, statement = SERVING_VARIANTS[variant]
    stack = registered(run_program(stack_config("datascience"), stack="datascience"))
    assert [v for v in violations(stack) if v[0] == rule] == []
    changed = [resource(r.resource_type, r.name, {**r.props, "policy": json.dumps({
        "Statement": json.loads(r.props["policy"])["Statement"] + [statement]})})
        if r.resource_type == "aws:iam/rolePolicy:RolePolicy" and "endpoints" in r.name else r
        for r in stack]
    assert [v[0] for v in violations(changed)] == [rule], variant


def test_a_deployer_without_the_teams_key_and_an_open_permission_are_caught():
    stack = registered(run_program(stack_config("datascience"), stack="datascience"))
    changed = []
    for r in stack:
        props = dict(r.props)
        if r.resource_type == "aws:lambda/function:Function":
            props["environment"] = {"variables": {
                **props["environment"]["variables"], "KMS_KEY_ARN": "arn:aws:kms:x:1:key/other"}}
        if r.resource_type == "aws:lambda/permission:Permission":
            props.pop("sourceArn", None)
        changed.append(resource(r.resource_type, r.name, props, r.opts.protect))
    assert sorted({v[0] for v in violations(changed)}) == [
        "event-targets-own-or-landing-zone-bus", "sagemaker-endpoints-encrypted"]


def test_configured_minimums_apply(central):
    assert any(name == "rds-encrypted-and-protected"
               for name, _ in violations(central, {"minBackupRetentionDays": 30}))


@pytest.mark.parametrize("variant, rule, said", [
    # no WAF log at all; a log to a destination WAF refuses
    (lambda rs: without(rs, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"),
     "waf-logging-redacted", "keeps no log"),
    (lambda rs: mutate(rs, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "",
                       logDestinationConfigs=[
                           "arn:aws:logs:us-east-1:111111111111:log-group:waf"]),
     "waf-logging-redacted", "named aws-waf-logs-"),
    (lambda rs: mutate(rs, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "",
                       redactedFields=[{"singleHeader": {"name": "Authorization"}}]),
     "waf-logging-redacted", "keeps the cookie header"),
    # a bucket without a lifecycle; a lifecycle whose abort rule is disabled
    (lambda rs: without(rs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                        "artifacts"),
     "s3-lifecycle-aborts-incomplete-uploads", "mlflow-store-artifacts's lifecycle"),
    (lambda rs: [resource(r.resource_type, r.name, {**r.props, "rules": [
        {**rule, "status": "Disabled"} for rule in r.props["rules"]]})
        if r.resource_type.endswith("BucketLifecycleConfiguration") else r for r in rs],
     "s3-lifecycle-aborts-incomplete-uploads", "does not abort incomplete multipart"),
    # an authorizer that reserves none (Lambda's -1)
    (lambda rs: mutate(rs, "aws:lambda/function:Function", "authorizer",
                       reservedConcurrentExecutions=-1),
     "lambda-authorizer-reserved-concurrency", "has no reserved concurrency"),
    # a service trust that names the account under another key only; Lambda's exception
    # does not cover a statement that trusts another service beside it
    (lambda rs: mutate(rs, "aws:iam/role:Role", "flow-logs", assumeRolePolicy=json.dumps({
        "Statement": [{"Effect": "Allow",
                       "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                       "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {
                           "aws:PrincipalAccount": "111111111111"}}}]})),
     "iam-service-trust-source", "vpc-flow-logs.amazonaws.com names no aws:SourceAccount"),
    (lambda rs: mutate(rs, "aws:iam/role:Role", "edge-authorizer", assumeRolePolicy=json.dumps({
        "Statement": [{"Effect": "Allow",
                       "Principal": {"Service": ["lambda.amazonaws.com",
                                                 "ecs-tasks.amazonaws.com"]},
                       "Action": "sts:AssumeRole"}]})),
     "iam-service-trust-source", "names no aws:SourceAccount"),
])
def test_the_scanners_findings_come_back_and_are_caught(central, variant, rule, said):
    """Issue 29, item 5: each finding is a rule; a pull request that brings it back fails."""
    found = violations(variant(central))
    assert {name for name, _ in found} == {rule}, found
    assert all(said in message for _, message in found), found
