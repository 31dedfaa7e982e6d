"""The edge: the REST API's routes, who authorizes each, and what the API passes on.

One definition for the API component (`components/api.py`) and the sandbox's local gateway,
so the two cannot drift.
"""

import json
import re
from dataclasses import dataclass

from roles.catalogue import SDK_PREFIX, under

# The REST API's one stage: `<apiUrl>` is https://<id>.execute-api.<region>.amazonaws.com/prod
STAGE = "prod"
API_ID_LENGTH = 10  # API Gateway's ids are 10 characters


def sample_api_arn(region: str, account_id: str) -> str:
    """An API ARN of the real one's length, known before the API exists: the managed policies
    are planned (and their count checked) against it, and cut again for the real ARN."""
    return f"arn:aws:execute-api:{region}:{account_id}:{'x' * API_ID_LENGTH}/{STAGE}"


AWS_IAM = "AWS_IAM"  # SigV4: SDKs and SageMaker jobs, with the central access roles
CUSTOM = "CUSTOM"  # the Lambda authorizer: browsers and Cognito tokens


@dataclass(frozen=True)
class EdgeRoute:
    resource: str  # the API Gateway resource path
    authorization: str
    # Where the integration takes the MLflow workspace (X-MLFLOW-WORKSPACE) from, as an API
    # Gateway source: the path's first segment on the teams' SigV4 resource; None where the
    # authorizer decides it (browsers) or on the platform's own SigV4 door (`/api`: `default`).
    workspace: str = None

    @property
    def path_parameters(self) -> tuple:
        """The resource's path variables, in order (`workspace`, `proxy`)."""
        return tuple(re.findall(r"\{(\w+)\+?\}", self.resource))

    @property
    def target(self) -> str:
        """The path the integration sends to MLflow (`{proxy}` filled in): the resource's own,
        but below a team's base path on the teams' resource."""
        return "/{proxy}" if self.workspace else self.resource.replace("{proxy+}", "{proxy}")

    def target_path(self, parameters: dict) -> str:
        """`target` for a request's path parameters (what API Gateway sends on)."""
        return self.target.replace("{proxy}", parameters.get("proxy", ""))


# --- workspaces: one per team (MLflow's `--enable-workspaces`) ---------------------------------
# MLflow picks a request's workspace from this header (absent: `default`). The edge decides it
# from who calls, never from what the client claims: every integration sets it (below).
WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"
DEFAULT_WORKSPACE = "default"  # reachable by platform admins only

# The API's resources do not grow with the number of teams (300 per API by default):
# - `/api` and `/api/{proxy+}` take SigV4: the platform's door to the `default` workspace.
# - MLflow's other top-level path segments (`/ajax-api`, `/graphql`, `/get-artifact`,
#   `/gateway`, `/v1`, ...: the route catalogue's, so a new MLflow route finds its resource)
#   each have a literal resource and its `{proxy+}`, for a Cognito token (the authorizer).
# - `/{workspace}/{proxy+}` takes SigV4 for every team: its SDK callers' base URL,
#   `<api>/<team>`, under which every path MLflow's client calls (/api/..., /version,
#   /v1/traces, /gateway/..., /get-artifact) is reachable, in the team's workspace: the
#   integration maps the path's first segment to X-MLFLOW-WORKSPACE. Which workspaces a caller
#   reaches is the IAM policies' to say: execute-api ARNs carry the real path
#   (`.../POST/team-a/api/2.0/...`), and a team role's policy allows only its own and the
#   shared workspaces' paths; a name no team has is allowed to nobody, and MLflow refuses a
#   workspace it does not know (RESOURCE_DOES_NOT_EXIST).
# - `GET /` and `GET /{workspace}` send a browser to the UI (below).
# API Gateway picks a literal resource over the path variable beside it; it allows only one
# path variable among siblings, which is why the browser's resources are literal rather than
# one root `{proxy+}`. A team may not take a literal's name (reserved_team_names).
SDK_ROOT_ROUTE = EdgeRoute(SDK_PREFIX, AWS_IAM)
SDK_ROUTE = EdgeRoute(f"{SDK_PREFIX}/{{proxy+}}", AWS_IAM)
WORKSPACE_PARAMETER = "workspace"
TEAM_ROUTE = EdgeRoute(f"/{{{WORKSPACE_PARAMETER}}}/{{proxy+}}", AWS_IAM,
                       f"method.request.path.{WORKSPACE_PARAMETER}")
