"""The tracking server acts for one team at a time: no confused deputy (issue 23).

Each attack is what a team-b contributor tried in the sandbox, on both channels (SigV4 with
the team's role, and a Cognito token on the browser paths), against a team-a that shares
nothing with team-b. The server refuses the location where it enters (its stores), and IAM
refuses it anyway: the server's own keys reach no team's object, and a session of its
workspace role reaches one workspace alone (emulated IAM judges session tags and copy sources
as AWS does)."""

import json
import os
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from mlflow.entities import LoggedModelInput, LoggedModelOutput, TraceInfo, TraceLocation
from mlflow.entities import TraceState
from mlflow.exceptions import MlflowException
from mlflow.tracking.request_auth.registry import _request_auth_provider_registry

from spec.accounts import registry_prefix, workspace_prefix
from mlflow_landing_zone_server import registry

from tests.sandbox_clients import identity

CHANNELS = ["client", "token"]
OWN_FILES = "made from that workspace's own files"
IS_PROMPT = "mlflow.prompt.is_prompt"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def team_b(sandbox, channel, level="contributor"):
    return identity(sandbox, level, channel, team="team-b", username="team-b-user",
                    workspace="team-b")


def raw(method, path, **kwargs):
    """A request the real client's auth signs (SigV4) or carries (the token), to the tracking
    URI of the identity in force: for what the client has no call for."""
    name = os.environ["MLFLOW_TRACKING_AUTH"]
    provider = next(p for p in _request_auth_provider_registry if p.get_name() == name)
    return requests.request(method, os.environ["MLFLOW_TRACKING_URI"] + path,
                            auth=provider.get_auth(), timeout=30, **kwargs)


def location(name, version):
    """Where a version's files are, as MLflow's REST API says (of the identity in force)."""
    return raw("GET", "/api/2.0/mlflow/model-versions/get-download-uri",
               params={"name": name, "version": version}).json()["artifact_uri"]


def bucket_of(sandbox):
    return sandbox["teams"][0]["artifact_prefix"].removeprefix("s3://").split("/")[0]


@pytest.fixture(scope="module")
def team_a(sandbox, tmp_path_factory):
    """team-a's work: a run with a file, a logged model, a registered (frozen) version."""
    folder = tmp_path_factory.mktemp("team-a") / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    (folder / "notes.txt").write_text("team-a's secret notes")
    name = unique("team-a-model")
    with identity(sandbox, "contributor", "client") as c:
        experiment = c.create_experiment(unique("team-a-work"))
        run = c.create_run(experiment).info
        c.log_artifacts(run.run_id, str(folder), artifact_path="model")
        logged = c.create_logged_model(experiment, name="team-a-logged")
        c.create_registered_model(name)
        c.create_model_version(name, f"runs:/{run.run_id}/model", run_id=run.run_id)
        location = c.get_model_version_download_uri(name, "1")
    return {"experiment": experiment, "run": run, "model_id": logged.model_id, "name": name,
            "location": location, "notes_key": f"{run.artifact_uri}/model/notes.txt"}


@pytest.fixture(scope="module")
def team_b_run(sandbox):
    """A team-b run with model files (logged over SigV4: a browser's token reaches no S3)."""
    with team_b(sandbox, "client") as c:
        experiment = c.create_experiment(unique("team-b-own"))
        run = c.create_run(experiment).info
        c.log_text(run.run_id, "weights", "model/weights.txt")
    return run


