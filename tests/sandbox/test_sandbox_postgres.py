"""`python -m sandbox --database postgresql`: a real PostgreSQL, as Aurora is on AWS, brought up by
the image's own entrypoint steps (the schema migrated under the advisory lock)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from sandbox import database
from sandbox.landing_zone import POSTGRES_DIR

from tests.sandbox_clients import identity
from tests.sandbox_process import ROOT, start_sandbox, stop_sandbox

# the image's own migration, in a process of its own (as a second task starting)
MIGRATE = """
import sys
from mlflow_landing_zone_server.schema import migrate
print("done:", migrate(sys.argv[1]), flush=True)
"""


def connect(url: str):
    """The sandbox's database with the driver itself (not through MLflow)."""
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                           dbname=u.database, autocommit=True)


def processes_on(path: Path) -> list:
    """The processes whose command line names `path` (a PostgreSQL on its data directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def assert_stopped(pgdata: Path, port: int):
    deadline = time.monotonic() + 10
    while processes_on(pgdata) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_on(pgdata) == []
    assert not (pgdata / "postmaster.pid").exists()
    assert port_is_free(port)


def workload(state, tmp_path) -> dict:
    """A contributor's run with metrics, an artifact and a registered version, through the
    gateway with the SDK client (SigV4)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    (folder / "weights.bin").write_bytes(b"w" * 4096)
    with identity(state, "contributor", "client") as c:
        experiment = c.create_experiment("on-postgresql")
        run = c.create_run(experiment).info.run_id
        for step, loss in enumerate((0.9, 0.5, 0.25)):
            c.log_metric(run, "loss", loss, step=step)
        c.log_artifacts(run, str(folder), artifact_path="model")
        c.set_terminated(run)
        c.create_registered_model("pg-model")
        version = c.create_model_version("pg-model", f"runs:/{run}/model", run_id=run)
        deadline = time.monotonic() + 60
        while version.status != "READY" and time.monotonic() < deadline:
            time.sleep(0.5)
            version = c.get_model_version("pg-model", version.version)
        assert version.status == "READY", version.status_message
    return {"experiment": experiment, "run": run, "version": version.version}


@pytest.mark.slow  # a sandbox on PostgreSQL, started twice
def test_the_sandbox_runs_on_a_real_postgresql_and_keeps_its_data(tmp_path):
    state_file = tmp_path / "sandbox.json"
    pgdata = (tmp_path / POSTGRES_DIR / "data").resolve()
    process, state = start_sandbox(state_file, "--database", "postgresql")
    try:
        url = make_url(state["database"]["url"])
        assert state["database"]["kind"] == "postgresql"
        assert (url.drivername, url.host, url.database) == (
            "postgresql+psycopg", "127.0.0.1", "mlflow")
        port = url.port
        # the image's entrypoint steps ran on it: the schema created under the schema lock,
        # then the teams' workspaces
        log = (tmp_path / "stdout.log").read_text()
        assert "entrypoint: creating MLflow's schema (" in log
        assert "MLflow's schema created; workspaces created: team-a, team-b" in log
        assert processes_on(pgdata)  # a PostgreSQL on the state directory's data

        done = workload(state, tmp_path)
        with connect(state["database"]["url"]) as db:
            # the rows are in PostgreSQL, in the team's workspace
            assert db.execute(
                "SELECT e.name, e.workspace, r.status FROM runs r JOIN experiments e "
                "ON e.experiment_id = r.experiment_id WHERE r.run_uuid = %s",
                (done["run"],)).fetchall() == [("on-postgresql", "team-a", "FINISHED")]
            assert db.execute("SELECT step, value FROM metrics WHERE run_uuid = %s "
                              "AND key = 'loss' ORDER BY step", (done["run"],)).fetchall() == [
                (0, 0.9), (1, 0.5), (2, 0.25)]
            [(source, status, storage)] = db.execute(
                "SELECT source, status, storage_location FROM model_versions "
                "WHERE workspace = 'team-a' AND name = 'pg-model'").fetchall()
            assert (source, status) == (f"runs:/{done['run']}/model", "READY") and storage
            assert {n for (n,) in db.execute("SELECT name FROM workspaces")} >= {
                "default", "team-a", "team-b"}

            # The migration takes PostgreSQL's advisory lock: while another task holds it, a
            # second migration waits (and says so), then finds the schema current.
            db.execute("SELECT pg_advisory_lock(%s)", (database_lock_key(),))
            second = subprocess.Popen([sys.executable, "-c", MIGRATE, state["database"]["url"]],
                                      stdout=subprocess.PIPE, text=True, cwd=ROOT)
            try:
                assert second.stdout.readline().strip() == (
                    "entrypoint: waiting for another task's schema migration")
                # (it says so just before it asks for the lock: its wait shows a moment later)
                deadline, waiting = time.monotonic() + 10, 0
                while waiting == 0 and time.monotonic() < deadline:
                    waiting = db.execute("SELECT count(*) FROM pg_locks WHERE locktype = "
                                         "'advisory' AND NOT granted").fetchone()[0]
                assert (waiting, second.poll()) == (1, None)
            finally:
                db.execute("SELECT pg_advisory_unlock(%s)", (database_lock_key(),))
            out, _ = second.communicate(timeout=120)
            assert (second.returncode, out.splitlines()[-1]) == (0, "done: up to date")
    finally:
        assert stop_sandbox(process) == 0
    # stopping the sandbox stops PostgreSQL: no process on its data, its port free
    assert_stopped(pgdata, port)

    # a second start on the same state directory finds the data
    process, state = start_sandbox(state_file, "--database", "postgresql")
    try:
        assert state["database"]["kind"] == "postgresql"
        log = (tmp_path / "stdout.log").read_text()
        assert "MLflow's schema up to date; workspaces created: none (all there)" in log
        with identity(state, "reader", "client") as c:
            assert c.get_run(done["run"]).data.metrics == {"loss": 0.25}
            assert [m.value for m in c.get_metric_history(done["run"], "loss")] == [
                0.9, 0.5, 0.25]
            out = tmp_path / "out"
            out.mkdir()
            assert Path(c.download_artifacts(done["run"], "model/weights.bin", str(out))
                        ).read_bytes() == b"w" * 4096
            assert c.get_model_version("pg-model", done["version"]).status == "READY"
        port = make_url(state["database"]["url"]).port
    finally:
        assert stop_sandbox(process) == 0
    assert_stopped(pgdata, port)


