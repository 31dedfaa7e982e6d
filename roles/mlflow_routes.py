"""The routes of the installed `mlflow server`, read from MLflow itself.

The only module of `roles` that imports MLflow, and only for checks (tests, the access diff):
the policies never depend on it. `mlflow server` 3.x is FastAPI with the Flask app mounted
inside, so its routes are FastAPI's own (OTLP, jobs, gateway, assistant, artifacts, MCP
servers, server info) followed by Flask's `url_map`.
"""

import re
import warnings
from functools import lru_cache
from urllib.parse import unquote

_FLASK_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _flask_template(rule: str) -> str:
    """`/x/<path:p>` -> `/x/{p:path}`, `/x/<id>` -> `/x/{id}` (Starlette's spelling)."""

    def convert(m):
        converter, name = m.group(1), m.group(2)
        return "{%s:path}" % name if converter == "path" else "{%s}" % name

    return _FLASK_PARAM.sub(convert, rule)


@lru_cache(maxsize=1)
def _apps():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.server import app as flask_app
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(flask_app), flask_app


def _fastapi_routes(fastapi_app):
    from starlette.routing import Mount

    for route in fastapi_app.routes:
        if hasattr(route, "effective_route_contexts"):  # FastAPI >= 0.16x: included routers
            yield from route.effective_route_contexts()
        elif not isinstance(route, Mount):
            yield route


def installed_routes() -> set:
    """Every (METHOD, path template) the installed `mlflow server` answers."""
    fastapi_app, flask_app = _apps()
    routes = set()
    for route in _fastapi_routes(fastapi_app):
        for method in set(route.methods or ()) - _IGNORED_METHODS:
            routes.add((method, route.path))
    for rule in flask_app.url_map.iter_rules():
        for method in set(rule.methods or ()) - _IGNORED_METHODS:
            routes.add((method, _flask_template(rule.rule)))
    return routes


def version() -> str:
    import mlflow

    return mlflow.__version__


def _handler_name(function) -> str:
    function = getattr(function, "__wrapped__", function)  # past MLflow's decorators
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"


def installed_handlers() -> dict:
    """{"METHOD /path": "module.handler"} for every route of the installed `mlflow server` (the
    routes of `installed_routes`, with the function that serves each: route_diff.py)."""
    fastapi_app, flask_app = _apps()
    handlers = {}
    for route in _fastapi_routes(fastapi_app):
        for method in set(route.methods or ()) - _IGNORED_METHODS:
            handlers[f"{method} {route.path}"] = _handler_name(route.endpoint)
    for rule in flask_app.url_map.iter_rules():
        for method in set(rule.methods or ()) - _IGNORED_METHODS:
            handlers[f"{method} {_flask_template(rule.rule)}"] = _handler_name(
                flask_app.view_functions[rule.endpoint])
    return handlers


def resolve(method: str, path: str):
    """The template of the route MLflow would run for a request, or None (404/405/redirect).

    The ASGI server percent-decodes the path before routing, so this does too.
    """
    from werkzeug.exceptions import HTTPException
    from werkzeug.routing import RequestRedirect

    fastapi_app, flask_app = _apps()
    decoded = unquote(path)
    for route in _fastapi_routes(fastapi_app):
        if route.path_regex.match(decoded) and method in (route.methods or ()):
            return route.path
    adapter = flask_app.url_map.bind("localhost")
    try:
        rule, _ = adapter.match(decoded, method=method, return_rule=True)
    except (HTTPException, RequestRedirect):
        return None
    return _flask_template(rule.rule)