# --- 1. a version is a prompt only by MLflow's own rule -------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_a_prompt_typed_model_gives_no_version_outside_the_workspace(sandbox, team_a, channel):
    bucket = bucket_of(sandbox)
    foreign = (f"workspaces/team-a/{team_a['experiment']}/{team_a['run'].run_id}/artifacts/"
               "model/notes.txt")
    with team_b(sandbox, channel) as c:
        # the model tagged a prompt up front, or its version tagged twice (true, then false)
        typed = unique("prompt-typed")  # MLflow's client refuses this; its REST API does not
        assert raw("POST", "/api/2.0/mlflow/registered-models/create", json={
            "name": typed, "tags": [{"key": IS_PROMPT, "value": "true"}]}).status_code == 200
        twice = unique("tagged-twice")
        c.create_registered_model(twice)
        for name, tags in ((typed, []), (twice, [{"key": IS_PROMPT, "value": "true"},
                                                 {"key": IS_PROMPT, "value": "false"}])):
            response = raw("POST", "/api/2.0/mlflow/model-versions/create", json={
                "name": name, "source": f"s3://{bucket}/artifacts", "tags": tags})
            assert response.status_code == 400, response.text
            assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
            assert OWN_FILES in response.json()["message"]
            served = raw("GET", "/model-versions/get-artifact",
                         params={"name": name, "version": "1", "path": foreign})
            assert served.status_code == 404 and b"secret" not in served.content
            assert c.search_model_versions(f"name='{name}'") == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_whether_a_model_is_a_prompt_cannot_change_once_it_has_versions(sandbox, team_b_run,
                                                                         channel):
    run = team_b_run
    with team_b(sandbox, channel) as c:
        name = unique("later-a-prompt")
        c.create_registered_model(name)
        c.create_model_version(name, f"runs:/{run.run_id}/model", run_id=run.run_id)
        with pytest.raises(MlflowException, match="cannot change now"):
            c.set_registered_model_tag(name, IS_PROMPT, "true")
        # a prompt (its version's source is MLflow's placeholder) stays one
        prompt = unique("a-prompt")
        flag = [{"key": IS_PROMPT, "value": "true"}]
        assert raw("POST", "/api/2.0/mlflow/registered-models/create",
                   json={"name": prompt, "tags": flag}).status_code == 200
        assert raw("POST", "/api/2.0/mlflow/model-versions/create", json={
            "name": prompt, "source": "dummy-source",
            "tags": flag + [{"key": "mlflow.prompt.text", "value": "Hello {{name}}"}]}
        ).status_code == 200
        removed = raw("DELETE", "/api/2.0/mlflow/registered-models/delete-tag",
                      json={"name": prompt, "key": IS_PROMPT})
        assert removed.status_code == 400 and "cannot change now" in removed.text
        version = c.get_model_version(name, "1")
    # a version with files is always frozen, whatever the tags said
    assert version.status == "READY"
    assert version.tags[registry.FROZEN_FROM_TAG] == f"{run.artifact_uri}/model"


@pytest.mark.parametrize("channel", CHANNELS)
def test_clients_cannot_set_the_platforms_version_tags(sandbox, team_b_run, channel):
    run = team_b_run
    with team_b(sandbox, channel) as c:
        name = unique("tagged")
        c.create_registered_model(name)
        response = raw("POST", "/api/2.0/mlflow/model-versions/create", json={
            "name": name, "source": f"runs:/{run.run_id}/model", "run_id": run.run_id,
            "tags": [{"key": registry.FROZEN_FROM_TAG, "value": "s3://elsewhere/model"}]})
        assert response.status_code == 200, response.text
        with pytest.raises(MlflowException, match="are the platform's") as refused:
            c.set_model_version_tag(name, "1", "landing_zone.deployment", "{}")
        assert refused.value.error_code == "PERMISSION_DENIED"
        version = c.get_model_version(name, "1")
    assert version.tags[registry.FROZEN_FROM_TAG] == f"{run.artifact_uri}/model"
    assert "landing_zone.deployment" not in version.tags