def database_lock_key() -> int:
    from mlflow_landing_zone_server.schema import SCHEMA_LOCK_KEY

    return SCHEMA_LOCK_KEY


@pytest.mark.slow  # starts PostgreSQL three times
def test_a_postgresql_left_by_a_killed_sandbox_is_taken_over_and_reset_forgets_it(tmp_path):
    """The reusable start (sandbox/database.py): data kept between starts; a server still
    running on the directory (its sandbox killed) is stopped and started again, not doubled."""
    from sandbox.landing_zone import reset

    first = database.start_postgres(tmp_path / POSTGRES_DIR)
    with connect(first.url) as db:
        db.execute("CREATE TABLE kept (x int)")
        db.execute("INSERT INTO kept VALUES (7)")
    second = database.start_postgres(tmp_path / POSTGRES_DIR)  # `first` never stopped
    try:
        assert make_url(second.url).password == make_url(first.url).password
        with connect(second.url) as db:
            assert db.execute("SELECT x FROM kept").fetchall() == [(7,)]
        assert len([p for p in processes_on(second.pgdata) if " -D " in p]) == 1
    finally:
        second.stop()
    assert_stopped(second.pgdata, second.port)
    third = database.start_postgres(tmp_path / POSTGRES_DIR)
    reset(tmp_path)  # --reset: a server still running there is stopped before its data goes
    assert not (tmp_path / POSTGRES_DIR).exists()
    assert_stopped(third.pgdata, third.port)


def test_the_default_sandbox_stays_on_sqlite(sandbox):
    path = Path(sandbox["_state_file"]).parent.resolve() / "mlflow.db"
    assert sandbox["database"] == {"kind": "sqlite", "url": f"sqlite:///{path}"}


def test_a_backend_store_uri_and_database_postgresql_are_refused_together(capsys):
    from sandbox import __main__ as cli

    with pytest.raises(SystemExit) as exit_:  # argparse's refusal, before anything starts
        cli.main(["--database", "postgresql", "--backend-store-uri", "sqlite:///x.db"])
    assert exit_.value.code == 2
    assert "--backend-store-uri names its own database: not with --database" in \
        capsys.readouterr().err


