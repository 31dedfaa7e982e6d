"""The guardrails, one policy per concern. Each description tells a reviewer how to fix a
violation. Properties arrive as the engine sends them: camelCase, documents as JSON strings.

Configurable (`pulumi preview --policy-pack policy --policy-pack-config config.json`):
`minBackupRetentionDays` (7), `minPasswordLength` (14), `lambdaPythonRuntimes`.
"""

import json
import re

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from spec.edge import CROSS_SITE_RULES  # what the web ACL must refuse, by rule name
from spec.registry_events import EVENT_BUS_NAME, SERVING_ROLE_SUFFIX

DEFAULTS = {"minBackupRetentionDays": 7, "minPasswordLength": 14,
            "lambdaPythonRuntimes": ["python3.12", "python3.13"]}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY",
                         re.IGNORECASE)
DATA_TYPES = ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:rds/cluster:Cluster",
              "aws:cognito/userPool:UserPool")
POLICY_DOCUMENT_TYPES = {"aws:iam/policy:Policy": "policy", "aws:iam/rolePolicy:RolePolicy": "policy",
                         "aws:iam/userPolicy:UserPolicy": "policy",
                         "aws:iam/groupPolicy:GroupPolicy": "policy"}


def _config(args, key):
    """This policy's configured value (its config schema declares it), else the default."""
    return (args.get_config() or {}).get(key, DEFAULTS[key])


def _document(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value or {}


def _statements(document):
    statements = _document(document).get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value):
    return [value] if isinstance(value, str) else list(value or [])


def _for_type(resource_type):
    def decorator(check):
        def validate(args, report):
            if args.resource_type == resource_type:
                check(args, args.props, report)
        return validate
    return decorator


def _policy(name, description, validate, level=EnforcementLevel.MANDATORY, schema=None):
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=level, config_schema=schema)


# --- S3 ------------------------------------------------------------------------------------


@_for_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def _public_access(args, props, report):
    missing = [k for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                           "restrictPublicBuckets") if props.get(k) is not True]
    if missing:
        report(f"public access block leaves {', '.join(missing)} off")


def _bucket_companions(resources):
    """For each bucket: its public access block, encryption, versioning and policy, matched by
    bucket name or id where known, else by the resource name they share with the bucket."""
    buckets = [r for r in resources if r.resource_type == "aws:s3/bucket:Bucket"]
    out = {}
    for bucket in buckets:
        keys = {bucket.name, bucket.props.get("bucket"), bucket.props.get("id")} - {None}
        out[bucket.name] = {r.resource_type: r for r in resources
                            if r.resource_type.startswith("aws:s3/bucket") and r is not bucket
                            and (r.props.get("bucket") in keys or r.name == bucket.name)}
    return buckets, out


def _log_targets(resources):
    return {r.props.get("targetBucket") for r in resources
            if r.resource_type == "aws:s3/bucketLogging:BucketLogging"} - {None}