# --- 2. the copy's source ------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_a_source_under_the_registry_is_refused_and_a_version_is_made_from_a_version(
        sandbox, team_a, channel):
    """The copy loop: a version whose source was the model's own registry folder was copied
    into that folder, past one list page again and again."""
    with identity(sandbox, "contributor", channel) as c:
        folder = team_a["location"].rsplit("/", 1)[0]  # the model's folder in the registry
        for source in (folder, team_a["location"], f"{folder}/m/..", f"{folder}/.."):
            # the last two: MLflow's own check refuses relative paths first
            with pytest.raises(MlflowException, match=f"{OWN_FILES}|without relative path"):
                c.create_model_version(team_a["name"], source)
        copy = c.create_model_version(team_a["name"], f"models:/{team_a['name']}/1")
        copy = c.get_model_version(team_a["name"], copy.version)
        location = c.get_model_version_download_uri(team_a["name"], copy.version)
    assert copy.status == "READY" and copy.status_message.startswith("2 files (")
    assert copy.tags[registry.FROZEN_FROM_TAG] == team_a["location"]
    assert location.startswith(folder + "/v") and location != team_a["location"]


# --- 3. trace storage is the server's ------------------------------------------------------

def foreign_trace_location(team_a):
    return f"{team_a['run'].artifact_uri.split('/artifacts/workspaces/')[0]}" \
           f"/artifacts/workspaces/team-a/{team_a['experiment']}/traces/tr-stolen/artifacts"


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_client_cannot_point_a_trace_at_another_workspaces_storage(sandbox, team_a, channel):
    location = foreign_trace_location(team_a)
    with team_b(sandbox, channel) as c:
        experiment = c.create_experiment(unique("team-b-traces"))
        store = c._tracking_client.store
        for key in ("mlflow.artifactLocation", "mlflow.trace.spansLocation",
                    "mlflow.trace.archiveLocation"):
            info = TraceInfo(trace_id=f"tr-{uuid.uuid4().hex}",
                             trace_location=TraceLocation.from_experiment_id(experiment),
                             request_time=int(time.time() * 1000), state=TraceState.OK,
                             tags={key: location})
            with pytest.raises(MlflowException, match="only the tracking server sets it"):
                store.start_trace(info)
        own = store.start_trace(TraceInfo(
            trace_id=f"tr-{uuid.uuid4().hex}",
            trace_location=TraceLocation.from_experiment_id(experiment),
            request_time=int(time.time() * 1000), state=TraceState.OK))
        tagged = raw("PATCH", f"/api/3.0/mlflow/traces/{own.trace_id}/tags",
                     json={"key": "mlflow.artifactLocation", "value": location})
        # MLflow 3.18 refuses this one itself on set-tag, before the store (3.17 let it through)
        assert tagged.status_code == 400 and (
            "Tag 'mlflow.artifactLocation' is immutable and cannot be set on a trace"
            in tagged.text)
        served = raw("GET", "/ajax-api/2.0/mlflow/get-trace-artifact",
                     params={"request_id": own.trace_id})
        kept = store.get_trace_info(own.trace_id).tags["mlflow.artifactLocation"]
    assert "/workspaces/team-b/" in kept
    assert b"team-a" not in served.content


@pytest.mark.parametrize("channel", CHANNELS)
def test_spans_cannot_name_a_traces_storage_either(sandbox, team_a, channel):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    with team_b(sandbox, channel) as c:
        experiment = c.create_experiment(unique("team-b-spans"))
        now = time.time_ns()
        span = Span(trace_id=uuid.uuid4().bytes, span_id=uuid.uuid4().bytes[:8], name="root",
                    start_time_unix_nano=now, end_time_unix_nano=now + 1000,
                    attributes=[KeyValue(key="mlflow.traceTag.mlflow.artifactLocation",
                                         value=AnyValue(string_value=json.dumps(
                                             foreign_trace_location(team_a))))])
        body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
            scope_spans=[ScopeSpans(spans=[span])])]).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf",
                   "x-mlflow-experiment-id": experiment}
        if channel == "token":
            headers["X-MLFLOW-WORKSPACE"] = "team-b"
        response = raw("POST", "/v1/traces", data=body, headers=headers)
        traces = c.search_traces(experiment_ids=[experiment])
    assert response.status_code == 400, response.text
    assert "only the tracking server sets it" in response.text
    assert traces == []