TEAM_BASE_RESOURCE = f"/{{{WORKSPACE_PARAMETER}}}"


def _catalogue_segments() -> frozenset:
    """The first path segments of MLflow's routes (the catalogue), `""` for the root."""
    from roles.catalogue import CATALOGUE

    return frozenset(r.path.split("/")[1] for r in CATALOGUE)


def is_sigv4_path(path: str) -> bool:
    """Whether API Gateway takes `path` (at the API's root) with SigV4: MLflow's SDK prefix."""
    return under(SDK_PREFIX, path)


# Every literal top-level segment of the API: the browser's, and the SDK's `api`.
BROWSER_SEGMENTS = tuple(sorted(
    s for s in _catalogue_segments() | {"ajax-api"}
    if s and "{" not in s and not is_sigv4_path(f"/{s}")))
LITERAL_SEGMENTS = frozenset(BROWSER_SEGMENTS) | {SDK_PREFIX.strip("/")}
BROWSER_ROUTES = tuple(EdgeRoute(resource, CUSTOM) for s in BROWSER_SEGMENTS
                       for resource in (f"/{s}", f"/{s}/{{proxy+}}"))
EDGE_ROUTES = BROWSER_ROUTES + (SDK_ROOT_ROUTE, SDK_ROUTE, TEAM_ROUTE)
_BY_RESOURCE = {r.resource: r for r in EDGE_ROUTES}


def edge_routes() -> tuple:
    """Every proxied resource of the API: the same for any number of teams."""
    return EDGE_ROUTES


