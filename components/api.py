"""The edge: a regional REST API in front of the tracking server's NLB (VPC link, HTTP_PROXY).

Every team's `/<team>/*` (one `/{workspace}/{proxy+}` resource) takes SigV4 (AWS_IAM) for its
SDKs and SageMaker jobs, in the workspace its path names (`/api/*` likewise, for the platform,
in `default`); MLflow's other paths take a Cognito token checked by the Lambda authorizer, which
decides per (token, workspace); `GET /` and `GET /<team>` send a browser to the UI. Routes,
authorization types and the headers each integration sets come from `spec.edge`, the
definition the sandbox's gateway uses too; none of them grows with the number of teams.
"""

import hashlib
import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from authorizer.build import HANDLER
from spec.edge import (
    AUTHORIZER_CACHE_TTL_ENV,
    AUTHORIZER_LEEWAY_ENV,
    BINARY_MEDIA_TYPES,
    CUSTOM,
    GATEWAY_RESPONSES,
    IDENTITY_SOURCE_HEADERS,
    INTEGRATION_TIMEOUT_MS,
    STAGE,
    TEAM_BASE_RESOURCE,
    TEAM_ROUTE,
    TOKEN_LEEWAY_SECONDS,
    access_log_format,
    edge_routes,
    gateway_response_template,
    integration_header_sources,
    resource_policy,
)

from ._util import assume_role_policy, child, policy_json, type_token

AUTHORIZER_RUNTIME = "python3.12"
AUTHORIZER_ARCH = "arm64"


@dataclass
class ApiArgs:
    account_id: str
    region: str
    nlb_arn: pulumi.Input[str]
    nlb_dns_name: pulumi.Input[str]
    # authorizer.build.build_archive(...) as a FileArchive: the handler with its data (the
    # policy rules and the teams' workspaces, read at cold start: not in its environment)
    authorizer_code: pulumi.Archive
    user_pool_id: pulumi.Input[str]
    app_client_ids: pulumi.Input[list]
    group_levels: dict
    # {team: [teams it is shared with]}: the teams' workspaces (spec.config.workspaces)
    workspaces: dict
    # The UI's address, where `GET /` sends a browser (a stage variable: the UI is created
    # after the API, from the API's address)
    ui_url: pulumi.Input[str]
    authorizer_cache_ttl: int
    platform_contact: str  # whom a refused user should ask (every 403 says)
    cloudwatch_role: str  # or "existing": the account setting is another's
    throttle_rate_limit: float  # every method's, per second (API Gateway: each on its own)
    throttle_burst_limit: int
    # the teams' one SigV4 method, shared by every team's SDKs and jobs
    teams_throttle_rate_limit: float
    teams_throttle_burst_limit: int
    log_retention_days: int
    logs_key_arn: pulumi.Input[str] = None  # the stack's logs key (components/logs_key.py)
    # Lambda concurrency held for the authorizer, and its ceiling (api.authorizerReserved
    # Concurrency); None: none reserved, it shares the account's pool
    authorizer_reserved_concurrency: int = None


def _slug(resource: str) -> str:
    """A resource path as part of a child's name: `/api/{proxy+}` -> `api-proxy`,
    `/{workspace}/{proxy+}` -> `workspace-proxy`."""
    return re.sub(r"[{}+]", "", resource.strip("/")).replace("/", "-") or "root"


def invoke_url(rest_api_id: pulumi.Input[str], region: str) -> pulumi.Output:
    """The stage's address, known as soon as the REST API exists (before its stage)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return pulumi.Output.concat("https://", rest_api_id, f".execute-api.{region}.{suffix}/{STAGE}")


def identity_source() -> str:
    """The authorizer's identity source: the headers whose values key its cached result."""
    return ",".join(f"method.request.header.{h}" for h in IDENTITY_SOURCE_HEADERS)


# `GET /` and `GET /<team>` answer themselves (a MOCK integration): 302 to the stage's uiUrl
REDIRECT_STATUS = "302"
REDIRECT_REQUEST_TEMPLATES = {"application/json": '{"statusCode": 302}'}
REDIRECT_RESPONSE_PARAMETERS = {"method.response.header.Location": "stageVariables.uiUrl"}


def integration_headers(route) -> dict:
    """Every identity header and the workspace header, set on every integration."""
    return {f"integration.request.header.{header}": source
            for header, source in integration_header_sources(route).items()}


