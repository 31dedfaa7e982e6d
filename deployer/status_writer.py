"""The platform's status writer (a Lambda of the central account): each team deployer's status
event (DEPLOYER_SOURCE, on the central bus) becomes the model version's tag
`landing_zone.deployment`, set through the API with SigV4 as this function's own role, the one
role whose ARN the tracking server admits for `landing_zone.*` tags (PLATFORM_WRITER_ENV).

Why through the API, not straight to the server: the API is the one door to MLflow (its IAM
authorization, access log and WAF see this writer as they see everyone), the function needs no
place in the server's VPC, and its role's policy names the one route it may call.

An event is believed only for the team whose account sent it: EventBridge sets the envelope's
`account` (a sender cannot), and the teams' accounts are in this function's archive
(`teams.json`, {team: account}), never in its environment (4 KB).
"""

import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from . import _spec

log = logging.getLogger()
log.setLevel(logging.INFO)

TEAMS_FILE = "teams.json"
SET_TAG_PATH = "/2.0/mlflow/model-versions/set-tag"
_teams = {}


class Refused(ValueError):
    """A status event that this writer does not record."""


def load_teams(folder=None) -> dict:
    """{team: account id}, read once from the archive (STATUS_WRITER_DATA: another folder)."""
    key = str(folder or "")
    if key not in _teams:
        folder = Path(folder or os.environ.get("STATUS_WRITER_DATA") or Path(__file__).parent)
        _teams[key] = json.loads((folder / TEAMS_FILE).read_text())
    return _teams[key]


def check(event: dict, teams: dict) -> dict:
    """The status event's detail, if it is one this writer records; else Refused."""
    if event.get("source") != _spec.DEPLOYER_SOURCE or \
            event.get("detail-type") != _spec.DEPLOYMENT_STATUS_DETAIL_TYPE:
        raise Refused(f"not a deployer's status: {event.get('source')} {event.get('detail-type')}")
    detail = event.get("detail") or {}
    if set(detail) != set(_spec.DEPLOYMENT_STATUS_FIELDS):
        raise Refused(f"a status has exactly {', '.join(_spec.DEPLOYMENT_STATUS_FIELDS)}")
    team = detail["team"]
    if teams.get(team) is None or teams[team] != event.get("account"):
        raise Refused(f"account {event.get('account')} is not team {team!r}'s: its status is "
                      "not recorded")
    if detail["workspace"] != team:
        raise Refused(f"team {team!r} reports only on its own workspace")
    deployment = detail["deployment"]
    if not isinstance(deployment, dict) or tuple(deployment) != tuple(_spec.DEPLOYMENT_FIELDS) \
            or deployment["state"] not in _spec.DEPLOYMENT_STATES \
            or deployment["account"] != event.get("account") \
            or str(deployment["version"]) != str(detail["version"]):
        raise Refused(f"a deployment is {{{', '.join(_spec.DEPLOYMENT_FIELDS)}}} of the "
                      "sender's own account and the event's version")
    return detail


def set_tag_request(api_url: str, detail: dict):
    """(url, body, headers) of the set-tag call on the team's base path."""
    url = f"{api_url.rstrip('/')}/{quote(detail['workspace'], safe='')}{_spec.SDK_PREFIX}" \
          f"{SET_TAG_PATH}"
    body = json.dumps({"name": detail["model"], "version": str(detail["version"]),
                       "key": _spec.DEPLOYMENT_TAG,
                       "value": json.dumps(detail["deployment"], separators=(",", ":"))})
    return url, body.encode(), {"Content-Type": "application/json",
                                _spec.WORKSPACE_HEADER: detail["workspace"]}


def write(event: dict, api_url: str, region: str, session=None, teams=None, opener=None):
    detail = check(event, teams if teams is not None else load_teams())
    url, body, headers = set_tag_request(api_url, detail)
    credentials = (session or boto3.Session()).get_credentials().get_frozen_credentials()
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    prepared = urllib.request.Request(url, data=body, method="POST",
                                      headers=dict(request.headers.items()))
    try:
        with (opener or urllib.request.urlopen)(prepared, timeout=20) as response:
            response.read()
    except urllib.error.HTTPError as error:
        # a refusal is not retried into success: it is logged, and the function fails so
        # EventBridge's retries and the dead-letter queue keep the event
        raise RuntimeError(f"the API refused the status of {detail['model']} version "
                           f"{detail['version']}: {error.code} {error.read()[:500]!r}") from None
    log.info("tagged %s version %s: %s", detail["model"], detail["version"],
             json.dumps(detail["deployment"]))
    return detail


def handler(event, context=None):
    """The Lambda's entry point (`deployer.status_writer.handler`); API_URL: the API's stage
    URL (https://<id>.execute-api.<region>.amazonaws.com/<stage>)."""
    try:
        return write(event, os.environ["API_URL"],
                     os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"])
    except Refused as refused:
        log.error("refused: %s", refused)  # not retried: nothing would change
        return None
