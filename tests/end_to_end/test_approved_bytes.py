"""Approved bytes cannot change: a registered version serves a frozen copy of its files, which
only the tracking server writes (components/mlflow_image/plugin). Proved through the sandbox
with the real MLflow client, a contributor's S3 credentials and an approver's alias."""

import hashlib
import uuid
from pathlib import Path

import boto3
import mlflow
import pytest
from botocore.exceptions import ClientError
from mlflow.exceptions import MlflowException

from mlflow_landing_zone_server import registry
from spec.accounts import registry_prefix, workspace_prefix

from tests.sandbox_clients import assume_central, audit_lines, identity

TEAM = "team-a"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def digests(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def s3_as(sandbox, level, team=TEAM):
    c = assume_central(sandbox, level, team)
    return boto3.client("s3", region_name="us-east-1", endpoint_url=sandbox["aws"]["endpoint_url"],
                        aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"])


def split(uri):
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def denied(call):
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def approved(sandbox, tmp_path_factory):
    """A contributor's model files, registered by the contributor, given an alias by the
    approver."""
    folder = tmp_path_factory.mktemp("approved") / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    (folder / "weights.bin").write_bytes(uuid.uuid4().bytes * 4096)
    name = unique("frozen-model")
    with identity(sandbox, "contributor", "client") as c:
        experiment = c.create_experiment(unique("approved-bytes"))
        run = c.create_run(experiment).info
        c.log_artifacts(run.run_id, str(folder), artifact_path="model")
        c.create_registered_model(name)
        version = c.create_model_version(name, f"runs:/{run.run_id}/model", run_id=run.run_id)
        location = c.get_model_version_download_uri(name, version.version)
        version = c.get_model_version(name, version.version)
    with identity(sandbox, "model-approver", "client") as c:
        c.set_registered_model_alias(name, "champion", version.version)
    return {"name": name, "version": version, "location": location, "run": run,
            "experiment": experiment, "digests": digests(folder), "folder": folder}


def test_a_registered_version_serves_a_copy_under_the_registry_prefix(sandbox, approved):
    bucket, _ = split(sandbox["teams"][0]["artifact_prefix"])
    frozen = f"s3://{bucket}/{registry_prefix(TEAM)}"
    assert approved["location"].startswith(frozen + approved["name"] + "/v1-")
    version = approved["version"]
    assert version.status == "READY"
    assert version.status_message.startswith("2 files (")
    assert version.tags[registry.FROZEN_FROM_TAG] == f"{approved['run'].artifact_uri}/model"
    assert approved["run"].artifact_uri.startswith(
        f"s3://{bucket}/{workspace_prefix(TEAM)}")


def test_a_contributor_cannot_change_the_approved_bytes_in_any_way(sandbox, approved, tmp_path):
    s3 = s3_as(sandbox, "contributor")
    bucket, key = split(approved["location"])
    weights, mlmodel = f"{key}/weights.bin", f"{key}/MLmodel"
    _, own = split(f"{approved['run'].artifact_uri}/model")
    # The contributor reads the frozen files (to load the model) ...
    assert hashlib.sha256(s3.get_object(Bucket=bucket, Key=weights)["Body"].read()
                          ).hexdigest() == approved["digests"]["weights.bin"]
    # ... and can neither put, copy over, delete nor upload in parts to them.
    attempts = {
        "put": lambda: s3.put_object(Bucket=bucket, Key=weights, Body=b"tampered"),
        "copy": lambda: s3.copy_object(Bucket=bucket, Key=weights,
                                       CopySource={"Bucket": bucket, "Key": f"{own}/MLmodel"}),
        "delete": lambda: s3.delete_object(Bucket=bucket, Key=mlmodel),
        "multipart": lambda: s3.create_multipart_upload(Bucket=bucket, Key=weights),
        "new-file": lambda: s3.put_object(Bucket=bucket, Key=f"{key}/extra.py", Body=b"x"),
    }
    assert {what: denied(call) for what, call in attempts.items()} == {
        what: "AccessDenied" for what in attempts}
    batch = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": weights},
                                                                 {"Key": mlmodel}]})
    assert ([e["Code"] for e in batch.get("Errors", [])], batch.get("Deleted", [])) == (
        ["AccessDenied", "AccessDenied"], [])
    # The run's own files stay the contributor's to overwrite (deleting is an admin's).
    s3.put_object(Bucket=bucket, Key=f"{own}/weights.bin", Body=b"retrained")
    s3.put_object(Bucket=bucket, Key=f"{own}/MLmodel", Body=b"flavors: {changed: true}\n")
    with identity(sandbox, "contributor", "client"), mlflow.start_run(approved["run"].run_id):
        mlflow.log_artifact(str(_write(tmp_path / "weights.bin", b"again")),
                            artifact_path="model")
    # The alias still loads exactly the approved bytes.
    with identity(sandbox, "reader", "client"):
        loaded = Path(mlflow.artifacts.download_artifacts(
            f"models:/{approved['name']}@champion", dst_path=str(tmp_path / "loaded")))
    # exactly the approved files (MLflow 3.17's download wrote a `registered_model_meta` file
    # beside them; 3.18 writes nothing of its own)
    assert digests(loaded) == approved["digests"]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_no_level_of_any_team_writes_the_registry_prefix(sandbox, approved):
    bucket, key = split(approved["location"])
    for team, level in [(TEAM, "reader"), (TEAM, "model-approver"), (TEAM, "admin"),
                        ("team-b", "contributor")]:
        s3 = s3_as(sandbox, level, team)
        assert denied(lambda: s3.put_object(Bucket=bucket, Key=f"{key}/weights.bin",
                                            Body=b"x")) == "AccessDenied", (team, level)
        assert denied(lambda: s3.delete_object(Bucket=bucket, Key=f"{key}/MLmodel")
                      ) == "AccessDenied", (team, level)


