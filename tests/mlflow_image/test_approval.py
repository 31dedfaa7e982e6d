"""Two people for a promotion, the platform's tags and the registry's events, in-process on an
emulated S3 and EventBridge (no server): the plugin's approval.py and events.py, through the
registry store (components/mlflow_image/plugin/mlflow_landing_zone_server/registry.py)."""

import json
import re
import threading

import boto3
import flask
import pytest
from mlflow.entities.model_registry import RegisteredModelTag
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import ServerWorkspaceContext
from moto import mock_aws

from mlflow_landing_zone_server import approval, events, registry
from spec import registry_events as contract
from tests.mlflow_image.test_freezing import (  # noqa: F401  (pytest fixtures)
    BUCKET,
    SOURCE,
    database,
    empty_database,
    make_store,
    put_files,
    s3,
    wait_until_done,
)

CONTRIBUTOR = "arn:aws:sts::111111111111:assumed-role/mlflow-team-a-contributor/alice"
ALICE_AS_APPROVER = "arn:aws:sts::111111111111:assumed-role/mlflow-team-a-model-approver/alice"
BOB_AS_APPROVER = "arn:aws:sts::111111111111:assumed-role/mlflow-team-a-model-approver/bob"
WRITER_ROLE = "arn:aws:iam::111111111111:role/mlflow-deployment-status"
WRITER = "arn:aws:sts::111111111111:assumed-role/mlflow-deployment-status/writer"
_app = flask.Flask(__name__)


def as_caller(arn=None, user=None):
    """A request as the gateway forwards it: the other channel's header is `-`."""
    return _app.test_request_context(headers={
        "X-MLflow-Caller-Arn": arn or "-", "X-MLflow-User": user or "-",
        "X-MLflow-Levels": "model-approver" if user else "-"})


class Recorder:
    """An EventSender's place: what the store emits, in order."""

    def __init__(self):
        self.sent = []

    def emit(self, kind, facts):
        self.sent.append((kind, facts))
        return facts


@pytest.fixture
def store(s3, tmp_path):
    put_files(s3, 2)
    return make_store(tmp_path, s3, events=Recorder(), team_rules={})


def register(store, name, caller=None, user=None):
    with ServerWorkspaceContext("team-a"), as_caller(caller, user):
        store.create_registered_model(name)
        store.create_model_version(name, SOURCE)
    with ServerWorkspaceContext("team-a"):
        return wait_until_done(store, name)


def test_the_registrant_is_recorded_and_the_same_person_cannot_promote(store):
    version = register(store, "churn", CONTRIBUTOR)
    assert version.tags[contract.REGISTRANT_TAG] == CONTRIBUTOR
    with ServerWorkspaceContext("team-a"):
        for promote in (lambda: store.set_registered_model_alias("churn", "champion", "1"),
                        lambda: store.transition_model_version_stage("churn", "1", "Production",
                                                                     False),
                        lambda: store.transition_model_version_stage("churn", "1", "staging",
                                                                     False)):
            # alice again, now with the approver's role: the session name is the person
            with as_caller(ALICE_AS_APPROVER), pytest.raises(MlflowException) as refused:
                promote()
            assert refused.value.error_code == "PERMISSION_DENIED"
            assert refused.value.get_http_status_code() == 403
            assert str(refused.value.message).startswith(
                f"Version 1 of 'churn' was registered by {CONTRIBUTOR}, who cannot also promote "
                "it")
            assert ("in team-a, someone else with the model-approver level must promote it"
                    in refused.value.message)
        assert store.get_registered_model("churn").aliases == {}
        # another alias is not a promotion: the registrant may set it
        with as_caller(ALICE_AS_APPROVER):
            store.set_registered_model_alias("churn", "candidate", "1")
        with as_caller(BOB_AS_APPROVER):
            store.set_registered_model_alias("churn", "champion", "1")
            moved = store.transition_model_version_stage("churn", "1", "Production", False)
        assert moved.current_stage == "Production"
        assert str(store.get_model_version_by_alias("churn", "champion").version) == "1"