def test_without_a_postgresql_server_the_error_says_how_to_install_one(monkeypatch):
    monkeypatch.setattr(database.shutil, "which", lambda name: None)
    monkeypatch.setattr(database.glob, "glob", lambda pattern: [])
    with pytest.raises(database.DatabaseError, match=r"sudo apt-get install postgresql"):
        database.binaries()


def test_as_root_without_user_namespaces_the_error_says_what_to_do(monkeypatch):
    monkeypatch.setattr(database.os, "geteuid", lambda: 0)
    monkeypatch.setattr(database.shutil, "which", lambda name: None)  # no unshare
    with pytest.raises(database.DatabaseError, match="PostgreSQL refuses to run as root") as e:
        database._as_unprivileged()
    assert "Start the sandbox as an ordinary user" in str(e.value)


def test_the_newest_of_debians_servers_is_found(monkeypatch, tmp_path):
    for version in ("9.6", "15", "16"):
        folder = tmp_path / version / "bin"
        folder.mkdir(parents=True)
        for name in ("initdb", "pg_ctl", "postgres"):
            (folder / name).write_text("#!/bin/sh\n")
            os.chmod(folder / name, 0o755)
    monkeypatch.setattr(database.shutil, "which", lambda name: None)
    monkeypatch.setattr(database.glob, "glob", lambda pattern: [
        str(tmp_path / v / "bin") for v in ("9.6", "16", "15")])
    assert database.binaries() == tmp_path / "16" / "bin"


class _Secret:
    """Secrets Manager holding RDS's managed master secret: the password it holds now."""

    def __init__(self, password):
        self.password, self.calls = password, 0

    def get_secret_value(self, SecretId):
        self.calls += 1
        return {"SecretString": json.dumps({"username": "mlflow", "password": self.password})}


@pytest.mark.slow  # a PostgreSQL of its own
def test_the_images_connections_survive_a_password_rotation_on_a_real_postgresql(tmp_path):
    """The image's rotation listener (plugin/.../rotation.py) with the image's driver against a
    real server: the URL keeps the password of the task's start, the database's password
    changes (as RDS rotates it), and the next new connection reads the secret again once."""
    import sqlalchemy
    from mlflow_landing_zone_server.rotation import SecretPassword, connector
    from sqlalchemy.pool import NullPool

    server = database.start_postgres(tmp_path / POSTGRES_DIR)
    try:
        secret = _Secret(make_url(server.url).password)
        engine = sqlalchemy.create_engine(server.url, poolclass=NullPool)  # a new one each time
        sqlalchemy.event.listen(engine, "do_connect", connector(SecretPassword("arn", secret)))
        with engine.connect() as c:
            c.execute(sqlalchemy.text("ALTER ROLE mlflow PASSWORD 'rotated-Pw-1'"))
            c.commit()
        secret.password = "rotated-Pw-1"  # the rotation's last step: the secret says so
        with engine.connect() as c:
            assert c.execute(sqlalchemy.text("SELECT current_user")).scalar() == "mlflow"
        assert secret.calls == 2  # the cached password was refused; read again once
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(server.url)  # the URL's own password no longer works
        engine.dispose()
    finally:
        server.stop()


@pytest.mark.slow  # a PostgreSQL of its own
def test_the_migration_task_then_the_services_check_on_a_real_postgresql(tmp_path):
    """Issue 26, item 2, on the database Aurora is: the service's check refuses an empty
    database, the migration task's step creates the schema under the advisory lock, then the
    check passes, changing nothing, and a second migration finds it current."""
    from mlflow_landing_zone_server.schema import (
        SchemaNotCurrent,
        migrate,
        schema_revisions,
        verify,
    )

    server = database.start_postgres(tmp_path / POSTGRES_DIR)
    try:
        with pytest.raises(SchemaNotCurrent, match="MLflow's schema is missing, this image "
                                                   "needs"):
            verify(server.url)
        assert schema_revisions(server.url)[0] is None  # the check created nothing
        assert migrate(server.url, log=lambda m: None) == "created"
        current, head = schema_revisions(server.url)
        assert verify(server.url) == head == current
        assert migrate(server.url, log=lambda m: None) == "up to date"
        with connect(server.url) as c:  # the lock was given back
            assert c.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                             ).fetchone()[0] == 0
    finally:
        server.stop()