OWN_FILES = "made from that workspace's own files"


def test_another_team_cannot_read_the_frozen_files(sandbox, approved):
    """team-a shares nothing: team-b's levels read none of its registered versions' files,
    while team-a's reader does."""
    bucket, key = split(approved["location"])
    assert s3_as(sandbox, "reader").get_object(Bucket=bucket, Key=f"{key}/MLmodel")
    for level in ("reader", "contributor"):
        s3 = s3_as(sandbox, level, "team-b")
        assert denied(lambda: s3.get_object(Bucket=bucket, Key=f"{key}/MLmodel")
                      ) == "AccessDenied", level
        assert denied(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=registry_prefix(TEAM))
                      ) == "AccessDenied", level


@pytest.mark.parametrize("source, refusal", [
    ("s3://{bucket}/artifacts/workspaces/team-b/1/secret/model", OWN_FILES),
    ("s3://{bucket}/registry/workspaces/team-b/someone/v1-abc", OWN_FILES),
    ("s3://another-bucket/model", OWN_FILES),
    ("gs://another-bucket/model", OWN_FILES),
    # MLflow's own checks come first for these (the store refuses them too: a test below)
    ("file:///etc", "local path"),
    ("s3://{bucket}/artifacts/workspaces/team-a/../team-b/model", "without relative path"),
])
def test_a_version_is_made_only_from_its_own_workspaces_files(sandbox, approved, source,
                                                               refusal):
    """The server's role reads every team's files: it must never copy another team's into a
    workspace that cannot read them (nor anything from outside the bucket)."""
    bucket, _ = split(approved["location"])
    with identity(sandbox, "contributor", "client") as c:
        with pytest.raises(MlflowException, match=refusal):
            c.create_model_version(approved["name"], source.format(bucket=bucket))
        numbers = [v.version for v in c.search_model_versions(f"name='{approved['name']}'")]
    assert numbers == ["1"]


def test_a_prompt_versions_text_is_frozen_and_its_model_config_once_promoted(sandbox):
    name = unique("frozen-prompt")
    with identity(sandbox, "contributor", "client") as c:
        mlflow.genai.register_prompt(name=name, template="Summarise {{text}}",
                                     model_config={"temperature": 0.1})
        for change in (lambda: c.set_prompt_version_tag(name, "1", "mlflow.prompt.text", "Leak"),
                       lambda: c.delete_prompt_version_tag(name, "1", "mlflow.prompt.text"),
                       lambda: c.set_prompt_version_tag(name, "1", "_mlflow_prompt_type",
                                                        "chat")):
            with pytest.raises(MlflowException, match="is frozen"):
                change()
        # before promotion the model configuration is MLflow's mutable metadata
        mlflow.genai.set_prompt_model_config(name, 1, {"temperature": 0.2})
    with identity(sandbox, "model-approver", "client"):
        mlflow.genai.set_prompt_alias(name, "production", 1)
    with identity(sandbox, "contributor", "client"):
        with pytest.raises(MlflowException, match="has been promoted"):
            mlflow.genai.set_prompt_model_config(name, 1, {"temperature": 0.9})
        loaded = mlflow.genai.load_prompt(f"prompts:/{name}@production")
    assert loaded.template == "Summarise {{text}}"
    assert loaded.model_config["temperature"] == 0.2


