"""A team account's deployer reaches the central bus for its own status and nothing more (issue
27's review, finding 3): the central bus's policy (spec.registry_events.central_bus_policy)
admits the team deployers' status events alone, and the status writer believes a status only
from the team's own account. Here team-b's deployer is the one misbehaving, with the session
Lambda gives it, against the sandbox's emulated AWS (sandbox/serving.py judges another
account's PutEvents by the bus's policy, entry by entry, as EventBridge does).

The status writer runs as the sandbox runs it (its own process, its own role); the API it calls
is a stand-in that records each set-tag call, so "not recorded" is "never asked of MLflow"
(tests/end_to_end/test_serving.py proves the honest status lands on the version in MLflow)."""

import subprocess
import sys

import pytest

from tests.sandbox_process import ROOT

PROBE = r"""
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sandbox import aws as emulated, serving
from sandbox.plan import load_plan
from spec import registry_events as contract
from spec.accounts import role_arn

calls = []


class Api(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        calls.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=api.serve_forever, daemon=True).start()
plan = load_plan()
aws = emulated.start_aws(plan, serving_api_url=f"http://127.0.0.1:{api.server_port}",
                         serving_dir=tempfile.mkdtemp())
try:
    accounts = {t.name: t.account_id for t in plan.teams}
    a, b, region = accounts["team-a"], accounts["team-b"], plan.region
    assert a != b
    central_bus = contract.central_bus_arn(region, plan.central_account)
    # team-b's deployer, with the session its Lambda runs with
    deployer_b = serving.session_of(role_arn(b, contract.deployer_role_name("team-b")),
                                    "mlflow-team-b-deployer")
    events = aws.client("events", **deployer_b)

    def status(team, account, model):
        return {"Source": contract.DEPLOYER_SOURCE,
                "DetailType": contract.DEPLOYMENT_STATUS_DETAIL_TYPE,
                "EventBusName": central_bus, "Detail": json.dumps({
                    "team": team, "workspace": team, "model": model, "version": "1",
                    "deployment": {"state": "InService", "endpoint": f"{team}-{model}",
                                   "account": account, "region": region, "version": "1"}})}

    # (a) a status for team-a's version: the bus takes it (a deployer's status) ...
    forged = events.put_events(Entries=[status("team-a", a, "forged-status")])
    assert forged["FailedEntryCount"] == 0, forged
    # (b) a registry event (a promotion of team-a's, which team-a's deployer would act on):
    # refused by the bus's policy; the same request's own status of team-b is taken
    promotion = dict.fromkeys(contract.DETAIL_FIELDS)
    promotion.update(team="team-a", workspace="team-a", model="forged-promotion", version="1",
                     alias=contract.DEFAULT_DEPLOY_ALIAS, approver="nobody",
                     frozen_location="s3://elsewhere/model", time="2026-12-04T18:00:00.000Z")
    mixed = events.put_events(Entries=[
        {"Source": contract.EVENT_SOURCE, "DetailType": contract.DETAIL_TYPES["promoted"],
         "Detail": json.dumps(promotion), "EventBusName": central_bus},
        status("team-b", b, "own-status")])
    assert mixed["FailedEntryCount"] == 1, mixed
    refused, taken = mixed["Entries"]
    assert refused["ErrorCode"] == "NotAuthorizedForSourceException", refused
    assert "EventId" not in refused and "EventId" in taken, mixed

    # the promotion reached no bus: neither the central audit trail nor team-a's record has it
    def models(credentials, group):
        logs = aws.client("logs", **credentials)
        return sorted(json.loads(e["message"])["detail"].get("model")
                      for e in logs.filter_log_events(logGroupName=group)["events"])

    assert models(aws.registry_events["auditor"], contract.AUDIT_LOG_GROUP) == [
        "forged-status", "own-status"]
    record = next(t for t in aws.teams if t["name"] == "team-a")["registry_events"]
    assert models(record["reader"], record["log_group"]) == []

    # the status writer ran for both statuses, refused team-a's and recorded team-b's own
    writer = serving.lambda_arn(region, plan.central_account, contract.STATUS_WRITER_ROLE_NAME)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = [i for i in serving.hosting().invocations if i.arn == writer]
        if len(runs) >= 2 and len(calls) >= 1:
            break
        time.sleep(0.5)
    by_model = {i.event["detail"]["model"]: i for i in runs}
    assert sorted(by_model) == ["forged-status", "own-status"], runs
    assert by_model["forged-status"].event["account"] == b  # EventBridge's, not the sender's
    assert f"refused: account {b} is not team 'team-a''s" in by_model["forged-status"].errors, \
        by_model["forged-status"].errors
    assert by_model["own-status"].returncode == 0, by_model["own-status"].errors
    time.sleep(2)  # a late retry of the refused one would show here
    assert [(path, body["name"]) for path, body in calls] == [
        ("/team-b/api/2.0/mlflow/model-versions/set-tag", "own-status")], calls
    # team-a's deployer heard nothing
    deployer_a = serving.lambda_arn(region, a, contract.deployer_role_name("team-a"))
    assert [i for i in serving.hosting().invocations if i.arn == deployer_a] == []
finally:
    aws.stop()
    api.shutdown()
print("ok")
"""


@pytest.mark.server  # moto's server and a stand-in API, in a fresh interpreter (mends: once)
@pytest.mark.slow
def test_another_teams_deployer_records_no_status_and_puts_no_registry_event():
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=400, cwd=ROOT)
    assert run.stdout.strip().endswith("ok"), run.stderr[-4000:]
