"""Two people for a promotion, and every registry act as an event, through the sandbox with the
real MLflow client: the tracking server puts each act on the central bus (emulated EventBridge),
the team's forward rule carries it to the team account's bus, and both accounts' log groups
record it (spec/registry_events.py; components/registry_events.py deploys the same on AWS)."""

import json
import time
import uuid

import boto3
import pytest
from mlflow.exceptions import MlflowException

from spec import registry_events as contract
from tests.sandbox_clients import identity, team_of

SESSION_ARN = "arn:aws:sts::111111111111:assumed-role/mlflow-team-a-{level}/test-{level}"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def logs_of(sandbox, credentials, group):
    return boto3.client("logs", region_name=sandbox["aws"]["region"],
                        endpoint_url=sandbox["aws"]["endpoint_url"],
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials.get("SessionToken")), group


def recorded(where, model):
    """The registry events of `model` a log group holds: [(detail-type, detail)], in the order
    of their `time` (they may arrive out of order: each worker of the server sends its own)."""
    client, group = where
    found = []
    for page in client.get_paginator("filter_log_events").paginate(logGroupName=group):
        for item in page["events"]:
            event = json.loads(item["message"])
            if event.get("source") == contract.EVENT_SOURCE and \
                    event["detail"].get("model") == model:
                found.append((event["detail"]["time"], event["detail-type"], event["detail"]))
    return [(kind, detail) for _, kind, detail in sorted(found, key=lambda f: f[0])]


def wait_for(where, model, count, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        events = recorded(where, model)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


@pytest.fixture(scope="module")
def run_with_model(sandbox, tmp_path_factory):
    folder = tmp_path_factory.mktemp("events-model")
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    with identity(sandbox, "contributor", "client") as c:
        run = c.create_run(c.create_experiment(unique("events"))).info.run_id
        c.log_artifacts(run, str(folder), artifact_path="model")
    return run


def readers(sandbox, team="team-a"):
    """(the central audit trail, the team account's own record)."""
    central = sandbox["registry_events"]
    own = team_of(sandbox, team)["registry_events"]
    return (logs_of(sandbox, central["auditor"], central["audit_log_group"]),
            logs_of(sandbox, own["reader"], own["log_group"]))


def test_a_second_person_promotes_and_every_act_is_an_event_in_both_accounts(
        sandbox, run_with_model):
    name = unique("two-people")
    registrant, approver = "two-groups-user", "model-approver-user"
    # a user who is contributor and model approver registers ...
    with identity(sandbox, "contributor", "token", username=registrant) as c:
        c.create_registered_model(name)
        version = c.create_model_version(name, f"runs:/{run_with_model}/model",
                                         run_id=run_with_model)
        assert version.tags[contract.REGISTRANT_TAG] == registrant
        location = c.get_model_version_download_uri(name, "1")
        # ... and cannot promote it themselves, to the alias or to a stage
        for promote in (lambda: c.set_registered_model_alias(name, "champion", "1"),
                        lambda: c.transition_model_version_stage(name, "1", "Production")):
            with pytest.raises(MlflowException) as refused:
                promote()
            assert refused.value.error_code == "PERMISSION_DENIED"
            assert (f"Version 1 of '{name}' was registered by {registrant}, who cannot also "
                    "promote it") in refused.value.message
            assert ("in team-a, someone else with the model-approver level must promote it"
                    in refused.value.message)
        assert c.get_registered_model(name).aliases == {}
    # another approver can
    with identity(sandbox, "model-approver", "token", username=approver) as c:
        c.set_registered_model_alias(name, "champion", "1")
        c.delete_registered_model_alias(name, "champion")
    with identity(sandbox, "admin", "token", username="team-admin-user") as c:
        c.delete_model_version(name, "1")

    audit, team_record = readers(sandbox)
    expected = [contract.DETAIL_TYPES[k] for k in (
        contract.REGISTERED, contract.PROMOTED, contract.ALIAS_REMOVED, contract.DELETED)]
    for where in (audit, team_record):
        events = wait_for(where, name, len(expected))
        assert [kind for kind, _ in events] == expected
        for _, detail in events:
            assert tuple(sorted(detail)) == tuple(sorted(contract.DETAIL_FIELDS))
            assert (detail["team"], detail["workspace"], detail["version"]) == (
                "team-a", "team-a", "1")
            assert detail["registrant"] == registrant
            assert detail["frozen_location"] == location
            assert location.startswith(team_of(sandbox)["registry_prefix"])
        registered, promoted, removed, deleted = (d for _, d in events)
        assert registered["approver"] is None and registered["alias"] is None
        assert (promoted["alias"], promoted["approver"]) == ("champion", approver)
        assert (removed["alias"], removed["approver"]) == ("champion", approver)
        assert deleted["approver"] == "team-admin-user"
    # team-b's account received none of team-a's events
    _, team_b_record = readers(sandbox, "team-b")
    assert recorded(team_b_record, name) == []


def test_sigv4_callers_are_told_apart_by_their_session(sandbox, run_with_model):
    """A job's registrant is its role session's ARN; an approver's session of another name
    promotes, and the event names both."""
    name = unique("two-sessions")
    with identity(sandbox, "contributor", "builtin") as c:
        c.create_registered_model(name)
        version = c.create_model_version(name, f"runs:/{run_with_model}/model",
                                         run_id=run_with_model)
    registrant = SESSION_ARN.format(level="contributor")
    assert version.tags[contract.REGISTRANT_TAG] == registrant
    with identity(sandbox, "model-approver", "builtin") as c:
        c.transition_model_version_stage(name, "1", "Staging")
        c.set_registered_model_alias(name, "champion", "1")
    audit, _ = readers(sandbox)
    events = wait_for(audit, name, 3)
    assert [(kind, d["stage"], d["alias"], d["registrant"], d["approver"]) for kind, d in events] == [
        (contract.DETAIL_TYPES[contract.REGISTERED], None, None, registrant, None),
        (contract.DETAIL_TYPES[contract.STAGE_CHANGED], "Staging", None, registrant,
         SESSION_ARN.format(level="model-approver")),
        (contract.DETAIL_TYPES[contract.PROMOTED], None, "champion", registrant,
         SESSION_ARN.format(level="model-approver"))]


@pytest.mark.parametrize("level, channel, username", [
    ("contributor", "client", None), ("model-approver", "token", "model-approver-user"),
    ("admin", "token", "team-admin-user"), ("admin", "token", "admin-user")])
def test_no_client_writes_the_platforms_tags(sandbox, run_with_model, level, channel, username):
    name = unique("platform-tags")
    with identity(sandbox, "contributor", "client") as c:
        c.create_registered_model(name)
        c.create_model_version(name, f"runs:/{run_with_model}/model", run_id=run_with_model)
    status = json.dumps({"state": "InService", "endpoint": "x", "account": "222222222222",
                         "region": "us-east-1", "version": "1"})
    with identity(sandbox, level, channel, username=username) as c:
        for act in (lambda: c.set_model_version_tag(name, "1", contract.DEPLOYMENT_TAG, status),
                    lambda: c.delete_model_version_tag(name, "1", contract.REGISTRANT_TAG),
                    lambda: c.set_registered_model_tag(name, contract.DEPLOYMENT_TAG, status)):
            with pytest.raises(MlflowException) as refused:
                act()
            assert refused.value.error_code == "PERMISSION_DENIED", refused.value.message
        version = c.get_model_version(name, "1")
    assert contract.DEPLOYMENT_TAG not in version.tags
    assert contract.REGISTRANT_TAG in version.tags