def test_a_cognito_user_is_the_same_person_on_either_level(store):
    register(store, "by-user", user="two-groups-user")
    with ServerWorkspaceContext("team-a"):
        with as_caller(user="two-groups-user"), pytest.raises(MlflowException,
                                                              match="two-groups-user"):
            store.set_registered_model_alias("by-user", "champion", "1")
        with as_caller(user="model-approver-user"):
            store.set_registered_model_alias("by-user", "champion", "1")


def test_a_teams_own_alias_and_its_second_person_setting(s3, tmp_path):
    put_files(s3, 1)
    rules = approval.team_rules({contract.APPROVAL_ENV: json.dumps(
        {"team-a": {"deployAlias": "prod", "requireSecondPerson": True},
         "team-b": {"requireSecondPerson": False}})})
    assert rules == {"team-a": approval.TeamRule("prod", True),
                     "team-b": approval.TeamRule("champion", False)}
    store = make_store(tmp_path, s3, events=Recorder(), team_rules=rules)
    register(store, "m", CONTRIBUTOR)
    with ServerWorkspaceContext("team-a"), as_caller(CONTRIBUTOR):
        store.set_registered_model_alias("m", "champion", "1")  # not team-a's deploy alias
        with pytest.raises(MlflowException, match="to its alias 'prod'"):
            store.set_registered_model_alias("m", "prod", "1")
    # a team without the rule: the registrant may promote
    with ServerWorkspaceContext("team-b"), as_caller(CONTRIBUTOR):
        store.create_registered_model("own")
        source = SOURCE.replace("team-a", "team-b")
        put_files(s3, 1, prefix=source)
        store.create_model_version("own", source)
    with ServerWorkspaceContext("team-b"):
        wait_until_done(store, "own")
        with as_caller(CONTRIBUTOR):
            store.set_registered_model_alias("own", "champion", "1")


@pytest.mark.parametrize("raw", ["[1]", "{not json", json.dumps({"t": {"deployAlias": "a b"}}),
                                 json.dumps({"t": {"requireSecondPerson": "yes"}})])
def test_a_bad_approval_setting_is_named(raw):
    with pytest.raises(MlflowException, match=contract.APPROVAL_ENV):
        approval.team_rules({contract.APPROVAL_ENV: raw})


def test_the_person_of_an_identity():
    assert approval.person(CONTRIBUTOR) == approval.person(ALICE_AS_APPROVER)
    assert approval.person(CONTRIBUTOR) != approval.person(BOB_AS_APPROVER)
    # the same session name in another account is someone else
    assert approval.person(CONTRIBUTOR) != approval.person(
        CONTRIBUTOR.replace("111111111111", "222222222222"))
    assert approval.person("alice") != approval.person(CONTRIBUTOR)
    assert approval.person(None) is None