def _buckets(args, report):
    buckets, companions = _bucket_companions(args.resources)
    log_targets = _log_targets(args.resources)
    for bucket in buckets:
        parts = companions[bucket.name]
        name = bucket.name
        if "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" not in parts:
            report(f"bucket {name} has no public access block")
        versioning = parts.get("aws:s3/bucketVersioning:BucketVersioning")
        if not versioning or (versioning.props.get("versioningConfiguration") or {}).get(
                "status") != "Enabled":
            report(f"bucket {name} is not versioned")
        sse = parts.get("aws:s3/bucketServerSideEncryptionConfiguration:"
                        "BucketServerSideEncryptionConfiguration")
        algorithms = {((rule.get("applyServerSideEncryptionByDefault") or {})
                       .get("sseAlgorithm")) for rule in (sse.props.get("rules") or [])} if sse else set()
        is_log_target = bool({bucket.props.get("bucket"), bucket.props.get("id")} & log_targets)
        if is_log_target:
            if algorithms != {"AES256"}:  # S3 cannot deliver server access logs to SSE-KMS
                report(f"bucket {name} receives access logs and must use SSE-S3 (AES256)")
        elif not algorithms or not algorithms <= {"aws:kms", "aws:kms:dsse"}:
            report(f"bucket {name} is not encrypted with KMS")
        policy = parts.get("aws:s3/bucketPolicy:BucketPolicy")
        tls = any(s.get("Effect") == "Deny" and
                  (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") in
                  ("false", False)
                  for s in _statements(policy.props.get("policy")) if policy)
        if not tls:
            report(f"bucket {name} has no TLS-only policy (Deny when aws:SecureTransport is false)")


# --- RDS -------------------------------------------------------------------------------------


@_for_type("aws:rds/cluster:Cluster")
def _rds_cluster(args, props, report):
    if props.get("storageEncrypted") is not True:
        report("storage is not encrypted")
    if props.get("deletionProtection") is not True:
        report("deletion protection is off")
    if props.get("skipFinalSnapshot") is True:
        report("no final snapshot would be taken")
    minimum = _config(args, "minBackupRetentionDays")
    if (props.get("backupRetentionPeriod") or 1) < minimum:
        report(f"backups are kept {props.get('backupRetentionPeriod') or 1} days, "
               f"fewer than {minimum}")


@_for_type("aws:rds/clusterInstance:ClusterInstance")
def _rds_instance(args, props, report):
    if props.get("publiclyAccessible") is True:
        report("the database instance is publicly accessible")


# --- API Gateway -----------------------------------------------------------------------------


def _method_key(props):
    return (props.get("restApi"), props.get("resourceId"), props.get("httpMethod"))


def _method_auth(args, report):
    """An open method must answer itself (a MOCK integration, as the root's redirect to the
    UI does): nothing behind it may be reached without AWS_IAM or an authorizer."""
    mock = {_method_key(r.props) for r in args.resources
            if r.resource_type == "aws:apigateway/integration:Integration"
            and r.props.get("type") == "MOCK"}
    for r in args.resources:
        props = r.props
        if r.resource_type != "aws:apigateway/method:Method" or props.get("httpMethod") == "OPTIONS":
            continue
        authorization = props.get("authorization")
        if authorization not in ("AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS"):
            if _method_key(props) not in mock:
                report(f"{props.get('httpMethod')} method {r.name} is open (authorization "
                       f"{authorization}) and reaches a backend", r.urn)
        elif authorization != "AWS_IAM" and not props.get("authorizerId"):
            report(f"{authorization} method {r.name} names no authorizer", r.urn)



def _stages_and_acls(resources):
    """(stage, the web ACL associated with it or None) for every API stage."""
    acls = {r.props.get("arn"): r for r in resources
            if r.resource_type == "aws:wafv2/webAcl:WebAcl"}
    guarded = {r.props.get("resourceArn"): acls.get(r.props.get("webAclArn"))
               for r in resources
               if r.resource_type == "aws:wafv2/webAclAssociation:WebAclAssociation"}
    return [(r, guarded.get(r.props.get("arn"))) for r in resources
            if r.resource_type == "aws:apigateway/stage:Stage"]


def _stage_web_acl(args, report):
    for r, acl in _stages_and_acls(args.resources):
        if acl is None:
            report(f"stage {r.name} has no web ACL", r.urn)
            continue
        blocking = {rule.get("name") for rule in acl.props.get("rules") or []
                    if "block" in (rule.get("action") or {})}
        missing = [n for n in CROSS_SITE_RULES if n not in blocking]
        if missing:
            report(f"the web ACL of stage {r.name} does not block {', '.join(missing)}", r.urn)


def _stage_edge_protection(args, report):
    """The stage's web ACL blocks floods from one address and uses AWS's managed rule groups
    (the stacks' api.waf; a reviewer sees it when a PR turns it off)."""
    for r, acl in _stages_and_acls(args.resources):
        rules = (acl.props.get("rules") if acl else None) or []
        rate = [rule for rule in rules if "rateBasedStatement" in (rule.get("statement") or {})
                and "block" in (rule.get("action") or {})]
        managed = [rule for rule in rules
                   if ((rule.get("statement") or {}).get("managedRuleGroupStatement") or {})
                   .get("vendorName") == "AWS"
                   and "count" not in (rule.get("overrideAction") or {})]
        missing = ([] if rate else ["a blocking rate-based rule"]) + (
            [] if managed else ["an AWS managed rule group that is not only counted"])
        if missing:
            report(f"the web ACL of stage {r.name} lacks {' and '.join(missing)}", r.urn)


@_for_type("aws:apigateway/stage:Stage")
def _stage_logging(args, props, report):
    settings = props.get("accessLogSettings") or {}
    if not settings.get("destinationArn") or not settings.get("format"):
        report("the stage writes no access log")


@_for_type("aws:apigateway/methodSettings:MethodSettings")
def _data_tracing(args, props, report):
    if (props.get("settings") or {}).get("dataTraceEnabled") is True:
        report("data tracing is on: request and response bodies (tokens, secrets) go to logs")


# --- IAM -------------------------------------------------------------------------------------

_ACCOUNT_ROOT = re.compile(r"^(arn:aws[a-z-]*:iam::\d{12}:root|\d{12})$")
_LIMITING_KEYS = {"aws:principalarn", "aws:principalorgid"}


@_for_type("aws:iam/role:Role")
def _trust(args, props, report):
    for statement in _statements(props.get("assumeRolePolicy")):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        aws = _as_list(principal.get("AWS")) if isinstance(principal, dict) else []
        if principal == "*" or "*" in aws:
            report("the trust policy admits any principal (*)")
            continue
        conditions = {k.lower() for tests in (statement.get("Condition") or {}).values()
                      for k in tests}
        roots = [p for p in aws if _ACCOUNT_ROOT.match(p)]
        if roots and not conditions & _LIMITING_KEYS:
            report(f"the trust policy admits all of account(s) {', '.join(roots)} without an "
                   f"aws:PrincipalArn or aws:PrincipalOrgID condition")


_OIDC_SUBJECT = re.compile(r"^repo:[^*?/:]+/[^*?/:]+:[^*?]+$")  # one repository, one context
# The one wildcard a GitHub subject may hold: a pull request's number, when the repository's
# subject template carries the ref (components/ci_access.py, ci.refInSubject).
_OIDC_PULL_REQUESTS = re.compile(r"^repo:[^*?/:]+/[^*?/:]+:pull_request:ref:refs/pull/\*/merge$")


@_for_type("aws:iam/role:Role")
def _oidc_trust(args, props, report):
    """A role that trusts an OIDC provider (GitHub's, any other) names the token's subject
    and audience exactly: without `sub`, every repository of every GitHub user may assume it."""
    for statement in _statements(props.get("assumeRolePolicy")):
        principal = statement.get("Principal")
        federated = _as_list(principal.get("Federated")) if isinstance(principal, dict) else []
        providers = [p.split(":oidc-provider/", 1)[1] for p in federated
                     if ":oidc-provider/" in str(p)]
        if statement.get("Effect") != "Allow" or not providers:
            continue
        condition = statement.get("Condition") or {}
        for host in providers:
            subjects = [v for test in ("StringEquals", "StringLike")
                        for v in _as_list((condition.get(test) or {}).get(f"{host}:sub"))]
            audiences = _as_list((condition.get("StringEquals") or {}).get(f"{host}:aud"))
            if not subjects:
                report(f"the trust policy admits tokens of {host} without a {host}:sub "
                       f"condition: anyone's workflow may assume the role")
            elif host == "token.actions.githubusercontent.com" and not all(
                    _OIDC_SUBJECT.match(v) or _OIDC_PULL_REQUESTS.match(v) for v in subjects):
                report(f"the trust policy's {host}:sub {subjects} must name one repository "
                       f"(repo:<owner>/<name>:...) without wildcards in it")
            if not audiences:
                report(f"the trust policy admits tokens of {host} without a {host}:aud "
                       f"condition (StringEquals)")


GITHUB_SUBJECT_KEY = "token.actions.githubusercontent.com:sub"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
# What a preview role must refuse (a pull request's code runs with it) and all it may add.
PREVIEW_MUST_DENY = ("s3:ListBucket", "cognito-idp:ListUsers")
PREVIEW_MAY_ALLOW = re.compile(r"^ecr:(GetAuthorizationToken|BatchGetImage|"
                               r"GetDownloadUrlForLayer|BatchCheckLayerAvailability|Describe\w+)$")


def _github_subjects(role) -> list:
    return [v for s in _statements(role.props.get("assumeRolePolicy"))
            for test in ("StringEquals", "StringLike")
            for v in _as_list(((s.get("Condition") or {}).get(test) or {})
                              .get(GITHUB_SUBJECT_KEY))]


def _ci_roles(args):
    """(role, its GitHub subjects, managed policy ARNs, inline statements) of every role a
    GitHub workflow may assume."""
    for role in args.resources:
        if role.resource_type != "aws:iam/role:Role":
            continue
        subjects = _github_subjects(role)
        if not subjects:
            continue
        name = role.props.get("name")
        attached = [r.props.get("policyArn") for r in args.resources
                    if r.resource_type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
                    and r.props.get("role") == name]
        inline = [s for r in args.resources
                  if r.resource_type == "aws:iam/rolePolicy:RolePolicy"
                  and r.props.get("role") == name for s in _statements(r.props.get("policy"))]
        yield role, subjects, attached, inline


def _ci_preview_reads_no_data(args, report):
    for role, subjects, attached, inline in _ci_roles(args):
        if not any(":pull_request" in s for s in subjects):
            continue
        others = [a for a in attached if a != VIEW_ONLY]
        if others:
            report(f"role {role.name}, assumed by pull requests' code, carries {others}: "
                   f"only {VIEW_ONLY}", role.urn)
        denied = {a for s in inline if s.get("Effect") == "Deny"
                  and _as_list(s.get("Resource")) == ["*"] for a in _as_list(s.get("Action"))}
        missing = [a for a in PREVIEW_MUST_DENY if a not in denied]
        if missing:
            report(f"role {role.name} does not deny {', '.join(missing)} on every resource: "
                   "ViewOnlyAccess lists every bucket's keys and every user's e-mail", role.urn)
        extra = sorted({a for s in inline if s.get("Effect") == "Allow"
                        for a in _as_list(s.get("Action")) if not PREVIEW_MAY_ALLOW.match(a)})
        if extra:
            report(f"role {role.name}, assumed by pull requests' code, allows {extra}: "
                   "a preview may only pull images", role.urn)


def _ci_deploy_behind_an_environment(args, report):
    for role, subjects, attached, _ in _ci_roles(args):
        if any(":pull_request" in s for s in subjects):
            continue
        loose = [s for s in subjects if ":environment:" not in s]
        if loose:
            report(f"role {role.name} trusts GitHub subjects {loose}: a deploying role trusts "
                   "only runs in a GitHub environment (repo:<owner>/<name>:environment:<env>), "
                   "whose reviewers and branch rule guard it", role.urn)


ELEVATED_LEVEL_TAGS = ("model-approver", "admin")


def _team_account_guard(args, report):
    """A team stack whose execution roles carry an elevated level ships the guard that keeps
    passing them to SageMaker to principals of that level (spec.accounts.level_guard_policy)."""
    guarded = set()
    for r in args.resources:
        if r.resource_type != "aws:iam/policy:Policy":
            continue
        for s in _statements(r.props.get("policy")):
            if s.get("Effect") == "Deny" and "iam:PassRole" in _as_list(s.get("Action")):
                guarded |= set(_as_list(s.get("Resource")))
    for r in args.resources:
        tags = r.props.get("tags") or {}
        if (r.resource_type == "aws:iam/role:Role"
                and tags.get("mlflow-level") in ELEVATED_LEVEL_TAGS):
            name = r.props.get("name")
            if not any(arn.endswith(f":role/{name}") for arn in guarded):
                report(f"execution role {name} ({tags['mlflow-level']}) has no guard: anyone "
                       "who may pass roles to SageMaker acts in MLflow at that level", r.urn)


def _policy_documents(args):
    key = POLICY_DOCUMENT_TYPES.get(args.resource_type)
    return _statements(args.props.get(key)) if key else []


def _star_star(args, report):
    for statement in _policy_documents(args):
        if statement.get("Effect") != "Allow":
            continue
        actions, resources = _as_list(statement.get("Action")), _as_list(statement.get("Resource"))
        if {"*", "*:*"} & set(actions) and "*" in resources:
            report("the policy allows every action on every resource (*:*)")


# `API/*`, `API/stage/*`, `API/*/*/*`...: every method and path of an API or of a stage.
_WHOLE_API = re.compile(r"^arn:aws[a-z-]*:execute-api:[^:]*:[^:]*:[^/]+(/[^/*]+|/\*)?(/\*)+$|^\*$")


def _whole_api(args, report):
    if "admin" in args.name:
        return  # the admin level holds every route by design
    for statement in _policy_documents(args):
        if statement.get("Effect") != "Allow":
            continue
        actions = {a.lower() for a in _as_list(statement.get("Action"))}
        if actions & {"execute-api:invoke", "execute-api:*", "*"} and any(
                _WHOLE_API.match(r) for r in _as_list(statement.get("Resource"))):
            report("execute-api:Invoke on the whole API outside an admin role")


# --- Cognito, ECS, Lambda, CloudWatch ----------------------------------------------------------


@_for_type("aws:cognito/userPool:UserPool")
def _cognito(args, props, report):
    if (props.get("adminCreateUserConfig") or {}).get("allowAdminCreateUserOnly") is not True:
        report("self sign-up is on: anyone could create a user")
    policy = props.get("passwordPolicy") or {}
    minimum = _config(args, "minPasswordLength")
    if (policy.get("minimumLength") or 8) < minimum:
        report(f"passwords may be shorter than {minimum} characters")
    weak = [k for k in ("requireLowercase", "requireUppercase", "requireNumbers",
                        "requireSymbols") if policy.get(k) is not True]
    if weak:
        report(f"the password policy does not require {', '.join(weak)}")


@_for_type("aws:cognito/userPool:UserPool")
def _cognito_mfa(args, props, report):
    if props.get("mfaConfiguration", "OFF") == "OFF":
        report("MFA is off")


@_for_type("aws:ecs/service:Service")
def _ecs_public_ip(args, props, report):
    if (props.get("networkConfiguration") or {}).get("assignPublicIp") is True:
        report("tasks get a public IP")


@_for_type("aws:ecs/taskDefinition:TaskDefinition")
def _ecs_secrets(args, props, report):
    definitions = _document(props.get("containerDefinitions")) or []
    for container in definitions:
        for variable in container.get("environment") or []:
            if SECRET_NAME.search(variable.get("name", "")):
                report(f"container {container.get('name')} has {variable['name']} in plain "
                       f"environment")


@_for_type("aws:ecs/taskDefinition:TaskDefinition")
def _ecs_read_only_root(args, props, report):
    for container in _document(props.get("containerDefinitions")) or []:
        if container.get("readonlyRootFilesystem") is not True:
            report(f"container {container.get('name')} may write its root file system")


# --- hardening the scanners look for (Checkov's AWS rules) -----------------------------------

def _rule_descriptions(args, report):
    """Every security group rule says what it is for (inline or a rule resource)."""
    for r in args.resources:
        if r.resource_type == "aws:ec2/securityGroup:SecurityGroup":
            rules = [("ingress", x) for x in r.props.get("ingress") or []] + [
                ("egress", x) for x in r.props.get("egress") or []]
            for kind, rule in rules:
                if not rule.get("description"):
                    report(f"security group {r.name} has an {kind} rule without a description",
                           r.urn)
        elif r.resource_type in ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                                 "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
            if not r.props.get("description"):
                report(f"security group rule {r.name} has no description", r.urn)


DATABASE_LOGGING = {"log_statement": ("ddl", "mod", "all"), "log_min_duration_statement": None}


def _database_logging(args, report):
    """Every Aurora PostgreSQL cluster logs schema changes and slow statements to CloudWatch."""
    groups = {r.props.get("name"): r for r in args.resources
              if r.resource_type == "aws:rds/clusterParameterGroup:ClusterParameterGroup"}
    for r in args.resources:
        if r.resource_type != "aws:rds/cluster:Cluster":
            continue
        if "postgresql" not in (r.props.get("enabledCloudwatchLogsExports") or []):
            report(f"cluster {r.name} does not export its PostgreSQL log", r.urn)
        group = groups.get(r.props.get("dbClusterParameterGroupName"))
        values = {p.get("name"): p.get("value")
                  for p in ((group.props.get("parameters") if group else None) or [])}
        for name, accepted in DATABASE_LOGGING.items():
            value = values.get(name)
            if value is None or (accepted and value not in accepted) or (
                    not accepted and not str(value).lstrip("-").isdigit() or value == "-1"):
                report(f"cluster {r.name}'s parameter group does not set {name} "
                       f"(schema changes and slow statements go unlogged)", r.urn)


# What shows that a stack runs a network of its own: the VPC (awsx's component or a plain one),
# or endpoints in it (a team stack's Studio names its team's VPC, and makes none of these).
NETWORK_TYPES = ("aws:ec2/vpc:Vpc", "awsx:ec2:Vpc", "aws:ec2/vpcEndpoint:VpcEndpoint")


def _flow_logs(args, report):
    """A stack that makes a VPC logs its flows."""
    vpcs = [r for r in args.resources if r.resource_type in NETWORK_TYPES]
    if vpcs and not any(r.resource_type == "aws:ec2/flowLog:FlowLog" for r in args.resources):
        report(f"VPC {vpcs[0].name} has no flow log", vpcs[0].urn)


@_for_type("aws:kms/key:Key")
def _explicit_key_policy(args, props, report):
    if not props.get("policy"):
        report("the key runs on the default key policy (every principal of the account that "
               "IAM allows may use it): give it a policy of its own")


# What WAF's log must never hold: a browser's token and cookies (components/web_acl.py adds
# the session token)
WAF_REDACTED_HEADERS = ("authorization", "cookie")
WAF_LOG_PREFIX = "aws-waf-logs-"


def _waf_logging(args, report):
    """Every web ACL logs the requests it judges, to a destination WAF accepts, with the
    credential headers redacted."""
    configs = {r.props.get("resourceArn"): r for r in args.resources
               if r.resource_type == "aws:wafv2/webAclLoggingConfiguration:"
                                    "WebAclLoggingConfiguration"}
    for acl in args.resources:
        if acl.resource_type != "aws:wafv2/webAcl:WebAcl":
            continue
        config = configs.get(acl.props.get("arn"))
        if config is None:
            report(f"web ACL {acl.name} keeps no log (WAF's sampled requests last 3 hours)",
                   acl.urn)
            continue
        destinations = config.props.get("logDestinationConfigs") or []
        if not destinations or not all(
                re.search(rf"(:log-group:|:deliverystream/|:::){WAF_LOG_PREFIX}", str(d))
                for d in destinations):
            report(f"web ACL {acl.name} logs to {destinations}: WAF takes only destinations "
                   f"named {WAF_LOG_PREFIX}...", acl.urn)
        redacted = {((f.get("singleHeader") or {}).get("name") or "").lower()
                    for f in config.props.get("redactedFields") or []}
        missing = [h for h in WAF_REDACTED_HEADERS if h not in redacted]
        if missing:
            report(f"web ACL {acl.name}'s log keeps the {', '.join(missing)} header(s): "
                   f"tokens and cookies would be readable in the log", acl.urn)


@_for_type("aws:cloudwatch/logGroup:LogGroup")
def _log_encryption(args, props, report):
    if not props.get("kmsKeyId"):
        report("the log group is not encrypted with a customer-managed key (access logs hold "
               "caller ARNs, user names and addresses)")


def _abort_incomplete_uploads(args, report):
    """Every bucket's lifecycle aborts multipart uploads left unfinished."""
    buckets, companions = _bucket_companions(args.resources)
    for bucket in buckets:
        lifecycle = companions[bucket.name].get(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        rules = (lifecycle.props.get("rules") if lifecycle else None) or []
        if not any(rule.get("status") == "Enabled" and
                   ((rule.get("abortIncompleteMultipartUpload") or {})
                    .get("daysAfterInitiation") or 0) > 0 for rule in rules):
            report(f"bucket {bucket.name}'s lifecycle does not abort incomplete multipart "
                   f"uploads (their parts are billed and listed nowhere else)", bucket.urn)


def _authorizer_concurrency(args, report):
    """Every Lambda that authorizes an API's requests has concurrency reserved for it."""
    uris = [str(r.props.get("authorizerUri") or "") for r in args.resources
            if r.resource_type == "aws:apigateway/authorizer:Authorizer"]
    for r in args.resources:
        if r.resource_type != "aws:lambda/function:Function":
            continue
        arn = r.props.get("arn")
        if not arn or not any(f"{arn}/" in uri for uri in uris):
            continue
        if (r.props.get("reservedConcurrentExecutions") or -1) <= 0:
            report(f"authorizer {r.name} has no reserved concurrency: other functions can "
                   f"starve sign-ins, and a flood of tokens takes the account's pool", r.urn)


# Services that document neither aws:SourceAccount nor aws:SourceArn as set when they assume a
# role: a condition on either would refuse the service itself (docs/security.md, "Service
# trusts").
SERVICES_WITHOUT_SOURCE_KEYS = {
    # Lambda documents aws:SourceArn only for policies whose resource is the function
    "lambda.amazonaws.com",
    # API Gateway documents no source key for the account's CloudWatch logging role
    "apigateway.amazonaws.com",
}
_SOURCE_KEYS = {"aws:sourceaccount", "aws:sourcearn"}


@_for_type("aws:iam/role:Role")
def _service_trust_source(args, props, report):
    for statement in _statements(props.get("assumeRolePolicy")):
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if statement.get("Effect") != "Allow" or not services:
            continue
        if set(services) <= SERVICES_WITHOUT_SOURCE_KEYS:
            continue
        keys = {k.lower() for tests in (statement.get("Condition") or {}).values()
                for k in tests}
        if not keys & _SOURCE_KEYS:
            report(f"the trust of {', '.join(services)} names no aws:SourceAccount or "
                   f"aws:SourceArn: the service would act in this role for anyone's "
                   f"resources (confused deputy)")


@_for_type("aws:ecs/taskDefinition:TaskDefinition")
def _mlflow_cors(args, props, report):
    for container in _document(props.get("containerDefinitions")) or []:
        if container.get("name") != "mlflow":
            continue
        env = {v.get("name"): v.get("value") for v in container.get("environment") or []}
        origins = [o.strip() for o in (env.get("MLFLOW_SERVER_CORS_ALLOWED_ORIGINS") or "")
                   .split(",") if o.strip()]
        if not origins:
            report("MLflow's container lists no MLFLOW_SERVER_CORS_ALLOWED_ORIGINS: it refuses "
                   "every browser write from the UI")
        elif any("*" in o or not o.startswith("https://") for o in origins):
            report(f"MLflow admits browser writes from {', '.join(origins)}: only the UI's "
                   f"https origin, exactly")


def _https_only(rule) -> bool:
    """Interface endpoints: HTTPS to AWS's APIs, for everything in the VPC (the exception)."""
    return rule.get("fromPort") == 443 and rule.get("toPort") == 443 and \
        rule.get("protocol", rule.get("ipProtocol")) == "tcp"


@_for_type("aws:ec2/securityGroup:SecurityGroup")
def _no_range_ingress(args, props, report):
    for rule in props.get("ingress") or []:
        if (rule.get("cidrBlocks") or rule.get("ipv6CidrBlocks")) and not _https_only(rule):
            report(f"ingress from address ranges {rule.get('cidrBlocks') or []} "
                   f"{rule.get('ipv6CidrBlocks') or []}: admit a security group instead")


@_for_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
def _no_range_ingress_rule(args, props, report):
    if (props.get("cidrIpv4") or props.get("cidrIpv6")) and not _https_only(props):
        report(f"ingress from {props.get('cidrIpv4') or props.get('cidrIpv6')}: admit a "
               f"security group instead")


# What the central stack must alarm on (components/monitoring.py), as (namespace, metric).
WATCHED_METRICS = (
    ("AWS/ApiGateway", "5XXError"), ("AWS/ApiGateway", "4XXError"), ("AWS/ApiGateway", "Latency"),
    # the authorizer's own failures, a metric of its log lines in the stack's namespace (AWS's
    # Lambda Errors count every refused token: the function raises Unauthorized)
    ("*", "AuthorizerFailures"), ("AWS/Lambda", "Throttles"),
    ("ECS/ContainerInsights", "RunningTaskCount"), ("AWS/ECS", "CPUUtilization"),
    ("AWS/ECS", "MemoryUtilization"), ("AWS/RDS", "ACUUtilization"),
    ("AWS/RDS", "DatabaseConnections"),
)


def _alarms(args, report):
    """A stack that runs the API alarms on each part of it, and every alarm notifies someone."""
    if not any(r.resource_type == "aws:apigateway/stage:Stage" for r in args.resources):
        return
    watched = set()
    for r in args.resources:
        if r.resource_type != "aws:cloudwatch/metricAlarm:MetricAlarm":
            continue
        if not r.props.get("alarmActions"):
            report(f"alarm {r.name} notifies nobody (no alarmActions)", r.urn)
            continue
        metrics = [r.props] + [q.get("metric") or {} for q in r.props.get("metricQueries") or []]
        watched |= {(m.get("namespace"), m.get("metricName")) for m in metrics}
    missing = [f"{ns} {metric}" for ns, metric in WATCHED_METRICS
               if not any(m == metric and ns in ("*", n) for n, m in watched)]
    if missing:
        report(f"no alarm that notifies anyone watches {', '.join(missing)}")


@_for_type("aws:lambda/function:Function")
def _lambda_runtime(args, props, report):
    supported = _config(args, "lambdaPythonRuntimes")
    if props.get("runtime") not in supported:
        report(f"runtime {props.get('runtime')} is not one of {', '.join(supported)}")


@_for_type("aws:cloudwatch/logGroup:LogGroup")
def _log_retention(args, props, report):
    if not props.get("retentionInDays"):
        report("logs are kept forever (no retention period)")


# --- the registry's events (EventBridge) --------------------------------------------------------

_FORWARD_BUS = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\w.-]+$")


def _forward_targets(args, report):
    """A rule that puts on an event bus (another account's: a team's, a security account's)
    does so with a role of its own whose policies put on that bus alone."""
    roles = {r.props.get("arn"): r for r in args.resources
             if r.resource_type == "aws:iam/role:Role"}
    role_policies = {}
    for r in args.resources:
        if r.resource_type == "aws:iam/rolePolicy:RolePolicy":
            role_policies.setdefault(r.props.get("role"), []).append(r)
    for target in args.resources:
        if target.resource_type != "aws:cloudwatch/eventTarget:EventTarget":
            continue
        arn = target.props.get("arn") or ""
        if not _FORWARD_BUS.match(arn):
            continue
        role = roles.get(target.props.get("roleArn"))
        if role is None:
            report(f"event target {target.name} puts on the bus {arn} without a role of this "
                   "stack (the bus's policy alone would have to admit the whole account)")
            continue
        names = {role.props.get("name"), role.props.get("id"), f"{role.name}-id"}
        statements = [s for p in role_policies.items() if p[0] in names
                      for r in p[1] for s in _statements(r.props.get("policy"))]
        reach = {res for s in statements if s.get("Effect") == "Allow"
                 for res in _as_list(s.get("Resource"))}
        actions = {a for s in statements if s.get("Effect") == "Allow"
                   for a in _as_list(s.get("Action"))}
        if reach != {arn} or actions != {"events:PutEvents"}:
            report(f"event target {target.name}'s role may {sorted(actions)} on "
                   f"{sorted(reach)}: it must put events on {arn} alone")


@_for_type("aws:cloudwatch/eventBusPolicy:EventBusPolicy")
def _event_bus_policy(args, props, report):
    for statement in _statements(props.get("policy")):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        aws = _as_list(principal.get("AWS")) if isinstance(principal, dict) else []
        conditions = {k.lower() for tests in (statement.get("Condition") or {}).values()
                      for k in tests}
        # The central bus admits a role's shape (the deployers) in named accounts alone
        shape_in_accounts = {"aws:principalarn"} <= conditions and \
            conditions & {"aws:principalaccount", "aws:principalorgid"}
        if (principal == "*" or "*" in aws) and not shape_in_accounts or \
                not conditions & _LIMITING_KEYS:
            report("the event bus admits a whole account or anyone: name the one role that "
                   "forwards to it (aws:PrincipalArn), or a role's shape in named accounts")


# --- the UI (Amplify) --------------------------------------------------------------------------

_HSTS = re.compile(r"max-age=(\d+)")
MIN_HSTS_SECONDS = 31_536_000  # a year


def _header(document, name):
    """The value of a header in an Amplify customHeaders document (JSON is YAML; ours is JSON),
    for the `**` pattern, or None."""
    for rule in _document(document).get("customHeaders", []):
        if rule.get("pattern") == "**":
            for header in rule.get("headers", []):
                if header.get("key", "").lower() == name.lower():
                    return header.get("value", "")
    return None


@_for_type("aws:amplify/app:App")
def _amplify(args, props, report):
    headers = props.get("customHeaders")
    hsts = _header(headers, "Strict-Transport-Security") or ""
    age = _HSTS.search(hsts)
    if not age or int(age.group(1)) < MIN_HSTS_SECONDS:
        report("no Strict-Transport-Security of at least a year on every path")
    csp = _header(headers, "Content-Security-Policy") or ""
    directives = {d.strip().split(" ")[0]: d.strip().split(" ")[1:]
                  for d in csp.split(";") if d.strip()}
    if "frame-ancestors" not in directives or "*" in directives["frame-ancestors"]:
        report("the Content-Security-Policy does not name who may frame the UI (frame-ancestors)")
    scripts = directives.get("script-src", directives.get("default-src", ["*"]))
    if any(s in scripts for s in ("*", "'unsafe-inline'", "'unsafe-eval'", "data:", "http:", "https:")):
        report(f"scripts may come from anywhere or inline: script-src {' '.join(scripts)}")
    for rule in props.get("customRules") or []:
        if str(rule.get("target", "")).startswith("http://"):
            report(f"{rule.get('source')} is forwarded without TLS to {rule.get('target')}")
    if props.get("repository") or props.get("oauthToken") or props.get("accessToken"):
        report("the app builds from a repository: the UI bundle must come from `pulumi up`")


# --- serving (issue 27) ---------------------------------------------------------------------

_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[^:]+:\d{12}:key/")
DEPLOYER_HANDLER = "deployer.handler.handler"


def _keys_of_the_stack(resources) -> set:
    return {r.props.get("arn") for r in resources
            if r.resource_type == "aws:kms/key:Key" and r.props.get("arn")}


def _endpoint_encryption(args, report):
    """Endpoint volumes: the team's own key. An endpoint config with instances (serverless
    has no volume of its own) names a key of this stack; the deployer, which makes the
    team's configs at run time, is given one."""
    keys = _keys_of_the_stack(args.resources)
    for r in args.resources:
        if r.resource_type == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
            instances = [v for v in r.props.get("productionVariants") or []
                         if not v.get("serverlessConfig")]
            key = r.props.get("kmsKeyArn")
            if instances and key not in keys:
                report(f"endpoint config {r.name} runs instances whose volumes are not "
                       f"encrypted with a key of this stack ({key or 'none'})", r.urn)
        elif r.resource_type == "aws:lambda/function:Function" and \
                r.props.get("handler") == DEPLOYER_HANDLER:
            variables = (r.props.get("environment") or {}).get("variables") or {}
            if variables.get("KMS_KEY_ARN") not in keys:
                report(f"deployer {r.name} is given no key of this stack for its endpoints' "
                       f"volumes (KMS_KEY_ARN {variables.get('KMS_KEY_ARN')!r})", r.urn)


_REGISTRY_OBJECTS = re.compile(r"^arn:aws[a-z-]*:s3:::[^/]+/registry/workspaces/(?P<team>[^/*]+)/\*$")
_BUCKET = re.compile(r"^arn:aws[a-z-]*:s3:::[^/]+$")


def _serving_role_reach(args, report):
    """A serving role (`mlflow-<team>-serving`, its endpoints' execution role) reads its own
    team's frozen copies and nothing else in S3: GetObject under registry/workspaces/<its
    mlflow-team tag>/, ListBucket only with an s3:prefix of the same; no write, no other
    object; the central key only through S3."""
    for role in args.resources:
        name = role.props.get("name") or ""
        if role.resource_type != "aws:iam/role:Role" or not name.endswith(SERVING_ROLE_SUFFIX):
            continue
        team = (role.props.get("tags") or {}).get("mlflow-team")
        if not team:
            report(f"serving role {name} carries no mlflow-team tag (the central bucket admits "
                   "a serving role by its team tag)", role.urn)
            continue
        ids = {role.props.get("id"), name}
        for policy in args.resources:
            if policy.resource_type != "aws:iam/rolePolicy:RolePolicy" or \
                    policy.props.get("role") not in ids:
                continue
            for statement in _statements(policy.props.get("policy")):
                if statement.get("Effect") != "Allow":
                    continue
                actions = _as_list(statement.get("Action"))
                resources = _as_list(statement.get("Resource"))
                s3 = [a for a in actions if a.lower().startswith("s3:") or a == "*"]
                for action in s3:
                    if action.lower() == "s3:listbucket":
                        prefixes = _as_list(((statement.get("Condition") or {})
                                             .get("StringLike") or {}).get("s3:prefix"))
                        if not prefixes or any(not p.startswith(
                                f"registry/workspaces/{team}/") for p in prefixes):
                            report(f"serving role {name} lists beyond "
                                   f"registry/workspaces/{team}/", policy.urn)
                    elif action.lower() != "s3:getobject":
                        report(f"serving role {name} may {action}: it only reads", policy.urn)
                    else:
                        for resource in resources:
                            match = _REGISTRY_OBJECTS.match(resource)
                            if not match or match["team"] != team:
                                report(f"serving role {name} reads {resource}: only "
                                       f"registry/workspaces/{team}/*", policy.urn)
                if any(a.lower().startswith("kms:") for a in actions):
                    via = ((statement.get("Condition") or {}).get("StringEquals") or {}).get(
                        "kms:ViaService", "")
                    if set(a.lower() for a in actions) != {"kms:decrypt"} or \
                            not str(via).startswith("s3."):
                        report(f"serving role {name} uses a key beyond decrypting through S3",
                               policy.urn)


_EVENT_BUS = re.compile(r"^arn:aws[a-z-]*:events:[^:]+:\d{12}:event-bus/(?P<name>.+)$")


def _event_targets(args, report):
    """An EventBridge rule delivers to what its own stack declares (a function, a queue or a
    log group of this stack), or forwards to a landing zone bus (another account's `mlflow-landing-zone`
    bus, the central rule per team); a function's permission for EventBridge names its rule."""
    declared = {r.props.get("arn") for r in args.resources
                if r.resource_type in ("aws:lambda/function:Function", "aws:sqs/queue:Queue",
                                       "aws:cloudwatch/logGroup:LogGroup")
                and r.props.get("arn")}
    for r in args.resources:
        if r.resource_type == "aws:cloudwatch/eventTarget:EventTarget":
            arn = r.props.get("arn")
            if not isinstance(arn, str):
                continue  # unknown at preview
            bus = _EVENT_BUS.match(arn)
            if bus and bus["name"] != EVENT_BUS_NAME:
                report(f"target {r.name} forwards to bus {bus['name']}, not a landing zone bus "
                       f"({EVENT_BUS_NAME})", r.urn)
            elif not bus and arn not in declared:
                report(f"target {r.name} delivers to {arn}, which this stack does not declare",
                       r.urn)
        elif r.resource_type == "aws:lambda/permission:Permission" and \
                r.props.get("principal") == "events.amazonaws.com" and \
                not r.props.get("sourceArn"):
            report(f"permission {r.name} lets any EventBridge rule invoke the function: name "
                   "the rule (source_arn)", r.urn)


def _protected(args, report):
    for resource in args.resources:
        if resource.resource_type in DATA_TYPES and not resource.opts.protect:
            report(f"{resource.resource_type.split(':')[-1]} {resource.name} is not protected")


POLICIES = [
    _policy("s3-public-access-blocked", "Every S3 public access block sets all four switches. "
            "Fix: blockPublicAcls, blockPublicPolicy, ignorePublicAcls and "
            "restrictPublicBuckets all true.", _public_access),
    StackValidationPolicy(
        name="s3-buckets-locked-down", enforcement_level=EnforcementLevel.MANDATORY,
        description="Every bucket has a public access block, versioning, KMS encryption "
        "(SSE-S3 only for a server-access-log target, which S3 requires) and a policy that "
        "denies requests without TLS. Fix: add the missing aws.s3.Bucket* resource, as "
        "components/artifact_store.py does.", validate=_buckets),
    _policy("rds-encrypted-and-protected", "Aurora clusters encrypt storage, keep deletion "
            "protection on, take a final snapshot and keep backups at least "
            "minBackupRetentionDays. Fix: storage_encrypted, deletion_protection, "
            "skip_final_snapshot=False, backup_retention_period.", _rds_cluster,
            schema=PolicyConfigSchema(properties={"minBackupRetentionDays": {
                "type": "integer", "default": 7}})),
    _policy("rds-not-public", "Database instances are not publicly accessible. Fix: "
            "publicly_accessible=False, private subnets.", _rds_instance),
    StackValidationPolicy(
        name="apigateway-methods-authorized", enforcement_level=EnforcementLevel.MANDATORY,
        description="Every method but OPTIONS has AWS_IAM or an authorizer, or answers itself "
        "(a MOCK integration, as GET / redirecting to the UI). Fix: authorization='AWS_IAM', "
        "or 'CUSTOM' with authorizer_id.", validate=_method_auth),
    StackValidationPolicy(
        name="apigateway-stage-refuses-other-sites", enforcement_level=EnforcementLevel.MANDATORY,
        description="Every API stage has a web ACL that blocks requests another site made a "
        "browser send (rules OtherSiteRequest and ForeignOrigin). Fix: the WebAcl component "
        "of components/web_acl.py on the stage.", validate=_stage_web_acl),
    StackValidationPolicy(
        name="apigateway-stage-edge-protection", enforcement_level=EnforcementLevel.ADVISORY,
        description="Advisory: every API stage's web ACL has a blocking rate-based rule and "
        "AWS managed rule groups (on by default; a stack may turn them off). Fix: "
        "api.waf.enabled true in the stack config (components/web_acl.py).",
        validate=_stage_edge_protection),
    _policy("apigateway-stage-access-logs", "Every stage writes a JSON access log. Fix: "
            "access_log_settings with a log group and spec.edge.access_log_format().",
            _stage_logging),
    _policy("apigateway-no-data-tracing", "Data tracing stays off: it logs bodies, tokens and "
            "secrets. Fix: method settings data_trace_enabled=False.", _data_tracing),
    _policy("iam-trust-narrow", "No trust policy admits * or a whole account without an "
            "aws:PrincipalArn or aws:PrincipalOrgID condition. Fix: name the account as principal "
            "and the role in a condition, as spec/accounts.py does.", _trust),
    _policy("iam-oidc-trust-narrow", "A role trusting an OIDC provider names the token's "
            "subject (`<host>:sub`, for GitHub one repository: repo:<owner>/<name>:...) and "
            "audience (`<host>:aud`). Fix: components/ci_access.py's github_trust_policy.",
            _oidc_trust),
    StackValidationPolicy(
        name="ci-preview-reads-no-data", enforcement_level=EnforcementLevel.MANDATORY,
        description="A role that pull requests' code assumes carries ViewOnlyAccess only, denies "
        "bucket listings and Cognito user listings, and allows nothing but pulling images. Fix: "
        "components/ci_access.py's preview_policy.", validate=_ci_preview_reads_no_data),
    StackValidationPolicy(
        name="ci-deploy-behind-an-environment", enforcement_level=EnforcementLevel.MANDATORY,
        description="Every other role a GitHub workflow assumes trusts only runs in a GitHub "
        "environment (its reviewers and its branch rule). Fix: components/ci_access.py's "
        "environment_subject.", validate=_ci_deploy_behind_an_environment),
    StackValidationPolicy(
        name="team-account-guard", enforcement_level=EnforcementLevel.MANDATORY,
        description="A team stack's approver and admin execution roles are guarded: a managed "
        "policy denies passing each to anyone not tagged with its level. Fix: "
        "components/datascience_account.py's level_guard.", validate=_team_account_guard),
    _policy("iam-no-star-star", "No policy allows every action on every resource. Fix: name "
            "the actions and resources.", lambda a, r: _star_star(a, r)),
    _policy("iam-whole-api-only-for-admin", "execute-api:Invoke on a whole API (*/*/*) only in "
            "an admin role's policy. Fix: use roles.iam_policy(level, api_arn) for the level.",
            lambda a, r: _whole_api(a, r)),
    _policy("cognito-closed-and-strong", "User pools have self sign-up off and a password policy "
            "of at least minPasswordLength characters with all four character classes. Fix: "
            "admin_create_user_config and password_policy as components/identity.py.", _cognito,
            schema=PolicyConfigSchema(properties={"minPasswordLength": {
                "type": "integer", "default": 14}})),
    _policy("cognito-mfa", "Advisory: MFA is available to users. Fix: mfa OPTIONAL or ON in the "
            "stack config.", _cognito_mfa, level=EnforcementLevel.ADVISORY),
    _policy("ecs-no-public-ip", "Fargate tasks get no public IP. Fix: assign_public_ip=False, "
            "private subnets.", _ecs_public_ip),
    _policy("ecs-secrets-not-in-environment", "No secret-looking variable (password, secret, "
            "token, key) in a container's plain environment. Fix: pass it as an ECS secret "
            "(valueFrom Secrets Manager).", _ecs_secrets),
    _policy("ecs-read-only-root", "Containers run with a read-only root file system "
            "(scratch space on a task volume). Fix: readonlyRootFilesystem and a mount for "
            "/tmp, as components/tracking_server.py.", _ecs_read_only_root),
    StackValidationPolicy(
        name="ec2-rules-described", enforcement_level=EnforcementLevel.MANDATORY,
        description="Every security group rule has a description. Fix: description=...",
        validate=_rule_descriptions),
    StackValidationPolicy(
        name="rds-logs-ddl-and-slow-statements", enforcement_level=EnforcementLevel.MANDATORY,
        description="Aurora PostgreSQL exports its log, with schema changes (log_statement) "
        "and slow statements (log_min_duration_statement). Fix: components/database.py's "
        "PARAMETERS.", validate=_database_logging),
    StackValidationPolicy(
        name="vpc-flow-logs", enforcement_level=EnforcementLevel.MANDATORY,
        description="A stack's VPC logs its flows. Fix: components/network.py's _flow_logs.",
        validate=_flow_logs),
    _policy("kms-explicit-key-policy", "Every KMS key has a policy of its own, not the "
            "default. Fix: customer_managed_key(..., policy=...).", _explicit_key_policy),
    StackValidationPolicy(
        name="waf-logging-redacted", enforcement_level=EnforcementLevel.MANDATORY,
        description="Every web ACL logs to a destination named aws-waf-logs-..., with the "
        "authorization and cookie headers redacted. Fix: components/web_acl.py's _logging.",
        validate=_waf_logging),
    _policy("cloudwatch-logs-encrypted", "Every log group is encrypted with a "
            "customer-managed KMS key. Fix: kms_key_id=the stack's logs key "
            "(components/logs_key.py).", _log_encryption),
    StackValidationPolicy(
        name="s3-lifecycle-aborts-incomplete-uploads",
        enforcement_level=EnforcementLevel.MANDATORY,
        description="Every bucket has a lifecycle rule that aborts incomplete multipart "
        "uploads. Fix: abort_incomplete_multipart_upload in its BucketLifecycleConfiguration, "
        "as components/artifact_store.py.", validate=_abort_incomplete_uploads),
    StackValidationPolicy(
        name="lambda-authorizer-reserved-concurrency",
        enforcement_level=EnforcementLevel.ADVISORY,
        description="Advisory: a Lambda authorizer has reserved concurrency (on by default; "
        "an account with a low Lambda limit turns it off). Fix: "
        "api.authorizerReservedConcurrency above 0.", validate=_authorizer_concurrency),
    _policy("iam-service-trust-source", "A role a service assumes names the account "
            "(aws:SourceAccount) or resources (aws:SourceArn) it acts for, but for the "
            "services that document no such key (SERVICES_WITHOUT_SOURCE_KEYS). Fix: "
            "components/_util.py's assume_role_policy(service, account_id, source_arn).",
            _service_trust_source),
    _policy("mlflow-cors-origin-exact", "MLflow's container admits browser writes from the "
            "UI's https origin exactly (MLFLOW_SERVER_CORS_ALLOWED_ORIGINS), never '*': without "
            "it every browser write is refused, with '*' another site's page may write. Fix: "
            "TrackingServerArgs(ui_url=...), as components/central_account.py passes it.",
            _mlflow_cors),
    _policy("ec2-no-address-range-ingress", "Security groups admit other security groups, "
            "never address ranges (a VPC's CIDR admits everything in it), but on HTTPS (443: "
            "the interface endpoints of AWS's APIs). Fix: "
            "referenced_security_group_id, as the tracking server admits only its NLB.",
            _no_range_ingress),
    _policy("ec2-no-address-range-ingress-rule", "Ingress rules name a security group, never "
            "an address range, but on HTTPS (443). Fix: referenced_security_group_id.",
            _no_range_ingress_rule),
    _policy("lambda-supported-python", "Lambda functions run a supported Python runtime. Fix: "
            "runtime one of lambdaPythonRuntimes.", _lambda_runtime,
            schema=PolicyConfigSchema(properties={"lambdaPythonRuntimes": {
                "type": "array", "items": {"type": "string"},
                "default": DEFAULTS["lambdaPythonRuntimes"]}})),
    StackValidationPolicy(
        name="cloudwatch-alarms-present", enforcement_level=EnforcementLevel.MANDATORY,
        description="The central stack alarms on the API's 5xx and 4xx rates and p99 latency, "
        "the authorizer's own failures (a metric of its log lines) and throttles, running tasks, the server's CPU and memory, "
        "Aurora's capacity and connections, and every alarm notifies a topic. Fix: the "
        "Monitoring component of components/monitoring.py.", validate=_alarms),
    _policy("cloudwatch-log-retention", "Every log group has a retention period. Fix: "
            "retention_in_days.", _log_retention),
    StackValidationPolicy(
        name="event-targets-least-privilege", enforcement_level=EnforcementLevel.MANDATORY,
        description="A rule that forwards to an event bus (a team's account, a security "
        "account) puts with a role of its own that may events:PutEvents on that bus alone. "
        "Fix: components/registry_events.py's forward role.", validate=_forward_targets),
    _policy("event-bus-admits-one-forwarder", "An event bus's policy admits one named "
            "principal (aws:PrincipalArn), or one role's shape in named accounts (the central "
            "bus: the team deployers), never a whole account or anyone. Fix: "
            "spec.registry_events.team_bus_policy, central_bus_policy.", _event_bus_policy),
    _policy("amplify-ui-hardened", "Amplify apps send HSTS (a year or more) and a "
            "Content-Security-Policy that names frame-ancestors and allows no inline or foreign "
            "scripts; forward only over TLS; build from no repository. Fix: the headers and "
            "rewrites of ui/hosting.py, as components/user_interface.py sets them.", _amplify),
    StackValidationPolicy(
        name="sagemaker-endpoints-encrypted", enforcement_level=EnforcementLevel.MANDATORY,
        description="Endpoint configurations with instances encrypt their volumes with a key "
        "of the stack, and the team's deployer is given one (serverless endpoints have no "
        "volume of their own). Fix: kms_key_arn, as components/serving.py passes KMS_KEY_ARN.",
        validate=_endpoint_encryption),
    StackValidationPolicy(
        name="serving-role-reads-only-its-teams-registry",
        enforcement_level=EnforcementLevel.MANDATORY,
        description="A team's serving role (mlflow-<team>-serving) carries its mlflow-team tag "
        "and reads only registry/workspaces/<team>/ of the central bucket (GetObject; "
        "ListBucket with that s3:prefix; the key only to decrypt through S3). Fix: "
        "spec/serving.py's serving_role_policy.", validate=_serving_role_reach),
    StackValidationPolicy(
        name="event-targets-own-or-landing-zone-bus",
        enforcement_level=EnforcementLevel.MANDATORY,
        description="EventBridge rules deliver to functions or queues of their own stack, or "
        "forward to a landing zone bus (mlflow-landing-zone); EventBridge's permission to "
        "invoke a function names its rule. Fix: as components/serving.py's rules.",
        validate=_event_targets),
    StackValidationPolicy(
        name="data-resources-protected", enforcement_level=EnforcementLevel.MANDATORY,
        description="Buckets, KMS keys, database clusters and user pools are protected from "
        "deletion. Fix: protect=True (the stacks' `protect: true`); rename with aliases.",
        validate=_protected),
]
