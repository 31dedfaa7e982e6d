"""How the UI is served: which paths the bundle answers, which go to the API, and the headers.

One definition for the Amplify app (`components/user_interface.py`) and the sandbox's UI server
(`sandbox/ui_server.py`), so the two cannot drift. Standard library only.

The page stays same-origin: the bundle and the API share the UI's origin, Amplify forwarding
the API paths (a "200" rewrite is a reverse proxy). Which paths are the API's is not written by
hand: every route of the catalogue that the REST API serves to a token (everything outside
`/api`) is forwarded, except the two the bundle itself answers (`/` and `/static-files/*`).
"""

import json
import re
from dataclasses import dataclass

from spec.edge import STUDIO_ORIGIN, is_sigv4_path
from roles.catalogue import CATALOGUE

# Paths the bundle answers itself (see ui/build.py for its layout).
BUNDLE_PATHS = ("/", "/index.html", "/mlflow.html", "/sw.js", "/config.json",
                "/bundle-manifest.json")
BUNDLE_PREFIXES = ("/shell/", "/static-files/")

STS_MAX_AGE = 63_072_000  # two years, as hstspreload.org asks
# Files the browser must revalidate on every load, so a new deployment takes effect at once.
NO_CACHE = ("/", "/index.html", "/mlflow.html", "/sw.js", "/config.json")


@dataclass(frozen=True)
class ApiRoute:
    """A path (or, with `prefix`, every path below it) that the UI origin forwards to the API."""

    path: str
    prefix: bool = False

    def matches(self, path: str) -> bool:
        return path.startswith(self.path) if self.prefix else path == self.path

    @property
    def source(self) -> str:
        """Amplify's rule syntax: `<*>` for the rest of the path."""
        return f"{self.path}<*>" if self.prefix else self.path


def _segments(template: str):
    return template.strip("/").split("/")


def is_bundle_path(path: str) -> bool:
    return path in BUNDLE_PATHS or path.startswith(BUNDLE_PREFIXES)


def api_routes(catalogue=CATALOGUE) -> tuple:
    """The API paths the browser uses, grouped by first segment: a group of one fixed path is
    forwarded exactly, anything else (parameters, several routes) by its prefix."""
    groups = {}
    for route in catalogue:
        path = route.path
        # SigV4's half of the API, and the routes whose place the bundle takes (MLflow's UI
        # document and static files)
        if is_sigv4_path(path) or is_bundle_path(path):
            continue
        groups.setdefault(_segments(path)[0], set()).add(path)
    routes = []
    for first, paths in sorted(groups.items()):
        only = next(iter(paths))
        if len(paths) == 1 and "{" not in only:
            routes.append(ApiRoute(only))
        else:
            routes.append(ApiRoute(f"/{first}/", prefix=True))
    return tuple(routes)


API_ROUTES = api_routes()


def api_route(path: str):
    """The forwarding rule that takes `path`, or None (the bundle answers, or nobody: 404)."""
    return next((r for r in API_ROUTES if r.matches(path)), None)


def rewrite_rule(api_url: str, route: ApiRoute) -> dict:
    """An Amplify custom rule: the API path to the same path on the stage, status 200 (a
    reverse proxy). That Amplify passes the method, body, query string and the Authorization
    header on is from its documentation; the sandbox's UI host does the same, and only a
    deployment can show Amplify does."""
    return {"source": route.source, "target": api_url.rstrip("/") + route.source, "status": "200"}


def rewrite_rules(api_url: str) -> list:
    return [rewrite_rule(api_url, r) for r in API_ROUTES]


def frame_ancestors(studio_origins=()) -> str:
    for origin in studio_origins:
        if not STUDIO_ORIGIN.match(origin):
            raise ValueError(f"not a SageMaker Studio origin: {origin!r} "
                             "(expected https://d-xxxxxxxx.studio.<region>.sagemaker.aws)")
    return " ".join(("'self'", *studio_origins))


def content_security_policy(cognito_origin: str, studio_origins=()) -> str:
    """What the shell and MLflow's UI need, and nothing more. `style-src 'unsafe-inline'`
    because MLflow's components style themselves at run time (CSS-in-JS); scripts only from
    the bundle. `frame-ancestors` lets the UI frame itself (the shell hosts MLflow in a frame)
    and be framed by the teams' SageMaker Studio domains."""
    directives = (
        ("default-src", "'self'"),
        ("script-src", "'self'"),
        ("style-src", "'self' 'unsafe-inline'"),
        ("img-src", "'self' data: blob:"),
        ("font-src", "'self' data:"),
        ("connect-src", f"'self' {cognito_origin}"),
        ("worker-src", "'self' blob:"),
        ("frame-src", "'self' blob:"),
        ("object-src", "'none'"),
        ("base-uri", "'self'"),
        ("form-action", "'self'"),
        ("frame-ancestors", frame_ancestors(studio_origins)),
    )
    return "; ".join(f"{name} {value}" for name, value in directives)


def cognito_origin(region: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com"


def security_headers(cognito_origin: str, studio_origins=()) -> dict:
    return {
        "Content-Security-Policy": content_security_policy(cognito_origin, studio_origins),
        "Strict-Transport-Security": f"max-age={STS_MAX_AGE}; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        # The UI's own navigations carry their referrer, and nothing goes to other origins:
        # the service worker attaches a token to a navigation only when the UI started it.
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def headers_for(path: str, cognito_origin: str, studio_origins=()) -> dict:
    """Every header the UI origin adds to a bundle file's response."""
    headers = security_headers(cognito_origin, studio_origins)
    if path in NO_CACHE:
        headers["Cache-Control"] = "no-cache"
    return headers


def amplify_custom_headers(cognito_origin: str, studio_origins=()) -> str:
    """Amplify's `customHeaders` document (YAML; JSON is YAML), the same headers as
    `headers_for` gives each path."""
    def entry(pattern, headers):
        return {"pattern": pattern,
                "headers": [{"key": k, "value": v} for k, v in headers.items()]}

    rules = [entry("**", security_headers(cognito_origin, studio_origins))]
    rules += [entry(path, {"Cache-Control": "no-cache"})
              for path in NO_CACHE]
    return json.dumps({"customHeaders": rules}, indent=2)


def shell_config(*, region: str, user_pool_id: str, client_id: str, group_levels: dict,
                 refresh_margin: float, workspaces: dict = None, auth_flow: str = "USER_SRP_AUTH",
                 cognito_endpoint: str = None) -> dict:
    """`config.json`: what the shell and its service worker read at run time.
    `refresh_margin`: seconds before expiry a token is replaced (spec.edge.refresh_margin_seconds);
    `workspaces`: {team: [teams it is shared with]}, as the authorizer's WORKSPACES (the shell
    shows a user only the workspaces they hold a level in; the authorizer enforces it)."""
    if auth_flow not in ("USER_SRP_AUTH", "USER_PASSWORD_AUTH"):
        raise ValueError(f"auth_flow must be USER_SRP_AUTH or USER_PASSWORD_AUTH, got {auth_flow!r}")
    return {
        "region": region,
        "userPoolId": user_pool_id,
        "clientId": client_id,
        "authFlow": auth_flow,
        "cognitoEndpoint": cognito_endpoint or cognito_origin(region) + "/",
        "groupLevels": dict(group_levels),
        "workspaces": {team: list(shared) for team, shared in (workspaces or {}).items()},
        "refreshMarginSeconds": refresh_margin,
        "apiRoutes": [{"path": r.path, "prefix": r.prefix} for r in API_ROUTES],
    }
