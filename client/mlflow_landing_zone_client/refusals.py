"""Refusals in plain words: which level a call needs, which level the caller holds, in which
team, and whom to ask.

- The edge's 403s (MLflow's error shape, `details` from the gateway) are rewritten by a
  response hook of the signer, so MLflow's client raises the plain message.
- S3's `AccessDenied` on artifacts (MLflow's client writes artifacts to S3 directly) gets the
  same kind of message, through a botocore event handler on the session this package installs.
- A trace the edge refuses is logged by MLflow at ERROR; a log filter drops MLflow's hint to
  run `databricks auth login`, which does not apply here, and keeps the message.

The level a request needs comes from `refusal_table.json`, generated from the landing zone's
permission model (`python -m roles.matrix` writes it; a test holds it current).
"""

import json
import logging
import os
import re
from functools import lru_cache
from importlib import resources

from ._spec import ARTIFACTS_PREFIX as _ARTIFACTS
from ._spec import (BROWSER_PREFIX, CONTACT_ENV, DEFAULT_CONTACT, LEVELS, ROLE_NAME_PREFIX,
                    SDK_PREFIX)
from ._spec import REGISTRY_PREFIX as _REGISTRY

# The central access roles: <prefix><team>-<level> (spec.accounts.access_role_name).
_ROLE = re.compile(r":(?:assumed-role|role)/" + re.escape(ROLE_NAME_PREFIX)
                   + r"(?P<team>[^/]+)-(?P<level>"
                   + "|".join(re.escape(level) for level in LEVELS) + r")(?:/|$)")
_S3_WRITES = {"PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart",
              "UploadPartCopy", "CompleteMultipartUpload", "DeleteObject", "DeleteObjects",
              "AbortMultipartUpload"}


@lru_cache(maxsize=1)
def table() -> dict:
    return json.loads(resources.files(__package__).joinpath("refusal_table.json").read_text())


@lru_cache(maxsize=8192)
def _compiled(glob):
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in glob), re.DOTALL)


def _decide(rules, text) -> bool:
    if any(_compiled(g).fullmatch(text) for g in rules["deny"]):
        return False
    return any(_compiled(g).fullmatch(text) for g in rules["allow"])


def needed_level(method: str, path: str):
    """The lowest level that may make the request in a team's workspace (`path` relative to
    the workspace, e.g. /api/2.0/mlflow/runs/create); "platform" when only the platform team
    may; None when nobody may."""
    t = table()
    # one leading slash off, never more: `//api/...` is a path shape nobody may call
    text = f"{method}/{path[1:] if path.startswith('/') else path}"
    if any(_compiled(g).fullmatch(text) for g in t["hostile"]):
        return None
    for level in t["levels"]:
        if _decide(t["rules"][level], text):
            return level
    return t["platform"]


def caller_of(arn):
    """(team, level) of a central access role's ARN (assumed or not); (None, None) otherwise."""
    match = _ROLE.search(arn or "")
    return (match["team"], match["level"]) if match else (None, None)


def contact(details=None) -> str:
    return ((details or {}).get("contact") or os.environ.get(CONTACT_ENV)
            or DEFAULT_CONTACT).strip()


def _role_name(arn):
    match = re.search(r":(?:assumed-role|role)/([^/]+)", arn or "")
    return match[1] if match else arn


def _ask(level, team, who):
    return f"To be granted {level} in {team}, ask {who}."


def request_message(method: str, path: str, caller_arn: str, who: str) -> str:
    """The refusal of an SDK call signed as `caller_arn` to `path` (as sent: the team's base
    path first, e.g. /team-a/api/2.0/mlflow/experiments/create)."""
    team, held = caller_of(caller_arn)
    if team is None:
        return (f"Refused: {method} {path} is not within what {caller_arn or 'this caller'} "
                f"may do. The landing zone's roles are mlflow-<team>-<level>; ask {who}.")
    segments = path.split("/")
    if team not in segments:
        return (f"Refused: {method} {path} is outside team {team}'s workspace; you act as "
                f"{held} in {team} (role {_role_name(caller_arn)}), whose calls go to the "
                f"tracking URI <apiUrl>/{team}. For another team's workspace, ask {who}.")
    relative = "/" + "/".join(segments[segments.index(team) + 1:])
    needed = needed_level(method, relative)
    you = f"you act as {held} in {team} (role {_role_name(caller_arn)})"
    if relative.startswith(BROWSER_PREFIX + "/"):
        # the channel, not the level: signed calls go to /api, the browser's to /ajax-api
        return (f"Refused: {method} {relative} is the browser's spelling of MLflow's API, not "
                f"a signed call's: the SDK calls {SDK_PREFIX}{relative[len(BROWSER_PREFIX):]} "
                f"instead; {you}.")
    if needed is None:
        return f"Refused: {method} {relative} is a path shape nobody may call; {you}."
    if needed == table()["platform"]:
        return (f"Refused: {method} {relative} is server-wide configuration, which only the "
                f"platform team changes; {you}. Ask {who}.")
    return (f"Refused: {method} {relative} needs the {needed} level in {team}; {you}. "
            + _ask(needed, team, who))


