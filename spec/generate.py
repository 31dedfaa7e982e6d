"""The spec's facts for the run-time parts that cannot import it, written as files of their own.

    python -m spec.generate          # (re)write every generated file
    python -m spec.generate --check  # fail, naming each stale file, if one is not current

The client package installs on its own, the server plugin is shipped in the image alone, the
authorizer in a Lambda archive, the UI's shell is JavaScript: none of them may import `spec`.
Each gets a small generated module (`_spec.py`, or `spec.js` for the UI) holding the facts it
needs, rendered from `spec/` and `roles/`; their code imports those names and writes none of
the values itself. A fast test runs the check, so a stale file fails CI with the command to run.
"""

import json
import sys
from pathlib import Path

from roles import LEVELS
from roles.catalogue import BROWSER_PREFIX, SDK_PREFIX
from roles.policies import API_ARN_PLACEHOLDER, HTTP_METHODS
from spec import accounts, edge, registry_events, server

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "python -m spec.generate"
NOTICE = f"generated from spec/ by {COMMAND}; do not edit"


def client_facts() -> dict:
    """What the SDK client package (client/) needs: where a call lands, how its caller's role
    is named, what a team stack puts in its jobs' environment."""
    return {
        "WORKSPACE_HEADER": edge.WORKSPACE_HEADER,
        "DEFAULT_WORKSPACE": edge.DEFAULT_WORKSPACE,
        "LEVELS": tuple(LEVELS),
        # MLflow's two spellings of its API: the SDK's (signed) and the browser's
        "SDK_PREFIX": SDK_PREFIX,
        "BROWSER_PREFIX": BROWSER_PREFIX,
        "ROLE_NAME_PREFIX": accounts.ROLE_NAME_PREFIX,
        "AUTH_PROVIDER": accounts.AUTH_PROVIDER,
        "ROLE_ARN_ENV": accounts.ROLE_ARN_ENV,
        "CONTACT_ENV": accounts.CONTACT_ENV,
        "DEFAULT_CONTACT": edge.DEFAULT_CONTACT,
        "SESSION_SECONDS": accounts.SESSION_SECONDS,
        # a team's keys are under <prefix><team>/
        "ARTIFACTS_PREFIX": accounts.workspace_prefix("-").removesuffix("-/"),
        "REGISTRY_PREFIX": accounts.registry_prefix("-").removesuffix("-/"),
    }


def server_facts() -> dict:
    """What the tracking server's plugin and the image's entrypoint need."""
    return {
        "IDENTITY_HEADERS": tuple(edge.IDENTITY_HEADER_NAMES),
        "CALLER_ARN_HEADER": edge.CALLER_ARN_HEADER,
        "USER_HEADER": edge.USER_HEADER,
        "NOT_THIS_CHANNEL": edge.NOT_THIS_CHANNEL,
        "FORWARDED_HEADERS": tuple(edge.FORWARDED_IDENTITY_HEADERS),
        "WORKSPACE_TAG": accounts.WORKSPACE_TAG,
        "PURPOSE_TAG": accounts.PURPOSE_TAG,
        "SERVE": accounts.SERVE,
        "FREEZE": accounts.FREEZE,
        "SESSION_SECONDS": accounts.SESSION_SECONDS,
        "PORT": server.PORT,
        "LOCAL_HOST": server.LOCAL_HOST,
        "HEALTH_PATH": server.HEALTH_PATH,
        "SERVER_FLAGS": tuple(server.SERVER_FLAGS),
        "REGISTRY_ROOT_ENV": server.REGISTRY_ROOT_ENV,
        "WORKSPACE_ROLE_ENV": server.WORKSPACE_ROLE_ENV,
        "WORKSPACES_ENV": server.WORKSPACES_ENV,
        "WORKERS_ENV": server.WORKERS_ENV,
        "DB_LOGIN_ARN_ENV": server.DB_LOGIN_ARN_ENV,
        "HANDLER_THREADS": server.HANDLER_THREADS,
        "POOL_ENV": dict(server.POOL_ENV),
        # the registry's events, its approval rule and the platform's tags
        "EVENT_SOURCE": registry_events.EVENT_SOURCE,
        "DETAIL_TYPES": dict(registry_events.DETAIL_TYPES),
        "DETAIL_FIELDS": tuple(registry_events.DETAIL_FIELDS),
        "REGISTERED": registry_events.REGISTERED,
        "PROMOTED": registry_events.PROMOTED,
        "ALIAS_REMOVED": registry_events.ALIAS_REMOVED,
        "STAGE_CHANGED": registry_events.STAGE_CHANGED,
        "DELETED": registry_events.DELETED,
        "EVENT_BUS_ARN_ENV": registry_events.EVENT_BUS_ARN_ENV,
        "APPROVAL_ENV": registry_events.APPROVAL_ENV,
        "DEFAULT_DEPLOY_ALIAS": registry_events.DEFAULT_DEPLOY_ALIAS,
        "DEFAULT_REQUIRE_SECOND_PERSON": registry_events.DEFAULT_REQUIRE_SECOND_PERSON,
        "PROMOTION_STAGES": tuple(registry_events.PROMOTION_STAGES),
        "PLATFORM_TAG_PREFIX": registry_events.PLATFORM_TAG_PREFIX,
        "REGISTRANT_TAG": registry_events.REGISTRANT_TAG,
        "FROZEN_FROM_TAG": registry_events.FROZEN_FROM_TAG,
        "STORE_OWNED_TAGS": tuple(registry_events.STORE_OWNED_TAGS),
        "PLATFORM_WRITER_ENV": registry_events.PLATFORM_WRITER_ENV,
    }


