"""The tracking server's entrypoint: the password goes into the environment, never argv."""

import importlib.util
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[2] / "components" / "mlflow_image" / "entrypoint.py"


def load():
    spec = importlib.util.spec_from_file_location("entrypoint", ENTRYPOINT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ENV = {"DB_USER": "mlflow", "DB_PASSWORD": "p@ss/w:rd?#", "DB_HOST": "db.example",
       "DB_NAME": "mlflow", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://bucket/artifacts",
       "MLFLOW_LZ_REGISTRY_ROOT": "s3://bucket/registry"}


def test_the_uri_quotes_the_password_and_verifies_tls():
    uri = load().backend_store_uri(ENV)
    assert uri == ("postgresql+psycopg://mlflow:p%40ss%2Fw%3Ard%3F%23@db.example:5432/mlflow"
                   "?sslmode=verify-full&sslrootcert=/app/rds-ca.pem")


def test_the_server_starts_without_the_password_on_its_command_line(monkeypatch):
    module = load()
    seen = {}
    monkeypatch.setattr(module.os, "environ", dict(ENV))
    monkeypatch.setattr(module.os, "execvpe", lambda f, argv, env: seen.update(argv=argv, env=env))
    monkeypatch.setattr(module, "ensure_workspaces", lambda uri, names: seen.update(names=names) or [])
    monkeypatch.setattr(module, "migrate", lambda uri: pytest.fail("the service migrated"))
    monkeypatch.setattr(module, "verify", lambda uri: seen.update(verified=uri) or "abc123")
    module.main()
    assert seen["verified"] == seen["env"]["MLFLOW_BACKEND_STORE_URI"]
    assert "--enable-workspaces" in seen["argv"] and seen["names"] == []
    # MLflow's app with the registry store that freezes registered versions (plugin/)
    assert seen["argv"][seen["argv"].index("--app-name") + 1] == "landing-zone"
    assert seen["argv"][:2] == ["mlflow", "server"] and "--no-serve-artifacts" in seen["argv"]
    assert not any("p@ss" in a or "postgresql" in a for a in seen["argv"])
    assert "DB_PASSWORD" not in seen["env"]
    assert seen["env"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://mlflow:p%40ss")


def test_missing_settings_stop_the_container_with_their_names(monkeypatch):
    module = load()
    monkeypatch.setattr(module.os, "environ", {"DB_USER": "mlflow"})
    with pytest.raises(SystemExit, match="DB_PASSWORD, DB_HOST, DB_NAME, "
                                         "MLFLOW_DEFAULT_ARTIFACT_ROOT, MLFLOW_LZ_REGISTRY_ROOT"):
        module.main()


@pytest.mark.slow  # MLflow's schema migrations, on SQLite
def test_each_teams_workspace_is_created_once_and_a_new_team_on_the_next_start(tmp_path):
    from mlflow.store.workspace.sqlalchemy_store import SqlAlchemyStore

    module = load()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"MLFLOW_LZ_WORKSPACES": " team-a, team-b ,"}
    assert module.ensure_workspaces(uri, module.workspace_names(env)) == ["team-a", "team-b"]
    assert module.ensure_workspaces(uri, ["team-a", "team-b"]) == []  # the next start
    assert module.ensure_workspaces(uri, ["team-a", "team-b", "team-c"]) == ["team-c"]
    names = {w.name for w in SqlAlchemyStore(uri).list_workspaces()}
    assert names == {"default", "team-a", "team-b", "team-c"}


def test_the_image_installs_the_app_that_the_entrypoint_names():
    """`--app-name landing-zone` must be an `mlflow.app` entry point of the plugin the
    Dockerfile installs (the sandbox runs the same one from requirements.txt)."""
    import tomllib

    image = ENTRYPOINT.parent
    from spec.server import APP_NAME

    project = tomllib.loads((image / "plugin" / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["mlflow.app"] == {
        APP_NAME: "mlflow_landing_zone_server.app:app"}
    dockerfile = (image / "Dockerfile").read_text()
    assert "COPY plugin /tmp/plugin" in dockerfile and "pip install" in dockerfile
    requirements = (ENTRYPOINT.parents[2] / "requirements.txt").read_text().split()
    assert "./components/mlflow_image/plugin" in requirements


# --- the schema, once, before the server (issue 16, item 7) ---------------------------------


def _schema_version(uri):
    import sqlalchemy
    from mlflow.store.db import utils

    engine = sqlalchemy.create_engine(uri)
    try:
        return utils._get_schema_version(engine), utils._get_latest_schema_revision()
    finally:
        engine.dispose()


@pytest.mark.slow  # MLflow's schema migrations, on SQLite
def test_the_migrate_mode_creates_the_schema_and_the_service_only_verifies_it(monkeypatch,
                                                                               tmp_path, capsys):
    """Issue 26, item 2: `entrypoint.py migrate` (the one-off task before the service changes)
    migrates and exits; the service's start (no argument) refuses a schema that is not
    current, with a line that says why, and starts on one that is, changing nothing."""
    module = load()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    order = []
    monkeypatch.setattr(module.os, "environ", dict(ENV))
    monkeypatch.setattr(module, "backend_store_uri", lambda env: uri)
    real_migrate = module.migrate
    monkeypatch.setattr(module, "migrate", lambda u: order.append("migrate") or real_migrate(u))
    monkeypatch.setattr(module, "ensure_workspaces",
                        lambda u, names: order.append("workspaces") or [])
    monkeypatch.setattr(module.os, "execvpe", lambda f, argv, env: order.append(argv[1]))
    # the service's task on an empty database: no migration, no server
    with pytest.raises(SystemExit, match=r"entrypoint: MLflow's schema is missing, this image "
                                         r"needs \w+: the migration task .* has not brought it "
                                         r"here; not starting"):
        module.main([])
    assert order == [] and _schema_version(uri)[0] is None
    module.main(["migrate"])  # the one-off task: migrates and returns (the task exits 0)
    assert order == ["migrate"]
    current, head = _schema_version(uri)
    assert current == head
    assert f"entrypoint: migrate: MLflow's schema created" in capsys.readouterr().out
    module.main([])  # the service's task now starts, without migrating
    assert order == ["migrate", "workspaces", "server"]
    assert f"entrypoint: MLflow's schema is current ({head})" in capsys.readouterr().out
    assert real_migrate(uri, log=order.append) == "up to date"  # a second migration task
    assert order[3:] == []  # says nothing
    with pytest.raises(SystemExit, match=r"unknown arguments 'upgrade'"):
        module.main(["upgrade"])


@pytest.mark.slow  # MLflow's schema migrations, on SQLite
def test_an_older_schema_stops_the_service_until_the_migration_runs(monkeypatch, tmp_path):
    """A new image's tasks on the previous MLflow's schema (the migration task has not run, or
    failed) refuse to start and name both revisions."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    module = load()
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sqlalchemy.create_engine(uri)
    InitialBase.metadata.create_all(engine)
    engine.dispose()
    module.migrate(uri, log=lambda m: None)
    engine = sqlalchemy.create_engine(uri)
    with engine.begin() as connection:  # as a previous MLflow's schema would read
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'older1'"))
    engine.dispose()
    head = _schema_version(uri)[1]
    with pytest.raises(module.SchemaNotCurrent, match=rf"MLflow's schema is at older1, this "
                                                      rf"image needs {head}"):
        module.verify(uri)
    monkeypatch.setattr(module.os, "environ", dict(ENV))
    monkeypatch.setattr(module, "backend_store_uri", lambda env: uri)
    monkeypatch.setattr(module.os, "execvpe", lambda *a: pytest.fail("the server started"))
    with pytest.raises(SystemExit, match="schema is at older1"):
        module.main([])


@pytest.mark.slow  # MLflow's schema migrations, on SQLite
def test_an_old_schema_is_upgraded_and_mlflow_then_opens_it(tmp_path):
    """The upgrade path when the pinned MLflow changes: the first task of the new image
    upgrades the schema (here from MLflow's first one) before any worker opens it."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sqlalchemy.create_engine(uri)
    InitialBase.metadata.create_all(engine)  # the schema of the oldest MLflow, no revision
    engine.dispose()
    said = []
    done = load().migrate(uri, log=said.append)
    current, head = _schema_version(uri)
    assert current == head and done == f"upgraded to {head}"
    assert said == [f"entrypoint: completing MLflow's schema to {head}"]
    store = SqlAlchemyStore(uri, str(tmp_path / "artifacts"))  # verifies the schema
    assert store.get_experiment_by_name("Default") is not None


MIGRATE_IN_A_PROCESS = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("entrypoint", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print("done:", module.migrate(sys.argv[2]), flush=True)
"""


@pytest.mark.slow  # three processes importing MLflow
def test_tasks_starting_together_migrate_one_at_a_time(tmp_path):
    """While one task holds the schema lock, another waits and says so; then it finds the
    schema current. Two started at once on an empty database both end well."""
    import fcntl
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = [sys.executable, "-c", MIGRATE_IN_A_PROCESS, str(ENTRYPOINT), uri]
    with open(f"{tmp_path / 'mlflow.db'}.schema-lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another task, migrating
        waiting = subprocess.Popen(run, stdout=subprocess.PIPE, text=True)
        assert waiting.stdout.readline().strip() == (
            "entrypoint: waiting for another task's schema migration")
        assert waiting.poll() is None  # still waiting
        fcntl.flock(held, fcntl.LOCK_UN)
        out, _ = waiting.communicate(timeout=120)
    assert out.splitlines()[-1] == "done: created"
    current, head = _schema_version(uri)
    assert current == head

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    both = [subprocess.Popen([*run[:-1], fresh], stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = sorted(p.communicate(timeout=180)[0].splitlines()[-1] for p in both)
    assert [p.returncode for p in both] == [0, 0]
    assert results == ["done: created", "done: up to date"]


def test_the_image_and_the_sandbox_connect_with_the_same_driver():
    """The entrypoint's URL names psycopg (3): SQLAlchemy 2.1 reads a bare postgresql:// as
    psycopg and 2.0 as psycopg2, and the image once installed psycopg2 alone. The Dockerfile
    installs requirements.txt's pin (through constraints.txt, the image's every package),
    which the sandbox runs PostgreSQL with."""
    import re

    from sqlalchemy.engine import make_url

    uri = load().backend_store_uri(ENV)
    assert make_url(uri).get_dialect().driver == "psycopg"
    constraints = (ENTRYPOINT.parent / "constraints.txt").read_text()
    image = re.findall(r"^psycopg==([\d.]+)$", constraints, re.M)
    assert re.findall(r"^psycopg-binary==([\d.]+)$", constraints, re.M) == image
    requirements = re.findall(r"^psycopg\[binary\]==([\d.]+)$",
                              (ENTRYPOINT.parents[2] / "requirements.txt").read_text(), re.M)
    assert image == requirements and len(image) == 1
    assert "psycopg2" not in (ENTRYPOINT.parent / "Dockerfile").read_text() + constraints
