"""The edge: the REST API's routes, who authorizes each, and what the API passes on.

One definition for the API component (`components/api.py`) and the sandbox's local gateway,
so the two cannot drift.
"""

from dataclasses import dataclass

AWS_IAM = "AWS_IAM"  # SigV4: SDKs and SageMaker jobs, with the central access roles
CUSTOM = "CUSTOM"  # the Lambda authorizer: browsers and Cognito tokens


@dataclass(frozen=True)
class EdgeRoute:
    resource: str  # the API Gateway resource path
    authorization: str


# API Gateway matches the most specific resource: `/api` and everything below it take SigV4,
# everything else (the UI, /ajax-api, /graphql, /get-artifact, /gateway, /v1/traces) a token.
EDGE_ROUTES = (
    EdgeRoute("/", CUSTOM),
    EdgeRoute("/{proxy+}", CUSTOM),
    EdgeRoute("/api", AWS_IAM),
    EdgeRoute("/api/{proxy+}", AWS_IAM),
)


def edge_route(path: str) -> EdgeRoute:
    """The resource API Gateway would pick for a request path."""
    if path == "/api" or path.startswith("/api/"):
        return EDGE_ROUTES[3] if path.startswith("/api/") else EDGE_ROUTES[2]
    return EDGE_ROUTES[0] if path == "/" else EDGE_ROUTES[1]


# Headers the integration sets from API Gateway's context, overwriting whatever a client sent,
# so MLflow (and its logs) learn who called. Keyed by authorization type.
IDENTITY_HEADERS = {
    AWS_IAM: {"X-MLflow-Caller-Arn": "context.identity.userArn"},
    CUSTOM: {
        "X-MLflow-User": "context.authorizer.username",
        "X-MLflow-Levels": "context.authorizer.levels",
    },
}
FORWARDED_IDENTITY_HEADERS = tuple(
    sorted({h for headers in IDENTITY_HEADERS.values() for h in headers})
)

# The stage's JSON access-log line: API Gateway's $context variables, one line per request.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.userArn",
    "user": "$context.authorizer.username",
    "levels": "$context.authorizer.levels",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "error": "$context.error.message",
}


def access_log_format() -> str:
    """The `accessLogSettings.format` string: a JSON object of $context variables."""
    return "{" + ",".join(f'"{k}":"{v}"' for k, v in ACCESS_LOG_FIELDS.items()) + "}"


# API Gateway's own answers when it refuses a request, rewritten (gateway responses) into
# MLflow's error shape, so that MLflow's UI shows the reason in the page and MLflow's client
# raises it with a code, instead of "Request Failed". The message is API Gateway's own
# ($context.error.messageString is JSON-quoted, so any text stays valid JSON).
GATEWAY_RESPONSES = {
    # response type: (status, MLflow error code)
    "ACCESS_DENIED": (403, "PERMISSION_DENIED"),
    "UNAUTHORIZED": (401, "UNAUTHENTICATED"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "UNAUTHENTICATED"),
    "INVALID_SIGNATURE": (403, "UNAUTHENTICATED"),
    "EXPIRED_TOKEN": (403, "UNAUTHENTICATED"),
}


def gateway_response_template(response_type: str) -> str:
    """The `application/json` template of a gateway response."""
    _, code = GATEWAY_RESPONSES[response_type]
    return '{"error_code":"' + code + '","message":$context.error.messageString}'


def gateway_response_body(response_type: str, message: str) -> dict:
    """What the template renders to for `message` (the sandbox's gateway sends this)."""
    _, code = GATEWAY_RESPONSES[response_type]
    return {"error_code": code, "message": message}


MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # REST API request and response limit
INTEGRATION_TIMEOUT_MS = 29_000
DEFAULT_AUTHORIZER_TTL_SECONDS = 300
IDENTITY_SOURCE_HEADER = "Authorization"
# Everything passes through as bytes, so artifacts download intact through HTTP_PROXY.
BINARY_MEDIA_TYPES = ("*/*",)


def resource_policy(execution_arn: str, account_id: str) -> dict:
    """The API's resource policy: `/api/*` only for principals of the central account.

    Deliberately no Allow statement. API Gateway decides a same-account request by its
    authorization (IAM identity policy or Lambda authorizer policy) together with this policy,
    and an Allow here would grant what those leave unsaid: with "Allow *", any principal of the
    account, and any token whose policy stays silent on a route, would get in. Only an explicit
    Deny is wanted: SigV4 callers from other accounts (a team role that did not assume its
    central role) never reach MLflow.
    """
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "SigV4OnlyFromThisAccount", "Effect": "Deny", "Principal": "*",
         "Action": "execute-api:Invoke",
         "Resource": [f"{execution_arn}/*/*/api", f"{execution_arn}/*/*/api/*"],
         "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account_id}}},
    ]}
