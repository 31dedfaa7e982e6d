"""The registry's frozen copy, in-process on an emulated S3 (no server): the source is listed
once and capped, each object is copied once (in parts past the transfer threshold), a retried
copy is idempotent, a failed one is never READY nor promoted, and a copy belongs to one worker
at a time (components/mlflow_image/plugin/mlflow_landing_zone_server/registry.py)."""

import shutil
import threading
import time

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import ServerWorkspaceContext
from moto import mock_aws

from mlflow_landing_zone_server import registry

BUCKET = "bucket"
SOURCE = f"s3://{BUCKET}/artifacts/workspaces/team-a/1/run/artifacts/model"


class CountingS3:
    """A boto3 S3 client that counts the calls the store makes."""

    def __init__(self, client, fail_copy_of=None):
        self._client = client
        self.calls = {}
        self.fail_copy_of = fail_copy_of

    def __getattr__(self, name):
        method = getattr(self._client, name)

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "copy" and self.fail_copy_of and args[0]["Key"].endswith(self.fail_copy_of):
                raise RuntimeError("the network went away")
            return method(*args, **kwargs)
        return counted

    def get_paginator(self, name):
        paginator = self._client.get_paginator(name)
        calls = self.calls

        class Counted:
            def paginate(self, **kwargs):
                for page in paginator.paginate(**kwargs):
                    calls[f"{name} page"] = calls.get(f"{name} page", 0) + 1
                    yield page
        return Counted()


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_files(s3, count, size=10, prefix=SOURCE):
    key = prefix.removeprefix(f"s3://{BUCKET}/")
    for i in range(count):
        s3.put_object(Bucket=BUCKET, Key=f"{key}/file-{i:05d}.bin", Body=bytes([i % 251]) * size)


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory):
    """MLflow's schema, made once (its migrations take seconds): each test copies the file."""
    path = tmp_path_factory.mktemp("schema") / "mlflow.db"
    registry.FrozenVersionsStore(f"sqlite:///{path}", registry_root=f"s3://{BUCKET}/registry",
                                 artifact_root=f"s3://{BUCKET}/artifacts", s3_client=object(),
                                 resume=False)
    return path


@pytest.fixture(autouse=True)
def database(tmp_path, empty_database):
    if not (tmp_path / "mlflow.db").exists():
        shutil.copy(empty_database, tmp_path / "mlflow.db")


def make_store(tmp_path, client, **kwargs):
    return registry.FrozenVersionsStore(
        f"sqlite:///{tmp_path / 'mlflow.db'}", registry_root=f"s3://{BUCKET}/registry",
        artifact_root=f"s3://{BUCKET}/artifacts", s3_client=client, resume=False, **kwargs)


def wait_until_done(store, name, version="1"):
    deadline = time.monotonic() + 120  # a loaded machine
    while time.monotonic() < deadline:
        found = store.get_model_version(name, version)
        if found.status != registry.PENDING:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{name} v{version} still {found.status}: {found.status_message}")


def objects_under(s3, location):
    key = location.removeprefix(f"s3://{BUCKET}/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{key}/")
    return {item["Key"][len(key) + 1:]: item["Size"] for page in pages
            for item in page.get("Contents", [])}


def register(store, name, source=SOURCE):
    with ServerWorkspaceContext("team-a"):
        store.create_registered_model(name)
        store.create_model_version(name, source)
        return wait_until_done(store, name)


def test_the_source_is_listed_once_and_each_object_copied_once(s3, tmp_path):
    put_files(s3, 110)  # past one page of the listing (here 100 keys; S3's is 1,000)
    client = CountingS3(s3)
    store = make_store(tmp_path, client, list_page_size=100)
    with ServerWorkspaceContext("team-a"):
        version = register(store, "m")
        assert version.status == registry.READY
        assert version.status_message == f"110 files (1100 bytes) frozen from {SOURCE}"
        assert version.tags[registry.FROZEN_FROM_TAG] == SOURCE
        target = store.get_model_version_download_uri("m", "1")
    assert client.calls["list_objects_v2 page"] == 2
    assert client.calls["copy"] == 110
    assert objects_under(s3, target) == objects_under(s3, SOURCE)