class Api(pulumi.ComponentResource):
    url: pulumi.Output
    api_arn: pulumi.Output  # arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE
    rest_api_id: pulumi.Output

    def __init__(self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("api", "Api"), name, None, opts)
        routes = edge_routes()
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-api",
            description="MLflow: SigV4 on /api/* and /<team>/*, Cognito tokens elsewhere",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"),
            binary_media_types=list(BINARY_MEDIA_TYPES),
            opts=child(self))
        self.policy = aws.apigateway.RestApiPolicy(
            f"{name}-policy", rest_api_id=self.rest_api.id,
            policy=self.rest_api.execution_arn.apply(
                lambda arn: json.dumps(resource_policy(arn, args.account_id))),
            opts=child(self))
        self.vpc_link = aws.apigateway.VpcLink(
            f"{name}-link", target_arn=args.nlb_arn, opts=child(self))

        self._lambda_authorizer(name, args)
        self._routes(name, args, routes)
        self._logging(name, args)
        # Refusals in MLflow's error shape (spec.edge), so the UI shows why in the page.
        self.gateway_responses = [
            aws.apigateway.Response(
                f"{name}-{response_type.lower().replace('_', '-')}",
                rest_api_id=self.rest_api.id,
                response_type=response_type,
                status_code=str(status),
                response_templates={"application/json": gateway_response_template(
                    response_type, args.platform_contact)},
                opts=child(self))
            for response_type, (status, _) in GATEWAY_RESPONSES.items()
        ]

        self._deploy(name, args, routes)

        self.url = self.stage.invoke_url
        self.base_url = invoke_url(self.rest_api.id, args.region)  # the same, without the stage
        self.stage_arn = self.stage.arn
        self.rest_api_id = self.rest_api.id
        self.api_arn = pulumi.Output.concat(self.rest_api.execution_arn, "/", STAGE)
        self.register_outputs({"url": self.url, "api_arn": self.api_arn})

    def _lambda_authorizer(self, name: str, args: ApiArgs):
        """The Lambda authorizer (REQUEST, per token and workspace), its role, logs and the
        permission for this API to call it."""
        function_name = f"{name}-authorizer"
        self.authorizer_logs = aws.cloudwatch.LogGroup(
            f"{name}-authorizer-logs", name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days, kms_key_id=args.logs_key_arn,
            opts=child(self))
        # No aws:SourceAccount here: Lambda documents neither it nor aws:SourceArn as set when
        # it assumes an execution role, and a condition on a key it does not send would keep
        # the function from running (docs/security.md, "Service trusts").
        self.authorizer_role = aws.iam.Role(
            f"{name}-authorizer", assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-authorizer-logs", role=self.authorizer_role.id,
            policy=policy_json([{"Effect": "Allow",
                                 "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                 "Resource": pulumi.Output.concat(self.authorizer_logs.arn, ":*")}]),
            opts=child(self))
        self.authorizer_function = aws.lambda_.Function(
            f"{name}-authorizer",
            name=function_name,
            runtime=AUTHORIZER_RUNTIME,
            architectures=[AUTHORIZER_ARCH],
            handler=HANDLER,
            code=args.authorizer_code,
            role=self.authorizer_role.arn,
            memory_size=512,
            timeout=5,
            reserved_concurrent_executions=args.authorizer_reserved_concurrency,
            # constant-size settings only (4 KB in all): the teams' data is in the archive
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={
                "USER_POOL_ID": args.user_pool_id,
                "APP_CLIENT_IDS": pulumi.Output.from_input(args.app_client_ids).apply(",".join),
                "TOKEN_USE": "id",
                "GROUP_LEVELS": json.dumps(args.group_levels, sort_keys=True),
                # a token must outlive its cached policy (spec.edge, the session's timing)
                AUTHORIZER_CACHE_TTL_ENV: str(args.authorizer_cache_ttl),
                AUTHORIZER_LEEWAY_ENV: str(TOKEN_LEEWAY_SECONDS),
            }),
            opts=child(self, depends_on=[self.authorizer_logs]))
        self.authorizer = aws.apigateway.Authorizer(
            f"{name}-authorizer",
            rest_api=self.rest_api.id,
            type="REQUEST",
            authorizer_uri=self.authorizer_function.invoke_arn,
            identity_source=identity_source(),
            authorizer_result_ttl_in_seconds=args.authorizer_cache_ttl,
            opts=child(self))
        aws.lambda_.Permission(
            f"{name}-authorizer",
            action="lambda:InvokeFunction",
            function=self.authorizer_function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(self.rest_api.execution_arn, "/authorizers/",
                                            self.authorizer.id),
            opts=child(self))


    def _routes(self, name: str, args: ApiArgs, routes):
        """Resources, methods and integrations, from the shared edge definition
        (spec.edge), and the redirects of the root and the teams' base path."""
        resources = {"/": self.rest_api.root_resource_id}

        def resource_of(path: str):
            if path not in resources:
                parent_path, _, part = path.rpartition("/")
                # Upgrading from the root's `{proxy+}` (one resource tree per team before):
                # API Gateway allows one path variable among siblings, so the old one goes
                # before `{workspace}` comes (docs/operations.md, "Upgrading to one resource
                # for every team").
                upgrade = dict(aliases=[pulumi.Alias(name=f"{name}-res-proxy")],
                               delete_before_replace=True) if path == TEAM_BASE_RESOURCE else {}
                resources[path] = aws.apigateway.Resource(
                    f"{name}-res-{_slug(path)}", rest_api=self.rest_api.id,
                    parent_id=resource_of(parent_path or "/"), path_part=part,
                    opts=child(self, **upgrade)).id
            return resources[path]

        self.methods, self.integrations = [], []
        for route in routes:
            method = aws.apigateway.Method(
                f"{name}-any-{_slug(route.resource)}",
                rest_api=self.rest_api.id,
                resource_id=resource_of(route.resource),
                http_method="ANY",
                authorization=route.authorization,
                authorizer_id=self.authorizer.id if route.authorization == CUSTOM else None,
                request_parameters={f"method.request.path.{p}": True
                                    for p in route.path_parameters} or None,
                opts=child(self))
            params = integration_headers(route)
            if "proxy" in route.path_parameters:
                params["integration.request.path.proxy"] = "method.request.path.proxy"
            integration = aws.apigateway.Integration(
                f"{name}-to-mlflow-{_slug(route.resource)}",
                rest_api=self.rest_api.id,
                resource_id=resource_of(route.resource),
                http_method=method.http_method,
                type="HTTP_PROXY",
                integration_http_method="ANY",
                # a team's base path is the API's, not MLflow's (spec.edge EdgeRoute.target)
                uri=pulumi.Output.concat("http://", args.nlb_dns_name, route.target),
                connection_type="VPC_LINK",
                connection_id=self.vpc_link.id,
                request_parameters=params,
                timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
                opts=child(self))
            self.methods.append(method)
            self.integrations.append(integration)
        self.redirect = self._ui_redirect(name, "root", resources["/"])
        # a printed link to any team's base URL lands in the UI too: one method for all
        self.redirect += self._ui_redirect(name, "workspace", resource_of(TEAM_BASE_RESOURCE))


    def _logging(self, name: str, args: ApiArgs):
        """The stage's access log group, and API Gateway's CloudWatch role for the account."""
        # API Gateway needs an account-level role to write logs to CloudWatch: one setting per
        # account and region. Created here unless another stack owns it (api.cloudWatchRole:
        # existing), whose role this stack must not replace.
        # All three outlive this stack: deleting the Account resource resets the region's
        # setting (Terraform AWS v6 on), and deleting the role breaks it, so a destroy, or a
        # switch to `existing`, would stop every other REST API here from logging.
        self.account = None
        if args.cloudwatch_role == "create":
            kept = child(self, retain_on_delete=True)
            # No aws:SourceAccount: API Gateway documents no source key for the account's
            # CloudWatch role (docs/security.md, "Service trusts").
            self.cloudwatch_role = aws.iam.Role(
                f"{name}-cloudwatch",
                assume_role_policy=assume_role_policy("apigateway.amazonaws.com"),
                opts=kept)
            aws.iam.RolePolicyAttachment(
                f"{name}-cloudwatch", role=self.cloudwatch_role.name,
                policy_arn="arn:aws:iam::aws:policy/service-role/"
                           "AmazonAPIGatewayPushToCloudWatchLogs",
                opts=kept)
            self.account = aws.apigateway.Account(
                f"{name}-account", cloudwatch_role_arn=self.cloudwatch_role.arn, opts=kept)
        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs", retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn, opts=child(self))


    def _deploy(self, name: str, args: ApiArgs, routes):
        """The deployment, re-made whenever what it serves changes, and its stage."""
        # A new deployment whenever a route, integration, authorizer or the policy changes:
        # every setting the stage serves, not only the ids of what is replaced (a resource
        # updated in place keeps its id, and the stage would keep serving the old setting).
        fingerprint = pulumi.Output.json_dumps({
            "routes": [[r.resource, r.authorization, r.workspace, r.target] for r in routes],
            "headers": [integration_header_sources(r) for r in routes],
            "timeout": INTEGRATION_TIMEOUT_MS,
            "methods": [m.id for m in self.methods],
            "redirect": [r.id for r in self.redirect],
            "integrations": [i.id for i in self.integrations],
            "uri": args.nlb_dns_name,
            "authorizer": [self.authorizer.id, args.authorizer_cache_ttl, identity_source()],
            # the redirects' MOCK integrations change in place: their ids alone would not say
            "redirects": [REDIRECT_STATUS, REDIRECT_REQUEST_TEMPLATES,
                          REDIRECT_RESPONSE_PARAMETERS],
            "policy": self.policy.policy,
            "responses": {t: [status, gateway_response_template(t, args.platform_contact)]
                          for t, (status, _) in GATEWAY_RESPONSES.items()},
            "binaryMediaTypes": list(BINARY_MEDIA_TYPES),
        }).apply(lambda text: hashlib.sha256(text.encode()).hexdigest())
        self.deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            triggers={"redeployment": fingerprint},
            opts=child(self, depends_on=self.methods + self.integrations + self.redirect
                       + [self.policy] + self.gateway_responses))
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=STAGE,
            variables={"uiUrl": pulumi.Output.concat(args.ui_url, "/")},
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=self.access_logs.arn, format=access_log_format()),
            opts=child(self, depends_on=[self.account] if self.account else []))
        def settings(suffix, method_path, rate, burst):
            return aws.apigateway.MethodSettings(
                f"{name}-settings{suffix}",
                rest_api=self.rest_api.id,
                stage_name=self.stage.stage_name,
                method_path=method_path,
                settings=aws.apigateway.MethodSettingsSettingsArgs(
                    metrics_enabled=True,
                    logging_level="ERROR",
                    data_trace_enabled=False,  # would log request bodies: tokens, params, secrets
                    throttling_rate_limit=rate,
                    throttling_burst_limit=burst),
                opts=child(self))

        # API Gateway throttles each method on its own, every one at the stage's default...
        self.method_settings = settings("", "*/*", args.throttle_rate_limit,
                                        args.throttle_burst_limit)
        # ... but all teams' SDKs and jobs share one method (spec.edge TEAM_ROUTE): its own
        # allowance, sized for them together (api.teamsThrottleRateLimit)
        self.teams_method_settings = settings(
            "-teams", f"{TEAM_ROUTE.resource.lstrip('/')}/ANY", args.teams_throttle_rate_limit,
            args.teams_throttle_burst_limit)

    def _ui_redirect(self, name: str, slug: str, resource_id) -> list:
        """`GET` on the root or a team's base path (spec.edge.is_ui_redirect_path) answers 302
        to the UI itself (a MOCK integration): no authorizer, and nothing reaches MLflow."""
        method = aws.apigateway.Method(
            f"{name}-get-{slug}", rest_api=self.rest_api.id, resource_id=resource_id,
            http_method="GET", authorization="NONE", opts=child(self))
        integration = aws.apigateway.Integration(
            f"{name}-to-ui-{slug}", rest_api=self.rest_api.id, resource_id=resource_id,
            http_method=method.http_method, type="MOCK",
            request_templates=dict(REDIRECT_REQUEST_TEMPLATES),
            opts=child(self))
        response = aws.apigateway.MethodResponse(
            f"{name}-get-{slug}-302", rest_api=self.rest_api.id, resource_id=resource_id,
            http_method=method.http_method, status_code=REDIRECT_STATUS,
            response_parameters={k: True for k in REDIRECT_RESPONSE_PARAMETERS},
            opts=child(self))
        mapping = aws.apigateway.IntegrationResponse(
            f"{name}-to-ui-{slug}-302", rest_api=self.rest_api.id, resource_id=resource_id,
            http_method=method.http_method, status_code=response.status_code,
            response_parameters=dict(REDIRECT_RESPONSE_PARAMETERS),
            opts=child(self, depends_on=[integration]))
        return [method, integration, response, mapping]