def edge_resources() -> tuple:
    """Every resource path the API creates below its root (API Gateway allows 300 per API;
    the scale benchmark reads this): each route's and its parents'."""
    paths = set()
    for route in EDGE_ROUTES:
        parts = route.resource.strip("/").split("/")
        paths.update("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return tuple(sorted(paths))


def edge_methods() -> tuple:
    """(method, resource path) of every method: each route's ANY, and the redirects' GET."""
    return tuple(("ANY", r.resource) for r in EDGE_ROUTES) + (
        ("GET", UI_REDIRECT_PATH), ("GET", TEAM_BASE_RESOURCE))


def team_base_path(team: str) -> str:
    """What a team's SDK callers append to the API's URL (MLFLOW_TRACKING_URI)."""
    return f"/{team}"


def reserved_team_names() -> frozenset:
    """Names a team may not take: MLflow's own top-level path segments (the API's literal
    resources, which take precedence over a team's) and the `default` workspace."""
    return frozenset(LITERAL_SEGMENTS) | {DEFAULT_WORKSPACE}


# MLflow's client prints "View run ... at: <tracking URI>/#/experiments/...?workspace=<team>":
# the API's address, or a team's base URL. A browser that opens it is sent to the UI (302);
# the fragment, MLflow's route with its workspace, survives the redirect, and the sign-in
# shell opens MLflow's page there. No authorization: the UI's address is no secret, and
# nothing reaches MLflow. One method on `/{workspace}` serves every team's base URL, so a
# name no team has is sent to the UI too (where the sign-in shell shows the user's own).
UI_REDIRECT_PATH = "/"


def _split(path: str):
    """(first segment, the rest after its slash or None) of an absolute path."""
    first, slash, rest = path[1:].partition("/")
    return first, (rest if slash else None)


def is_ui_redirect_path(path: str) -> bool:
    """Whether `path` is the root's or a team base path's resource (with or without its
    trailing slash, as a printed link has it): the paths whose GET is the redirect."""
    if path == UI_REDIRECT_PATH:
        return True
    first, rest = _split(path)
    return bool(first) and rest in (None, "") and first not in LITERAL_SEGMENTS


def is_ui_redirect(method: str, path: str) -> bool:
    return method == "GET" and is_ui_redirect_path(path)


def match_route(path: str):
    """(route, path parameters) of the resource API Gateway picks for a request path, or
    None where no proxied resource takes it (the redirects' resources, whose only method is
    GET, and an empty first segment)."""
    if is_ui_redirect_path(path):
        return None
    first, rest = _split(path)
    if first in LITERAL_SEGMENTS:
        if rest is None:
            return _BY_RESOURCE[f"/{first}"], {}
        return _BY_RESOURCE[f"/{first}/{{proxy+}}"], {"proxy": rest}
    if not first:
        return None
    return TEAM_ROUTE, {WORKSPACE_PARAMETER: first, "proxy": rest}


# Headers the integration sets, overwriting whatever a client sent, so MLflow (and its logs)
# learn who called and in which workspace. Every integration sets every one of them: the other
# channel's identity headers to NOT_THIS_CHANNEL, so no client can pass one through. Values are
# API Gateway's request-parameter sources: `context....`, `method.request.path....` (the
# teams' resource names its workspace by its path) or a 'static' value.
CALLER_ARN_HEADER = "X-MLflow-Caller-Arn"
USER_HEADER = "X-MLflow-User"
LEVELS_HEADER = "X-MLflow-Levels"
IDENTITY_HEADER_NAMES = (CALLER_ARN_HEADER, USER_HEADER, LEVELS_HEADER)
NOT_THIS_CHANNEL = "-"


def integration_header_sources(route: EdgeRoute) -> dict:
    """{header: API Gateway source} for a proxied resource's integration."""
    blank = f"'{NOT_THIS_CHANNEL}'"
    if route.authorization == AWS_IAM:
        return {CALLER_ARN_HEADER: "context.identity.userArn",
                USER_HEADER: blank, LEVELS_HEADER: blank,
                WORKSPACE_HEADER: route.workspace or f"'{DEFAULT_WORKSPACE}'"}
    return {CALLER_ARN_HEADER: blank,
            USER_HEADER: "context.authorizer.username",
            LEVELS_HEADER: "context.authorizer.levels",
            WORKSPACE_HEADER: "context.authorizer.workspace"}


FORWARDED_IDENTITY_HEADERS = IDENTITY_HEADER_NAMES + (WORKSPACE_HEADER,)

# The stage's JSON access-log line: API Gateway's $context variables, one line per request.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.userArn",
    "user": "$context.authorizer.username",
    "levels": "$context.authorizer.levels",
    "workspace": "$context.authorizer.workspace",
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


# Whom a refused user should ask: the central stack's `platformContact`. It is written into
# the ACCESS_DENIED response's template as it stands (a gateway response is text with
# variables, not a program), so it may not hold what would break the JSON or name a variable.
DEFAULT_CONTACT = "your MLflow platform team"
_CONTACT_FORBIDDEN = set('"\\$')


def check_contact(contact: str) -> str:
    if (not isinstance(contact, str) or not contact.strip() or len(contact) > 200
            or any(c in _CONTACT_FORBIDDEN or ord(c) < 32 for c in contact)):
        raise ValueError(
            "platformContact must be 1 to 200 characters naming whom refused users ask, "
            f"without quotes, backslashes, '$' or line breaks; got {contact!r}")
    return contact.strip()


# An ACCESS_DENIED says who the caller is (its levels in the workspace, from the authorizer,
# or its role's ARN) and whom to ask. The level the route needs is not the edge's to compute:
# the clients that know the request (the SDK client package, the UI's service worker) name it
# from roles.refusals' table and rewrite `message`; `details` is what they read. Only values
# that cannot break the JSON go in raw: the method, an ARN, level and workspace names (the
# authorizer's own), the contact (checked above); API Gateway's message is JSON-quoted.
_ACCESS_DENIED = (
    '{"error_code":"PERMISSION_DENIED",'
    '"message":"Refused by the MLflow landing zone: this $context.httpMethod needs a level you '
    'do not hold here (levels held in this workspace: [$context.authorizer.levels]; caller: '
    '[$context.identity.userArn]). The level each call needs is in the access matrix; to be '
    'granted one, ask CONTACT.",'
    '"details":{"method":"$context.httpMethod","workspace":"$context.authorizer.workspace",'
    '"levels":"$context.authorizer.levels","caller_arn":"$context.identity.userArn",'
    '"contact":"CONTACT","gateway":$context.error.messageString}}')


def gateway_response_template(response_type: str, contact: str = DEFAULT_CONTACT) -> str:
    """The `application/json` template of a gateway response."""
    _, code = GATEWAY_RESPONSES[response_type]
    if response_type == "ACCESS_DENIED":
        return _ACCESS_DENIED.replace("CONTACT", check_contact(contact))
    return '{"error_code":"' + code + '","message":$context.error.messageString}'


_VARIABLE = re.compile(r"\$context\.[A-Za-z.]+")


def render_gateway_response(template: str, message: str, variables: dict) -> str:
    """What API Gateway makes of a gateway response's template: plain substitution (no
    Velocity), `$context.error.messageString` JSON-quoted, a variable it has no value for empty.
    `variables`: {"context.identity.userArn": ..., ...}."""
    def value(match):
        name = match.group(0)[1:]
        if name == "context.error.messageString":
            return json.dumps(message)
        return str(variables.get(name, ""))
    return _VARIABLE.sub(value, template)


def gateway_response_body(response_type: str, message: str, variables: dict = None,
                          contact: str = DEFAULT_CONTACT) -> dict:
    """What the template renders to for `message` (the sandbox's gateway sends this)."""
    return json.loads(render_gateway_response(
        gateway_response_template(response_type, contact), message, variables or {}))


# --- browsers: what another site makes a signed-in browser send ---------------------------------
# Two headers that the browser sets itself and no page can forge: `Sec-Fetch-Site` (every
# current browser, on every request) and `Origin` (on every request but a plain GET or HEAD).
# A request that another site started is refused before the authorizer and before MLflow, on
# every route but the redirect above. SDK callers send neither header and are never refused by
# this. The UI's own requests are `same-origin`, with the UI's origin; a typed URL is `none`.
# (The service worker never puts a token on a request another site started, either: this is
# the second line, and on AWS it is a WAF rule, `components/web_acl.py`, so that it holds
# whatever the authorizer's cache holds.)
REFUSED_FETCH_SITES = ("cross-site", "same-site")
# The two rules, by name (the WAF rule's, too), and what each refusal says. The text is fixed
# per deployment (a WAF custom response cannot quote the request).
CROSS_SITE_RULES = {
    "OtherSiteRequest": "Refused: a page of another site made your browser send this request. "
                        "Open MLflow at {ui_origin} and do it there.",
    "ForeignOrigin": "Refused: this request does not come from the MLflow UI ({ui_origin}).",
}
CROSS_SITE_ERROR_CODE = "PERMISSION_DENIED"


def cross_site_refusal(headers: dict, ui_origin: str):
    """The name of the rule that refuses a browser request as another site's, or None.

    `headers`: lower-case names, repeated headers joined with "," (as API Gateway and WAF
    see them); `ui_origin`: the UI's origin (scheme://host[:port]).
    """
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() in REFUSED_FETCH_SITES:
        return "OtherSiteRequest"
    origin = headers.get("origin")
    if origin and origin != ui_origin:  # absent or empty: no origin to judge
        return "ForeignOrigin"
    return None


def cross_site_body(rule: str, ui_origin: str) -> dict:
    """A refusal in MLflow's error shape, as the WAF's custom response sends it."""
    return {"error_code": CROSS_SITE_ERROR_CODE,
            "message": CROSS_SITE_RULES[rule].format(ui_origin=ui_origin)}


MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # REST API request and response limit
INTEGRATION_TIMEOUT_MS = 29_000

# --- the browser session's timing ------------------------------------------------------------
# Short-lived access: a copied id token, or a user removed from the pool, keeps access at most
# for the token's lifetime plus the leeway. The authorizer refuses a token that expires within
# the cache TTL (API Gateway caches per token for the whole TTL), so a cached policy never
# outlives its token; the shell refreshes a token `refresh_margin_seconds` before it expires,
# so it never sends one the authorizer would refuse.
DEFAULT_TOKEN_MINUTES = 10
TOKEN_MINUTES_RANGE = (5, 15)
REFRESH_TOKEN_HOURS = 12  # the sign-in itself; revoked at sign-out and by the admin commands
DEFAULT_AUTHORIZER_TTL_SECONDS = 60
TOKEN_LEEWAY_SECONDS = 5  # clock difference forgiven on exp, nbf and iat
# The authorizer function's environment for the two (components/api.py sets it from the
# config's `api.authorizerCacheTtl`; authorizer/handler.py reads it).
AUTHORIZER_CACHE_TTL_ENV = "CACHE_TTL_SECONDS"
# The data files the authorizer's archive carries beside its code (authorizer/build.py writes
# them, the handler reads them once at cold start): its policy rules and the teams' workspaces.
AUTHORIZER_RULES_FILE = "policy_rules.json"
AUTHORIZER_WORKSPACES_FILE = "workspaces.json"
AUTHORIZER_LEEWAY_ENV = "LEEWAY_SECONDS"
_REFRESH_SLACK_SECONDS = 15  # a request's time in flight, and a little more


def refresh_margin_seconds(token_seconds: float, authorizer_ttl: float) -> float:
    """How long before a token expires the shell replaces it: a quarter of its life (at most
    five minutes), and always more than the authorizer's cache TTL."""
    return max(min(300.0, token_seconds / 4), authorizer_ttl + _REFRESH_SLACK_SECONDS)


def max_authorizer_ttl(token_seconds: float) -> int:
    """The longest cache TTL that leaves a token at least half its life between refreshes."""
    return max(0, int(token_seconds / 2 - _REFRESH_SLACK_SECONDS))
# The Lambda authorizer's identity sources: its answer is cached per (token, workspace), so a
# user's policy is that of their level in the workspace the request names. (With caching on,
# API Gateway answers 401 itself when one is missing or empty: the UI always sends both.)
IDENTITY_SOURCE_HEADERS = ("Authorization", WORKSPACE_HEADER)
# Everything passes through as bytes, so artifacts download intact through HTTP_PROXY.
BINARY_MEDIA_TYPES = ("*/*",)


def resource_policy(execution_arn: str, account_id: str) -> dict:
    """The API's resource policy: SigV4 only for principals of the central account, on every
    path. One statement of constant size, whatever the number of teams: it names no team.

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
         # Every method and path of every stage: the SigV4 resources are `/api/*` and every
         # team's `/<team>/*`, and a path's shape cannot tell a team's from a browser's.
         "Resource": f"{execution_arn}/*",
         # Only for IAM principals: a browser's request (Lambda authorizer) and the redirect
         # have no principal account, so the Deny never reaches them.
         "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account_id},
                       "Null": {"aws:PrincipalAccount": "false"}}},
    ]}


# A SageMaker Studio domain's origin (a team stack's `studioOrigin` output): the pages that may
# embed the MLflow UI (`ui.studioOrigins`, CSP frame-ancestors).
STUDIO_ORIGIN = re.compile(r"^https://d-[a-z0-9]+\.studio\.[a-z]{2}(-gov)?-[a-z]+-\d\.sagemaker\.aws$")