@pytest.mark.parametrize("channel", ["client", "token"])
def test_an_admin_deletes_a_version_and_the_server_logs_who_and_what(sandbox, approved, channel):
    name = unique("deleted-model")
    with identity(sandbox, "contributor", "client") as c:
        c.create_registered_model(name)
        c.create_model_version(name, f"runs:/{approved['run'].run_id}/model",
                               run_id=approved["run"].run_id)
        location = c.get_model_version_download_uri(name, "1")
        with pytest.raises(MlflowException, match="PERMISSION_DENIED|not authorized"):
            c.delete_model_version(name, "1")
    with identity(sandbox, "admin", channel) as c:
        c.delete_model_version(name, "1")
    # (the registry's events for the version, issue 27, are audit lines of their own)
    lines = audit_lines(sandbox, name, kind="model_version_deleted")
    assert len(lines) == 1
    entry = lines[0]
    assert entry["audit"] == "model_version_deleted"
    assert (entry["workspace"], entry["name"]) == (TEAM, name)
    assert entry["versions"][0]["storage_location"] == location
    caller = entry["caller"]
    if channel == "client":  # the role's ARN names team and level
        assert f":assumed-role/mlflow-{TEAM}-admin/" in caller["X-MLflow-Caller-Arn"]
        assert (caller["X-MLflow-User"], caller["X-MLflow-Levels"]) == ("-", "-")
    else:
        assert (caller["X-MLflow-Caller-Arn"], caller["X-MLflow-User"],
                caller["X-MLflow-Levels"]) == ("-", "admin-user", "admin")
    # the frozen files stay (nobody deletes under the registry prefix)
    bucket, key = split(location)
    s3 = s3_as(sandbox, "reader")
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}/")["KeyCount"] == 2


def test_the_server_refuses_to_start_without_s3_roots(monkeypatch):
    monkeypatch.delenv(registry.REGISTRY_ROOT_ENV, raising=False)
    monkeypatch.setenv(registry.ARTIFACT_ROOT_ENV, "s3://bucket/artifacts")
    with pytest.raises(MlflowException, match="MLFLOW_LZ_REGISTRY_ROOT"):
        registry.store_factory("sqlite:///:memory:")


@pytest.mark.parametrize("source", [
    "s3://bucket/artifacts/workspaces/team-a/../team-b/model",
    "s3://bucket/artifacts/workspaces/team-a/./../../registry/workspaces/team-b/m",
    "file:///etc", "s3://bucket/artifacts/workspaces/team-ab/model",
    "s3://bucket/artifacts/workspaces/team-a", "s3://bucket/artifacts/model",
    # the registry's copies are named only as models:/<name>/<version> (the store resolves
    # them): a raw location there could be the model's own folder, which holds the new copy
    "s3://bucket/registry/workspaces/team-a/m/v1-0123456789ab",
    "s3://bucket/registry/workspaces/team-a/m", "s3://bucket/registry/workspaces/team-a/x",
])
def test_the_store_itself_refuses_sources_outside_the_workspace(frozen_store, source):
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    with ServerWorkspaceContext("team-a"), pytest.raises(MlflowException, match=OWN_FILES):
        frozen_store._checked_location("m", source)


def test_the_store_accepts_its_workspaces_files(frozen_store):
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    with ServerWorkspaceContext("team-a"):
        source = "s3://bucket/artifacts/workspaces/team-a/3/abc/artifacts/model/"
        assert frozen_store._checked_location("m", source) == source.rstrip("/")


def test_a_long_name_is_frozen_under_its_digest(frozen_store):
    location = frozen_store._frozen_location("team-a", "ü" * 256, 7)
    assert len(location) <= registry.STORAGE_LOCATION_MAX
    assert location.startswith("s3://bucket/registry/workspaces/team-a/"
                               + hashlib.sha256(("ü" * 256).encode()).hexdigest() + "/v7-")
    assert frozen_store._frozen_location("team-a", "a b/c", 1).startswith(
        "s3://bucket/registry/workspaces/team-a/a%20b%2Fc/v1-")


@pytest.fixture(scope="module")
def frozen_store(tmp_path_factory):
    db = tmp_path_factory.mktemp("registry") / "mlflow.db"
    return registry.FrozenVersionsStore(f"sqlite:///{db}", registry_root="s3://bucket/registry",
                                        artifact_root="s3://bucket/artifacts",
                                        s3_client=object())