def test_only_the_platform_writes_its_tags(store):
    register(store, "tagged", CONTRIBUTOR)
    env = {contract.PLATFORM_WRITER_ENV: WRITER_ROLE}
    tag = registry.ModelVersionTag(contract.DEPLOYMENT_TAG, '{"state": "InService"}')
    with ServerWorkspaceContext("team-a"):
        for caller, user in ((CONTRIBUTOR, None), (None, "admin-user"), (None, None)):
            for act in (lambda: store.set_model_version_tag("tagged", "1", tag),
                        lambda: store.delete_model_version_tag("tagged", "1", tag.key),
                        lambda: store.set_registered_model_tag("tagged", tag),
                        lambda: store.delete_registered_model_tag("tagged", tag.key)):
                with as_caller(caller, user), pytest.raises(MlflowException) as refused:
                    act()
                assert refused.value.error_code == "PERMISSION_DENIED"
                assert "are the platform's" in refused.value.message
        # the status writer's role (any of its sessions) may
        with as_caller(WRITER):
            import os
            os.environ[contract.PLATFORM_WRITER_ENV] = WRITER_ROLE
            try:
                store.set_model_version_tag("tagged", "1", tag)
                store.set_registered_model_tag("tagged", tag)
                assert approval.is_platform_writer(env=env)
                # but not the tags the store writes once, at registration
                for key in contract.STORE_OWNED_TAGS:
                    with pytest.raises(MlflowException, match="written by the tracking server"):
                        store.set_model_version_tag("tagged", "1",
                                                    registry.ModelVersionTag(key, "x"))
                    with pytest.raises(MlflowException, match="written by the tracking server"):
                        store.delete_model_version_tag("tagged", "1", key)
            finally:
                del os.environ[contract.PLATFORM_WRITER_ENV]
        version = store.get_model_version("tagged", "1")
    assert version.tags[contract.DEPLOYMENT_TAG] == '{"state": "InService"}'
    assert version.tags[contract.REGISTRANT_TAG] == CONTRIBUTOR
    # a browser user never is the writer, whatever ARN header came along
    assert not approval.is_platform_writer(
        {"X-MLflow-Caller-Arn": WRITER, "X-MLflow-User": "someone"}, env)
    with pytest.raises(MlflowException, match="IAM role ARNs"):
        approval.platform_writers({contract.PLATFORM_WRITER_ENV: WRITER})


def test_tags_a_client_brings_on_a_new_version_are_dropped(store):
    with ServerWorkspaceContext("team-a"), as_caller(CONTRIBUTOR):
        store.create_registered_model("brought")
        store.create_model_version("brought", SOURCE, tags=[
            registry.ModelVersionTag(contract.DEPLOYMENT_TAG, "{}"),
            registry.ModelVersionTag(contract.REGISTRANT_TAG, "someone else")])
    with ServerWorkspaceContext("team-a"):
        version = wait_until_done(store, "brought")
    assert contract.DEPLOYMENT_TAG not in version.tags
    assert version.tags[contract.REGISTRANT_TAG] == CONTRIBUTOR


def test_every_registry_act_is_one_event_with_exactly_the_contracts_fields(store):
    register(store, "acts", CONTRIBUTOR)
    with ServerWorkspaceContext("team-a"):
        frozen = store.get_model_version_download_uri("acts", "1")
    assert frozen.startswith(f"s3://{BUCKET}/registry/workspaces/team-a/acts/v1-")
    with ServerWorkspaceContext("team-a"):
        with as_caller(BOB_AS_APPROVER):
            store.set_registered_model_alias("acts", "champion", "1")
            store.transition_model_version_stage("acts", "1", "Staging", False)
        with as_caller(user="admin-user"):
            store.delete_registered_model_alias("acts", "champion")
            store.delete_model_version("acts", "1")
    sent = store.events.sent
    assert [kind for kind, _ in sent] == [contract.REGISTERED, contract.PROMOTED,
                                          contract.STAGE_CHANGED, contract.ALIAS_REMOVED,
                                          contract.DELETED]
    for _, facts in sent:
        assert tuple(facts) == contract.DETAIL_FIELDS
        assert facts["team"] == facts["workspace"] == "team-a"
        assert (facts["model"], facts["version"]) == ("acts", "1")
        assert facts["registrant"] == CONTRIBUTOR
        assert facts["frozen_location"] == frozen
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", facts["time"])
    by_kind = dict(sent)
    assert by_kind[contract.REGISTERED]["approver"] is None
    assert (by_kind[contract.PROMOTED]["alias"], by_kind[contract.PROMOTED]["approver"]) == (
        "champion", BOB_AS_APPROVER)
    assert by_kind[contract.STAGE_CHANGED]["stage"] == "Staging"
    assert (by_kind[contract.ALIAS_REMOVED]["alias"],
            by_kind[contract.ALIAS_REMOVED]["approver"]) == ("champion", "admin-user")
    assert by_kind[contract.DELETED]["approver"] == "admin-user"