def otlp_span(trace_id: bytes, name: str):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    now = time.time_ns()
    span = Span(trace_id=trace_id, span_id=uuid.uuid4().bytes[:8], name=name,
                start_time_unix_nano=now, end_time_unix_nano=now + 1000)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        scope_spans=[ScopeSpans(spans=[span])])]).SerializeToString()


@pytest.mark.parametrize("channel", CHANNELS)
def test_spans_for_another_workspaces_trace_are_refused_not_dropped(sandbox, channel):
    """MLflow alone answers 200 and drops the spans (a warning in the server's log); the
    caller must learn that nothing was stored, and team-a's trace must not change."""
    trace_id = uuid.uuid4().bytes
    mlflow_id = "tr-" + trace_id.hex()
    with identity(sandbox, "contributor", "client") as c:
        theirs = c.create_experiment(unique("team-a-traced"))
        headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": theirs}
        assert raw("POST", "/v1/traces", data=otlp_span(trace_id, "team-a's root"),
                   headers=headers).status_code == 200
        before = c.get_trace(mlflow_id)
    with team_b(sandbox, channel) as c:
        experiment = c.create_experiment(unique("team-b-spans-in"))
        headers = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment}
        if channel == "token":
            headers["X-MLFLOW-WORKSPACE"] = "team-b"
        refused = raw("POST", "/v1/traces", data=otlp_span(trace_id, "team-b's span"),
                      headers=headers)
        own_id = uuid.uuid4().bytes
        own = raw("POST", "/v1/traces", data=otlp_span(own_id, "team-b's own"), headers=headers)
        own_trace = c.get_trace("tr-" + own_id.hex())
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "not one of this workspace's traces" in refused.json()["message"]
    assert "Nothing of this batch was stored" in refused.json()["message"]
    assert own.status_code == 200, own.text
    assert [s.name for s in own_trace.data.spans] == ["team-b's own"]
    with identity(sandbox, "contributor", "client") as c:
        after = c.get_trace(mlflow_id)
    assert [s.name for s in after.data.spans] == [s.name for s in before.data.spans] \
        == ["team-a's root"]


# --- 4. ids stay in their workspace --------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_another_workspaces_ids_are_not_references(sandbox, team_a, channel):
    with team_b(sandbox, channel) as c:
        experiment = c.create_experiment(unique("team-b-refs"))
        run = c.create_run(experiment).info
        attempts = {
            "model as a run's input": lambda: c.log_inputs(
                run.run_id, models=[LoggedModelInput(team_a["model_id"])]),
            "model as a run's output": lambda: c.log_outputs(
                run.run_id, [LoggedModelOutput(team_a["model_id"], 0)]),
            "run as a logged model's source": lambda: c.create_logged_model(
                experiment, source_run_id=team_a["run"].run_id),
            "a dataset in an experiment": lambda: c.create_dataset(
                unique("ds"), experiment_id=[team_a["experiment"]]),
        }
        refused = {}
        for what, attempt in attempts.items():
            with pytest.raises(MlflowException) as error:
                attempt()
            refused[what] = error.value.error_code
        own = c.create_dataset(unique("ds"), experiment_id=[experiment])
        with pytest.raises(MlflowException) as error:
            c.add_dataset_to_experiments(own.dataset_id, [team_a["experiment"]])
        refused["a dataset added to an experiment"] = error.value.error_code
        run_now = c.get_run(run.run_id)
    assert refused == {what: "RESOURCE_DOES_NOT_EXIST" for what in refused}
    assert run_now.inputs.model_inputs == [] and run_now.outputs.model_outputs == []


# --- 5. IAM is the backstop ----------------------------------------------------------------

def server_keys(sandbox) -> dict:
    """The credentials the tracking server's process holds (as its task role's are)."""
    environ = Path(f"/proc/{sandbox['mlflow_pid']}/environ").read_bytes().split(b"\0")
    env = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
    return {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
            "workspace_role": env["MLFLOW_LZ_WORKSPACE_ROLE_ARN"]}


def aws(sandbox, service, credentials):
    return boto3.client(service, region_name="us-east-1",
                        endpoint_url=sandbox["aws"]["endpoint_url"], **credentials)