def test_past_the_caps_nothing_is_registered_and_the_error_says_which(s3, tmp_path):
    put_files(s3, 6, size=100)
    for caps, named in [({"max_files": 5}, "at most 5 files"),
                        ({"max_bytes": 550}, "and 550 bytes")]:
        store = make_store(tmp_path, CountingS3(s3), **caps)
        name = f"capped-{len(named)}"
        with ServerWorkspaceContext("team-a"):
            store.create_registered_model(name)
            with pytest.raises(MlflowException, match=named) as refused:
                store.create_model_version(name, SOURCE)
            assert "MLFLOW_LZ_FREEZE_MAX_FILES, MLFLOW_LZ_FREEZE_MAX_BYTES" in str(refused.value)
            assert store.get_registered_model(name).latest_versions == []
    assert objects_under(s3, f"s3://{BUCKET}/registry") == {}


def test_the_caps_come_from_the_environment_and_bad_values_are_named(monkeypatch, tmp_path, s3):
    monkeypatch.setenv(registry.MAX_FILES_ENV, "7")
    monkeypatch.setenv(registry.MAX_BYTES_ENV, "1234")
    store = make_store(tmp_path, s3)
    assert (store.max_files, store.max_bytes) == (7, 1234)
    monkeypatch.setenv(registry.MAX_FILES_ENV, "many")
    with pytest.raises(MlflowException, match="MLFLOW_LZ_FREEZE_MAX_FILES must be a whole "
                                              "number; got 'many'"):
        make_store(tmp_path, s3)


def test_an_object_past_the_transfer_threshold_is_copied_in_parts(s3, tmp_path):
    """S3 copies at most 5 GB with one CopyObject: the store's managed copy goes multipart past
    its threshold (here 5 MB, the least S3 takes, standing in for larger objects)."""
    key = SOURCE.removeprefix(f"s3://{BUCKET}/")
    big = bytes(range(256)) * (11 * 4096)  # 11 MiB
    s3.put_object(Bucket=BUCKET, Key=f"{key}/weights.bin", Body=big)
    config = TransferConfig(multipart_threshold=5 * 1024 ** 2,
                            multipart_chunksize=5 * 1024 ** 2)
    store = make_store(tmp_path, s3, transfer_config=config)
    version = register(store, "big")
    assert version.status == registry.READY
    target = store.get_model_version_download_uri("big", "1").removeprefix(f"s3://{BUCKET}/")
    copied = s3.get_object(Bucket=BUCKET, Key=f"{target}/weights.bin")
    assert copied["ETag"].strip('"').endswith("-3")  # three parts
    assert copied["Body"].read() == big


def test_a_retried_copy_copies_nothing_twice(s3, tmp_path):
    put_files(s3, 5)
    client = CountingS3(s3)
    store = make_store(tmp_path, client)
    register(store, "m")
    with ServerWorkspaceContext("team-a"):
        target = store.get_model_version_download_uri("m", "1")
        assert client.calls["copy"] == 5
        assert store.copy_files("team-a", SOURCE, target) == (5, 50)
    assert client.calls["copy"] == 5
    assert objects_under(s3, target) == objects_under(s3, SOURCE)


def test_a_failed_copy_is_never_ready_and_cannot_be_promoted(s3, tmp_path):
    put_files(s3, 3)
    store = make_store(tmp_path, CountingS3(s3, fail_copy_of="file-00001.bin"))
    version = register(store, "broken")
    assert version.status == registry.FAILED
    assert version.status_message == (f"Copying the version's files from {SOURCE} failed: "
                                      "the network went away")
    with ServerWorkspaceContext("team-a"):
        for promote in (lambda: store.set_registered_model_alias("broken", "champion", "1"),
                        lambda: store.transition_model_version_stage("broken", "1", "Production",
                                                                     False)):
            with pytest.raises(MlflowException, match="only a READY version, whose files are "
                                                      "wholly frozen, can be"):
                promote()
        assert store.get_registered_model("broken").aliases == {}