def authorizer_facts() -> dict:
    """What the Lambda authorizer needs beside its policy data (roles, `policy_rules.json`)."""
    return {
        "DEFAULT_WORKSPACE": edge.DEFAULT_WORKSPACE,
        "WORKSPACE_HEADER": edge.WORKSPACE_HEADER,
        "TEAM_GROUP_SEPARATOR": accounts.TEAM_GROUP_SEPARATOR,
        "SHARED_LEVEL": accounts.SHARED_LEVEL,
        "CACHE_TTL_ENV": edge.AUTHORIZER_CACHE_TTL_ENV,
        "LEEWAY_ENV": edge.AUTHORIZER_LEEWAY_ENV,
        "TOKEN_LEEWAY_SECONDS": edge.TOKEN_LEEWAY_SECONDS,
        "RULES_FILE": edge.AUTHORIZER_RULES_FILE,
        "WORKSPACES_FILE": edge.AUTHORIZER_WORKSPACES_FILE,
        # the policy data names the API by it (roles.policies)
        "API_ARN_PLACEHOLDER": API_ARN_PLACEHOLDER,
        # no stage may be named like one: the compact policies' anchors rely on it
        "HTTP_METHODS": tuple(HTTP_METHODS),
    }


def deployer_facts() -> dict:
    """What the serving loop's Lambdas need (deployer/: the team's deployer, the platform's
    status writer): the registry events' contract and the route that sets a version's tag."""
    e = registry_events
    return {
        "EVENT_SOURCE": e.EVENT_SOURCE,
        "PROMOTED": e.DETAIL_TYPES[e.PROMOTED],
        "ALIAS_REMOVED": e.DETAIL_TYPES[e.ALIAS_REMOVED],
        "DEFAULT_DEPLOY_ALIAS": e.DEFAULT_DEPLOY_ALIAS,
        "DEPLOYMENT_TAG": e.DEPLOYMENT_TAG,
        "DEPLOYMENT_STATES": tuple(e.DEPLOYMENT_STATES),
        "DEPLOYMENT_FIELDS": tuple(e.DEPLOYMENT_FIELDS),
        "DEPLOYER_SOURCE": e.DEPLOYER_SOURCE,
        "DEPLOYMENT_STATUS_DETAIL_TYPE": e.DEPLOYMENT_STATUS_DETAIL_TYPE,
        "DEPLOYMENT_STATUS_FIELDS": tuple(e.DEPLOYMENT_STATUS_FIELDS),
        "SAGEMAKER_SOURCE": e.SAGEMAKER_SOURCE,
        "ENDPOINT_STATE_CHANGE": e.ENDPOINT_STATE_CHANGE,
        "SDK_PREFIX": SDK_PREFIX,
        "WORKSPACE_HEADER": edge.WORKSPACE_HEADER,
    }


def ui_facts() -> dict:
    """What the sign-in shell and its service worker need (as `self.LZSpec`)."""
    return {
        "levels": list(LEVELS),
        "defaultWorkspace": edge.DEFAULT_WORKSPACE,
        "workspaceHeader": edge.WORKSPACE_HEADER,
        "teamGroupSeparator": accounts.TEAM_GROUP_SEPARATOR,
        "sharedLevel": accounts.SHARED_LEVEL,
    }


def render_python(facts: dict, purpose: str) -> str:
    lines = [f'"""{purpose}.', "", f'{NOTICE[0].upper()}{NOTICE[1:]}.', '"""', ""]
    lines += [f"{name} = {value!r}" for name, value in facts.items()]
    return "\n".join(lines) + "\n"


def render_js(facts: dict, purpose: str) -> str:
    body = json.dumps(facts, indent=2)
    return (f"// {purpose}.\n// {NOTICE[0].upper()}{NOTICE[1:]}.\n"
            f"self.LZSpec = Object.freeze({body});\n")


# {path under the repository: (renderer, facts, what the file is for)}
TARGETS = {
    "client/mlflow_landing_zone_client/_spec.py":
        (render_python, client_facts, "The landing zone's facts the client package uses"),
    "components/mlflow_image/plugin/mlflow_landing_zone_server/_spec.py":
        (render_python, server_facts, "The landing zone's facts the tracking server's image uses"),
    "authorizer/_spec.py":
        (render_python, authorizer_facts, "The landing zone's facts the authorizer uses"),
    "deployer/_spec.py":
        (render_python, deployer_facts, "The landing zone's facts the serving loop's Lambdas use"),
    "ui/shell/spec.js":
        (render_js, ui_facts, "The landing zone's facts the sign-in shell uses"),
}


def rendered() -> dict:
    """{path under the repository: the file's text}."""
    return {path: render(facts(), purpose) for path, (render, facts, purpose) in TARGETS.items()}


def stale(root: Path = ROOT) -> list:
    """The generated files whose text is not what the spec renders today."""
    return [path for path, text in rendered().items()
            if not (root / path).exists() or (root / path).read_text() != text]


def write(root: Path = ROOT) -> list:
    """Write the stale files; return their paths."""
    changed = stale(root)
    texts = rendered()
    for path in changed:
        (root / path).write_text(texts[path])
    return changed


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--check"]:
        behind = stale()
        for path in behind:
            print(f"{path} is stale: run {COMMAND}", file=sys.stderr)
        return 1 if behind else 0
    if argv:
        print(f"usage: {COMMAND} [--check]", file=sys.stderr)
        return 2
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