def session(sandbox, keys, workspace, purpose="serve"):
    sts = aws(sandbox, "sts", {k: v for k, v in keys.items() if k != "workspace_role"})
    c = sts.assume_role(RoleArn=keys["workspace_role"], RoleSessionName="test",
                        Tags=[{"Key": "workspace", "Value": workspace},
                              {"Key": "purpose", "Value": purpose}])["Credentials"]
    return aws(sandbox, "s3", {"aws_access_key_id": c["AccessKeyId"],
                               "aws_secret_access_key": c["SecretAccessKey"],
                               "aws_session_token": c["SessionToken"]})


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "allowed"


def test_the_servers_own_keys_reach_no_teams_objects(sandbox, team_a):
    keys = server_keys(sandbox)
    s3 = aws(sandbox, "s3", {k: v for k, v in keys.items() if k != "workspace_role"})
    bucket = bucket_of(sandbox)
    _, notes = team_a["notes_key"].removeprefix("s3://").split("/", 1)
    assert code(lambda: s3.get_object(Bucket=bucket, Key=notes)) == "AccessDenied"
    assert code(lambda: s3.put_object(Bucket=bucket, Key=f"{registry_prefix('team-a')}x",
                                      Body=b"x")) == "AccessDenied"
    assert code(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=workspace_prefix("team-a"))
                ) == "AccessDenied"


def test_a_workspace_session_reaches_its_workspace_alone(sandbox, team_a):
    keys = server_keys(sandbox)
    bucket = bucket_of(sandbox)
    _, notes = team_a["notes_key"].removeprefix("s3://").split("/", 1)
    _, frozen = team_a["location"].removeprefix("s3://").split("/", 1)
    own_a, own_b = session(sandbox, keys, "team-a"), session(sandbox, keys, "team-b")
    freeze_b = session(sandbox, keys, "team-b", "freeze")
    assert own_a.get_object(Bucket=bucket, Key=notes)["Body"].read() == b"team-a's secret notes"
    attempts = {
        "team-b reads team-a's run files": lambda: own_b.get_object(Bucket=bucket, Key=notes),
        "team-b reads team-a's frozen files": lambda: own_b.get_object(
            Bucket=bucket, Key=f"{frozen}/MLmodel"),
        "team-b lists team-a": lambda: own_b.list_objects_v2(
            Bucket=bucket, Prefix=workspace_prefix("team-a")),
        "team-b freezes into team-a's registry": lambda: freeze_b.put_object(
            Bucket=bucket, Key=f"{registry_prefix('team-a')}m/v9/x", Body=b"x"),
        # S3 checks a copy's source (moto does not: the sandbox's emulated IAM does)
        "team-b copies team-a's files into its own": lambda: freeze_b.copy_object(
            Bucket=bucket, Key=f"{registry_prefix('team-b')}m/v9/notes.txt",
            CopySource={"Bucket": bucket, "Key": notes}),
        "team-b copies them into its run files": lambda: own_b.copy_object(
            Bucket=bucket, Key=f"{workspace_prefix('team-b')}stolen.txt",
            CopySource={"Bucket": bucket, "Key": notes}),
        "a serving session writes the registry": lambda: own_b.put_object(
            Bucket=bucket, Key=f"{registry_prefix('team-b')}m/v9/x", Body=b"x"),
        "a freeze session deletes there": lambda: freeze_b.delete_object(
            Bucket=bucket, Key=f"{registry_prefix('team-b')}m/v9/x"),
    }
    assert {what: code(call) for what, call in attempts.items()} == {
        what: "AccessDenied" for what in attempts}
    # what each session may do, it does
    assert code(lambda: freeze_b.put_object(Bucket=bucket, Key=f"{registry_prefix('team-b')}"
                                            f"probe/{uuid.uuid4().hex}", Body=b"x")) == "allowed"
    assert code(lambda: own_b.list_objects_v2(Bucket=bucket,
                                              Prefix=workspace_prefix("team-b"))) == "allowed"


