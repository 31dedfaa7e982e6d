"""Refusals a data scientist understands: the level a call needs, the level the caller holds,
in which team, and whom to ask.

The edge knows the caller (its levels in the workspace from the authorizer, or its role's ARN)
and says so in every 403 (`spec.edge.gateway_response_template`), but not the level the route
needs: a gateway response is text with variables in it, not a program. The clients that know
the request name that level from this table, generated from the model: the SDK client package
(`client/mlflow_landing_zone_client/refusal_table.json`, written by `python -m roles.matrix`)
and the UI's service worker (built into the bundle). The table is exact: per level, the same
Allow and Deny globs the edge enforces for a level held in a team's workspace.
"""

import json
from pathlib import Path

from .globs import HOSTILE_GLOBS, subject
from .levels import LEVELS, capabilities_of
from .model import rules_for

TABLE_VERSION = 1
# The "level" of the routes only the platform team reaches (server-wide configuration).
PLATFORM = "platform"
CLIENT_TABLE_PATH = (Path(__file__).resolve().parent.parent / "client"
                     / "mlflow_landing_zone_client" / "refusal_table.json")


def refusal_table() -> dict:
    """What a client needs to name the level a request needs in a team's workspace."""
    rules = {}
    for level in LEVELS:
        held = rules_for(capabilities_of([level]), in_team=True)
        rules[level] = {"allow": list(held.allow), "deny": list(held.deny)}
    return {"version": TABLE_VERSION, "levels": list(LEVELS), "platform": PLATFORM,
            "hostile": list(HOSTILE_GLOBS), "rules": rules}


def render_table() -> str:
    return json.dumps(refusal_table(), indent=None, separators=(",", ":"), sort_keys=True) + "\n"


def needed_level(method: str, path: str):
    """The lowest level that may make this request in a team's workspace (path relative to the
    workspace: `/api/...`, `/ajax-api/...`); PLATFORM if only the platform team may; None if
    nobody may (a hostile path shape)."""
    text = subject(method, path)
    for level in LEVELS:
        if rules_for(capabilities_of([level]), in_team=True).decide(text):
            return level
    if rules_for(capabilities_of(["admin"])).decide(text):
        return PLATFORM
    return None


def browser_message(method: str, path: str, workspace: str, levels, contact: str) -> str:
    """The refusal the UI shows for a 403 of the API (ui/shell/refusals.js says the same; a
    test holds them equal): `levels`, what the user holds in `workspace`."""
    held = [level for level in levels if level]
    if not held:
        return (f"Refused: you hold no level in workspace {workspace}. "
                f"To be granted one, ask {contact}.")
    you = f"you hold {' and '.join(held)} in {workspace}"
    needed = needed_level(method, path)
    if needed is None:
        return f"Refused: {method} {path} is a path shape nobody may call; {you}."
    if needed == PLATFORM:
        return (f"Refused: {method} {path} is server-wide configuration, which only the "
                f"platform team changes; {you}. Ask {contact}.")
    return (f"Refused: {method} {path} needs the {needed} level in {workspace}; {you}. "
            f"To be granted {needed} in {workspace}, ask {contact}.")