def test_a_refused_promotion_and_a_prompt_send_no_event(store):
    register(store, "quiet", CONTRIBUTOR)
    with ServerWorkspaceContext("team-a"), as_caller(CONTRIBUTOR):
        with pytest.raises(MlflowException):
            store.set_registered_model_alias("quiet", "champion", "1")
        store.create_registered_model("prompt", tags=[RegisteredModelTag(
            registry.IS_PROMPT_TAG_KEY, "true")])
        store.create_model_version("prompt", "dummy-source", tags=[
            registry.ModelVersionTag(registry.PROMPT_TEXT_TAG_KEY, "Hi {{x}}")])
    assert [kind for kind, _ in store.events.sent] == [contract.REGISTERED]


def test_deleting_a_model_sends_one_event_per_version(store, s3):
    register(store, "two", CONTRIBUTOR)
    with ServerWorkspaceContext("team-a"), as_caller(CONTRIBUTOR):
        store.create_model_version("two", SOURCE)
    with ServerWorkspaceContext("team-a"):
        wait_until_done(store, "two", "2")
        with as_caller(user="admin-user"):
            store.delete_registered_model("two")
    deleted = [f for kind, f in store.events.sent if kind == contract.DELETED]
    assert sorted(f["version"] for f in deleted) == ["1", "2"]


# --- the sender ------------------------------------------------------------------------------

BUS = contract.event_bus_arn("us-east-1", "111111111111")


