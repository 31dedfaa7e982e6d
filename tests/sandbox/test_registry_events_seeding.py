"""The sandbox's emulated AWS holds the registry's events as the stacks deploy them: the
tracking server may put on the central bus and on no other, the team's forward rule carries a
team's event to that team account's bus only, and the audit log group keeps every one
(sandbox/aws.py, sandbox/emulation.py; components/registry_events.py on AWS)."""

import subprocess
import sys

import pytest

from tests.sandbox_process import ROOT

PROBE = """
import json
from botocore.exceptions import ClientError
from sandbox import aws as emulated
from sandbox.plan import load_plan
from spec import registry_events as contract

aws = emulated.start_aws(load_plan())
try:
    events = aws.client("events", **aws.server_keys)
    detail = {"team": "team-a", "model": "probe", "version": "1"}
    taken = events.put_events(Entries=[{
        "Source": contract.EVENT_SOURCE, "DetailType": contract.DETAIL_TYPES["promoted"],
        "Detail": json.dumps(detail), "EventBusName": aws.registry_events["bus_arn"]}])
    assert taken["FailedEntryCount"] == 0, taken
    for bus in ("default", contract.event_bus_arn("us-east-1", "222222222222")):
        try:
            events.put_events(Entries=[{"Source": contract.EVENT_SOURCE, "DetailType": "x",
                                        "Detail": "{}", "EventBusName": bus}])
        except ClientError as e:
            # moto answers EventBridge's refusal as XML: botocore reads the status as its code
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response
            assert "not authorized to perform: events:PutEvents" in str(e), e.response
        else:
            raise AssertionError(f"the server put an event on {bus}")

    def details(credentials, group):
        logs = aws.client("logs", **credentials)
        return [json.loads(e["message"])["detail"]
                for e in logs.filter_log_events(logGroupName=group)["events"]]

    assert details(aws.registry_events["auditor"], contract.AUDIT_LOG_GROUP) == [detail]
    teams = {t["name"]: t for t in aws.teams}
    for team, expected in (("team-a", [detail]), ("team-b", [])):
        record = teams[team]["registry_events"]
        assert record["bus_arn"] == contract.event_bus_arn(
            "us-east-1", teams[team]["account_id"])
        assert details(record["reader"], record["log_group"]) == expected, team
    assert teams["team-a"]["deploy_alias"] == contract.DEFAULT_DEPLOY_ALIAS
    assert teams["team-a"]["require_second_person"] is True
finally:
    aws.stop()
print("ok")
"""


@pytest.mark.server  # moto's server, in a fresh interpreter (the mends are once per process)
@pytest.mark.slow
def test_the_server_puts_on_the_central_bus_alone_and_each_team_gets_its_own():
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.stdout.strip().endswith("ok"), run.stderr[-3000:]
