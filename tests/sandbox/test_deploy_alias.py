"""A team whose central entry names another deploy alias (`teams[].deployAlias`) is deployed on
that alias's promotions in the sandbox, not on `champion`'s: the sandbox's deployer (its
environment, its rule on the team's bus) takes the team's configured alias, as the team stack's
(whose `serving.deployAlias` must be the same: spec/stack_file.py's check_team_stack).

The promotions are the tracking server's (its own credentials, the contract's event) on the
central bus; the forward rule, the team's bus, the deployer's rule and Lambda and SageMaker's
hosting are the sandbox's own. The frozen copies are not there, so the endpoint the deployer
creates ends Failed: what is proved is which promotion it acted on."""

import subprocess
import sys

import pytest

from spec.stack_file import CENTRAL_FILE
from tests.sandbox_process import ROOT

TEAM_A_LEVELS = "        levels: [reader, contributor, model-approver, admin]\n"

PROBE = r"""
import json
import sys
import tempfile
import time

from botocore.exceptions import ClientError

from deployer.handler import endpoint_name
from sandbox import aws as emulated, serving
from sandbox.plan import load_plan
from spec import registry_events as contract

plan = load_plan(sys.argv[1])
assert {t.name: t.deploy_alias for t in plan.teams} == {"team-a": "blessed", "team-b": "champion"}
aws = emulated.start_aws(plan, serving_api_url="http://127.0.0.1:9",
                         serving_dir=tempfile.mkdtemp())
try:
    team_a = next(t for t in aws.teams if t["name"] == "team-a")
    deployer = team_a["serving"]["deployer_function_arn"]
    assert team_a["serving"]["deploy_alias"] == "blessed"
    assert serving.hosting().functions[deployer].environment["DEPLOY_ALIAS"] == "blessed"
    assert next(t for t in aws.teams if t["name"] == "team-b")["serving"]["deploy_alias"] == \
        "champion"

    events = aws.client("events", **aws.server_keys)  # as the tracking server puts them
    for model, alias in (("on-champion", "champion"), ("on-blessed", "blessed")):
        detail = dict.fromkeys(contract.DETAIL_FIELDS)
        detail.update(team="team-a", workspace="team-a", model=model, version="1", alias=alias,
                      frozen_location=f"{team_a['registry_prefix']}models/{model}/v1",
                      registrant="someone", approver="someone-else",
                      time="2026-12-04T18:00:00.000Z")
        put = events.put_events(Entries=[{
            "Source": contract.EVENT_SOURCE, "DetailType": contract.DETAIL_TYPES["promoted"],
            "Detail": json.dumps(detail), "EventBusName": aws.registry_events["bus_arn"]}])
        assert put["FailedEntryCount"] == 0, put

    def acted_on():
        return sorted(i.event["detail"].get("model") for i in serving.hosting().invocations
                      if i.arn == deployer and i.event.get("source") == contract.EVENT_SOURCE)

    deadline = time.monotonic() + 180
    while "on-blessed" not in acted_on() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # the champion promotion was put first: a deployer run of it would show
    assert acted_on() == ["on-blessed"], acted_on()
    credentials = team_a["serving"]["invoker"]["credentials"]
    sagemaker = aws.client("sagemaker", **credentials)
    created = sagemaker.describe_endpoint(EndpointName=endpoint_name("team-a", "on-blessed"))
    assert created["EndpointStatus"] in ("Creating", "Failed"), created
    try:
        sagemaker.describe_endpoint(EndpointName=endpoint_name("team-a", "on-champion"))
    except ClientError as error:
        assert "Could not find" in error.response["Error"]["Message"], error.response
    else:
        raise AssertionError("a champion promotion was deployed for a team whose alias is blessed")
finally:
    aws.stop()
print("ok")
"""


@pytest.mark.server  # moto's server, in a fresh interpreter (the mends are once per process)
@pytest.mark.slow
def test_a_team_with_another_deploy_alias_is_deployed_on_that_alias_alone(tmp_path):
    central = CENTRAL_FILE.read_text()
    assert central.count(TEAM_A_LEVELS) == 1
    path = tmp_path / "Pulumi.central.yaml"  # no team stack beside it
    path.write_text(central.replace(TEAM_A_LEVELS, TEAM_A_LEVELS + "        deployAlias: blessed\n"))
    run = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                         text=True, timeout=400, cwd=ROOT)
    assert run.stdout.strip().endswith("ok"), run.stderr[-4000:]