@pytest.fixture
def bus(monkeypatch):
    """The central bus with an SQS queue behind a rule: what EventBridge took. In BUS's own
    account: moto, once the sandbox's emulation has mended it (sandbox/serving.py, imported by
    other tests in the same session), finds a bus in the account its ARN names, as AWS does."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", BUS.split(":")[4])
    with mock_aws():
        eventbridge = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        eventbridge.create_event_bus(Name=contract.EVENT_BUS_NAME)
        queue = sqs.create_queue(QueueName="taken")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        eventbridge.put_rule(Name="all", EventBusName=contract.EVENT_BUS_NAME,
                             EventPattern=json.dumps(contract.audit_event_pattern()))
        eventbridge.put_targets(Rule="all", EventBusName=contract.EVENT_BUS_NAME,
                                Targets=[{"Id": "q", "Arn": queue_arn}])
        yield eventbridge, sqs, queue


def taken(sqs, queue):
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


class Flaky:
    """EventBridge that fails the first `failures` calls, then takes all."""

    def __init__(self, client, failures, partial=False):
        self.client, self.failures, self.partial, self.calls = client, failures, partial, 0

    def put_events(self, Entries):
        self.calls += 1
        if self.calls <= self.failures:
            if self.partial:
                return {"FailedEntryCount": len(Entries), "Entries": [
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
                    for _ in Entries]}
            raise ConnectionError("the network went away")
        return self.client.put_events(Entries=Entries)


def audit_lines(caplog):
    """The audit logger's lines (its own handler writes them to the process's stderr)."""
    return [json.loads(r.getMessage()) for r in caplog.records
            if r.name == "mlflow_landing_zone.audit"]


def facts(**kw):
    return events.detail(team="team-a", workspace="team-a", model="m", version=1, **kw)


def test_an_event_reaches_the_bus_with_the_contracts_envelope(bus, caplog):
    eventbridge, sqs, queue = bus
    sender = events.EventSender(BUS, client=eventbridge)
    sender.send([(events.entry(contract.PROMOTED, facts(alias="champion"), BUS), 0, 0)])
    [event] = taken(sqs, queue)
    assert event["source"] == contract.EVENT_SOURCE
    assert event["detail-type"] == contract.DETAIL_TYPES[contract.PROMOTED]
    assert tuple(sorted(event["detail"])) == tuple(sorted(contract.DETAIL_FIELDS))
    assert (event["detail"]["alias"], event["detail"]["version"]) == ("champion", "1")


@pytest.mark.parametrize("partial", [False, True])
def test_a_failed_put_is_retried_and_the_act_is_logged_first(bus, caplog, partial):
    eventbridge, sqs, queue = bus
    flaky = Flaky(eventbridge, failures=2, partial=partial)
    sender = events.EventSender(BUS, client=flaky, first_delay=0.01)
    sender.emit(contract.DELETED, facts())
    deadline = threading.Event()
    for _ in range(500):
        if sender.sent:
            break
        deadline.wait(0.01)
    assert flaky.calls == 3 and sender.sent == 1 and sender.pending() == 0
    assert len(taken(sqs, queue)) == 1
    audit = audit_lines(caplog)
    assert [a["audit"] for a in audit] == ["registry_event"]
    assert audit[0]["detail"]["model"] == "m"


def test_an_event_never_taken_is_logged_whole(caplog):
    class Down:
        def put_events(self, Entries):
            raise ConnectionError("down")

    sender = events.EventSender(BUS, client=Down(), max_attempts=2, first_delay=0)
    item = events.entry(contract.PROMOTED, facts(), BUS)
    sender.send([(item, 0, 0)])
    sender.send(sender._take())
    assert sender.pending() == 0
    assert audit_lines(caplog) == [{"audit": "registry_event_undelivered", "entry": item,
                      "why": "not taken after 2 tries: ConnectionError down"}]


def test_without_a_bus_only_the_audit_line(caplog):
    sender = events.EventSender(None)
    sender.emit(contract.REGISTERED, facts())
    assert sender.pending() == 0 and sender._thread is None
    assert [line["audit"] for line in audit_lines(caplog)] == ["registry_event"]


def test_a_detail_has_only_the_contracts_fields():
    with pytest.raises(ValueError, match="not fields"):
        events.detail(team="t", colour="blue")


def test_fastapi_routes_see_the_callers_identity_headers_as_flask_routes_do():
    """MLflow's FastAPI routes (the skill registry) have no Flask request: RequestIdentity
    hands their code the same identity headers, in the thread that runs the handler, and only
    for the request's own time."""
    import asyncio

    import anyio

    seen = []

    async def app(scope, receive, send):
        seen.append(await anyio.to_thread.run_sync(approval.caller_headers))

    headers = [(b"x-mlflow-caller-arn", CONTRIBUTOR.encode()), (b"X-MLflow-User", b"-"),
               (b"x-other", b"kept out")]
    # as WSGI gives the Flask routes a header: `_` for `-`, repeats joined by commas
    repeated = [(b"x_mlflow_user", b"alice"), (b"x-mlflow-user", b"bob")]
    middleware = approval.RequestIdentity(app)

    async def serve():
        await middleware({"type": "http", "headers": headers}, None, None)
        await middleware({"type": "http", "headers": []}, None, None)
        await middleware({"type": "http", "headers": repeated}, None, None)
        await middleware({"type": "lifespan"}, None, None)  # no request: nothing to say

    try:
        anyio.run(serve)
    finally:  # anyio.run leaves the main thread without an event loop (Pulumi's mocks need one)
        asyncio.set_event_loop(asyncio.new_event_loop())
    assert seen == [
        {"X-MLflow-Caller-Arn": CONTRIBUTOR, "X-MLflow-User": "-", "X-MLflow-Levels": ""},
        {"X-MLflow-Caller-Arn": "", "X-MLflow-User": "", "X-MLflow-Levels": ""},
        {"X-MLflow-Caller-Arn": "", "X-MLflow-User": "alice,bob", "X-MLflow-Levels": ""},
        {}]
    assert approval.caller_headers() == {}  # outside a request, as before
    assert approval.caller(seen[0]) == CONTRIBUTOR