def test_only_the_server_assumes_the_workspace_role_and_only_tagged(sandbox):
    keys = server_keys(sandbox)
    sts = aws(sandbox, "sts", {k: v for k, v in keys.items() if k != "workspace_role"})
    untagged = code(lambda: sts.assume_role(RoleArn=keys["workspace_role"],
                                            RoleSessionName="untagged"))
    odd_purpose = code(lambda: sts.assume_role(
        RoleArn=keys["workspace_role"], RoleSessionName="odd",
        Tags=[{"Key": "workspace", "Value": "team-a"}, {"Key": "purpose", "Value": "admin"}]))
    assert (untagged, odd_purpose) == ("AccessDenied", "AccessDenied")


# --- the frozen copy holds for every version an approver can promote -----------------------

def test_a_prompt_typed_version_of_run_files_is_frozen_and_its_approved_bytes_hold(
        sandbox, team_a, tmp_path):
    """Tagged a prompt, a version of the run's own files used to point at them (no copy): after
    the approver's alias, the contributor rewrote the file and the alias served the new bytes."""
    run = team_a["run"]
    name = unique("prompt-typed-own")
    with identity(sandbox, "contributor", "client") as c:
        flag = [{"key": IS_PROMPT, "value": "true"}]
        assert raw("POST", "/api/2.0/mlflow/registered-models/create",
                   json={"name": name, "tags": flag}).status_code == 200
        # the model is tagged a prompt; MLflow checks only the version's own tags
        created = raw("POST", "/api/2.0/mlflow/model-versions/create", json={
            "name": name, "source": f"{run.artifact_uri}/model", "run_id": run.run_id})
        assert created.status_code == 200, created.text
        deadline = time.monotonic() + 30
        while c.get_model_version(name, "1").status != "READY" and time.monotonic() < deadline:
            time.sleep(0.2)
    # MLflow's client refuses model calls on a model tagged a prompt: REST, as the attack was
    with identity(sandbox, "model-approver", "client"):
        assert raw("POST", "/api/2.0/mlflow/registered-models/alias", json={
            "name": name, "alias": "prod", "version": "1"}).status_code == 200
    with identity(sandbox, "contributor", "client") as c:
        c.get_run(run.run_id)  # signs in (MLflow keeps the run's artifact store from before)
        c.log_text(run.run_id, "rewritten", "model/notes.txt")
        by_alias = raw("GET", "/api/2.0/mlflow/registered-models/alias",
                       params={"name": name, "alias": "prod"}).json()["model_version"]
        served = raw("GET", "/model-versions/get-artifact",
                     params={"name": name, "version": by_alias["version"], "path": "notes.txt"})
        assert f"/{registry_prefix('team-a')}" in location(name, "1")
    tags = {t["key"]: t["value"] for t in by_alias["tags"]}
    assert served.status_code == 200 and served.text == "team-a's secret notes"
    assert tags[registry.FROZEN_FROM_TAG] == f"{run.artifact_uri}/model"


def test_every_ready_version_with_files_serves_a_frozen_copy(sandbox, team_a):
    """Whatever the tests above tried: in every team's workspace, a READY version that is not
    a prompt carries `landing_zone.frozen_from` and serves from the registry prefix."""
    seen = 0
    for team in ("team-a", "team-b"):
        with identity(sandbox, "admin", "token", username="admin-user", workspace=team):
            found = raw("GET", "/api/2.0/mlflow/model-versions/search",
                        params={"max_results": 1000}).json()["model_versions"]
            for version in found:
                if version["status"] != "READY" or version["source"] in ("dummy-source",
                                                                         "prompt-template"):
                    continue
                seen += 1
                tags = {t["key"]: t["value"] for t in version.get("tags", [])}
                assert registry.FROZEN_FROM_TAG in tags, (team, version["name"])
                assert f"/{registry_prefix(team)}" in location(version["name"],
                                                               version["version"]), version
    assert seen >= 4