def test_a_copy_is_taken_up_by_one_worker_once_its_lease_ends(s3, tmp_path, monkeypatch):
    put_files(s3, 3)
    store = make_store(tmp_path, s3)
    with ServerWorkspaceContext("team-a"):
        store.create_registered_model("m")
        created = registry.WorkspaceAwareSqlAlchemyStore.create_model_version(store, "m", SOURCE)
        store._set_state("m", created.version, registry.PENDING,
                         store._lease_message("copying 3 files"),
                         storage_location=store._frozen_location("team-a", "m", 1))
        registry.WorkspaceAwareSqlAlchemyStore.set_model_version_tag(
            store, "m", "1", registry.ModelVersionTag(registry.FROZEN_FROM_TAG, SOURCE))
    # a worker holds it: nobody takes it up
    assert store._resume_pending() == []
    # the holder stopped and its lease ended: of two workers at once, one copies
    monkeypatch.setattr(registry.time, "time", lambda: time.time_ns() / 1e9
                        + registry.LEASE_SECONDS + 1)
    others = [make_store(tmp_path, s3) for _ in range(2)]
    taken = []
    threads = [threading.Thread(target=lambda o=o: taken.extend(o._resume_pending()))
               for o in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 1
    taken[0].join(30)
    version = wait_until_done(store, "m")
    assert version.status == registry.READY
    assert version.status_message == f"3 files (30 bytes) frozen from {SOURCE}"


# --- the server's one-workspace sessions (storage.py) ---------------------------------------

class FakeSts:
    def __init__(self):
        self.calls = []

    def assume_role(self, **kwargs):
        from datetime import datetime, timezone

        self.calls.append(kwargs)
        n = len(self.calls)
        return {"Credentials": {"AccessKeyId": f"AK{n}", "SecretAccessKey": "s",
                                "SessionToken": "t",
                                "Expiration": datetime.fromtimestamp(1000 + 3600,
                                                                     tz=timezone.utc)}}


def test_a_session_is_tagged_with_one_workspace_cached_and_renewed_before_it_ends():
    from mlflow_landing_zone_server import storage

    now = [1000.0]
    sts = FakeSts()
    sessions = storage.WorkspaceSessions("arn:aws:iam::1:role/ws", sts, clock=lambda: now[0])
    first = sessions.credentials("team-a")
    assert sts.calls == [{"RoleArn": "arn:aws:iam::1:role/ws",
                          "RoleSessionName": "mlflow-serve-team-a", "DurationSeconds": 3600,
                          "Tags": [{"Key": "workspace", "Value": "team-a"},
                                   {"Key": "purpose", "Value": "serve"}]}]
    assert sessions.credentials("team-a") is first
    sessions.credentials("team-a", storage.FREEZE)
    assert sts.calls[-1]["Tags"][1] == {"Key": "purpose", "Value": "freeze"}
    now[0] += 3600 - storage.RENEW_BEFORE_SECONDS + 1  # within five minutes of its end
    assert sessions.credentials("team-a")["AccessKeyId"] == "AK3"


@pytest.mark.parametrize("workspace", [None, "", "Team-A", "team-a/../team-b", "*", "a" * 64])
def test_no_session_outside_a_workspace(workspace):
    from mlflow_landing_zone_server import storage

    sessions = storage.WorkspaceSessions("arn:aws:iam::1:role/ws", FakeSts())
    with pytest.raises(storage.NoWorkspace, match="only for a workspace"):
        sessions.credentials(workspace)


def test_iam_policy_variables_name_one_workspace():
    from spec.accounts import workspace_role_statements
    from roles.policy_eval import ALLOW, IMPLICIT_DENY, evaluate, substitute

    policy = {"Version": "2012-10-17",
              "Statement": workspace_role_statements("arn:aws:s3:::b")}
    tagged = {"aws:PrincipalTag/workspace": "team-a", "aws:PrincipalTag/purpose": "serve"}
    decide = lambda action, key, context=tagged: evaluate(  # noqa: E731
        [policy], action, f"arn:aws:s3:::b/{key}", context)
    assert decide("s3:GetObject", "artifacts/workspaces/team-a/1/x") == ALLOW
    assert decide("s3:GetObject", "artifacts/workspaces/team-ab/1/x") == IMPLICIT_DENY
    assert decide("s3:GetObject", "artifacts/workspaces/team-b/1/x") == IMPLICIT_DENY
    assert decide("s3:GetObject", "artifacts/workspaces/team-a/1/x", {}) == IMPLICIT_DENY
    assert decide("s3:PutObject", "registry/workspaces/team-a/m/v1/x") == IMPLICIT_DENY
    assert decide("s3:PutObject", "registry/workspaces/team-a/m/v1/x",
                  {**tagged, "aws:PrincipalTag/purpose": "freeze"}) == ALLOW
    assert decide("s3:DeleteObject", "registry/workspaces/team-a/m/v1/x",
                  {**tagged, "aws:PrincipalTag/purpose": "freeze"}) == IMPLICIT_DENY
    with pytest.raises(ValueError, match="not supported"):
        substitute("a/${*}/b", tagged)


def test_a_single_file_source_is_frozen_under_its_own_name(s3, tmp_path):
    key = SOURCE.removeprefix(f"s3://{BUCKET}/")
    s3.put_object(Bucket=BUCKET, Key=f"{key}/model.pkl", Body=b"pickled")
    store = make_store(tmp_path, s3)
    version = register(store, "one-file", source=f"{SOURCE}/model.pkl")
    assert version.status == registry.READY
    assert version.status_message == f"1 files (7 bytes) frozen from {SOURCE}/model.pkl"
    with ServerWorkspaceContext("team-a"):
        target = store.get_model_version_download_uri("one-file", "1")
    assert objects_under(s3, target) == {"model.pkl": 7}


def test_a_worker_that_lost_the_copy_never_marks_the_version(s3, tmp_path, monkeypatch):
    """One worker's copy outlived its lease and another took it up: the first one's end (READY
    or FAILED) changes nothing, and nor does anything once the version is READY."""
    put_files(s3, 2)
    first = make_store(tmp_path, s3)
    with ServerWorkspaceContext("team-a"):
        first.create_registered_model("m")
        registry.WorkspaceAwareSqlAlchemyStore.create_model_version(first, "m", SOURCE)
        registry.WorkspaceAwareSqlAlchemyStore.set_model_version_tag(
            first, "m", "1", registry.ModelVersionTag(registry.FROZEN_FROM_TAG, SOURCE))
        first._set_state("m", "1", registry.PENDING, first._lease_message("copying"),
                         storage_location=first._frozen_location("team-a", "m", 1))
    second = make_store(tmp_path, s3)
    second.holder = "another-host:1"
    monkeypatch.setattr(registry.time, "time", lambda: time.time_ns() / 1e9
                        + registry.LEASE_SECONDS + 1)
    [taken] = second._resume_pending()
    taken.join(30)
    with ServerWorkspaceContext("team-a"):
        assert first._set_while_held("m", "1", registry.FAILED, "late news") is False
        assert first._set_while_held("m", "1", registry.PENDING, "renewed") is False
        assert second._set_while_held("m", "1", registry.FAILED, "after READY") is False
        version = first.get_model_version("m", "1")
    assert version.status == registry.READY
    assert version.status_message == f"2 files (20 bytes) frozen from {SOURCE}"