def s3_message(operation: str, bucket: str, key: str, caller_arn: str, who: str) -> str:
    """The refusal of an S3 call on the artifact bucket, as the request's caller."""
    team, held = caller_of(caller_arn)
    where = f"s3://{bucket}/{key}"
    you = (f"you act as {held} in {team} (role {_role_name(caller_arn)})" if team
           else f"you act as {caller_arn or 'an unknown caller'}")
    writing = operation in _S3_WRITES
    if key.startswith(_REGISTRY):
        owner = key[len(_REGISTRY):].split("/", 1)[0]
        if writing:
            return (f"Refused: {operation} {where}: the files of registered model versions "
                    f"are frozen; only the tracking server writes them (registering a "
                    f"version copies its files there). Register a new version instead; {you}.")
        if team and owner != team:
            return (f"Refused: {operation} {where} is team {owner}'s registry; {you}. To read "
                    f"another team's workspace, ask {who}.")
    if key.startswith(_ARTIFACTS):
        owner = key[len(_ARTIFACTS):].split("/", 1)[0]
        if team and owner != team:
            return (f"Refused: {operation} {where} is in team {owner}'s workspace; {you}. To "
                    f"read another team's workspace, ask {who}.")
        if team and writing:
            needed = "admin" if operation.startswith("Delete") else "contributor"
            return (f"Refused: {operation} {where} (writing artifacts) needs the {needed} "
                    f"level in {team}; {you}. " + _ask(needed, team, who))
    return f"Refused: {operation} {where}; {you}. Ask {who}."


# --- the edge's 403: a response hook of the signer ---------------------------------------------

def rewrite_refusal(response, caller_arn: str):
    """If `response` is the edge's 403 in MLflow's error shape, put the plain message in it
    (MLflow's client raises `message`); the gateway's own wording stays in `details`."""
    if response.status_code != 403:
        return response
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return response
    if not isinstance(body, dict) or body.get("error_code") != "PERMISSION_DENIED" or not \
            isinstance(body.get("details"), dict):
        return response
    request = response.request
    path = re.sub(r"^[a-z]+://[^/]+", "", request.url).split("?", 1)[0]
    body["details"]["edge_message"] = body.get("message", "")
    caller = body["details"].get("caller_arn") or caller_arn
    body["message"] = request_message(request.method, path, caller, contact(body["details"]))
    response._content = json.dumps(body).encode()
    return response


# --- S3's AccessDenied: botocore events on the installed session ---------------------------------

def install_s3_messages(session, caller_arn_of):
    """Make S3 AccessDenied errors of `session`'s clients read as plain refusals;
    `caller_arn_of()` gives the ARN the client signs as."""

    def remember(params, context, **_):
        context["landing_zone_target"] = (params.get("Bucket", ""), params.get("Key", ""))

    def explain(http_response, parsed, model, context, **_):
        error = parsed.get("Error") if isinstance(parsed, dict) else None
        if not error or error.get("Code") != "AccessDenied":
            return
        bucket, key = context.get("landing_zone_target", ("", ""))
        error["Message"] = s3_message(model.name, bucket, key, caller_arn_of(), contact())

    session.register("before-parameter-build.s3", remember, unique_id="landing-zone-target")
    session.register("after-call.s3", explain, unique_id="landing-zone-s3-refusals")


# --- MLflow's trace exporter: no Databricks hint ---------------------------------------------------

_HINT = re.compile(r"\s*Refresh your credentials \(for example, run `databricks auth login`\)"
                   r" and retry\.")


class _NoDatabricksHint(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        if "databricks auth login" in message:
            record.msg, record.args = _HINT.sub(
                " The level to ask for is named above.", message), ()
        return True


def install_trace_filter():
    logger = logging.getLogger("mlflow.tracing.export.mlflow_v3")
    if not any(isinstance(f, _NoDatabricksHint) for f in logger.filters):
        logger.addFilter(_NoDatabricksHint())
