"""The MLflow upgrade, rehearsed on a real PostgreSQL: docs/operations.md "Upgrading MLflow"
step by step.

The previous release's MLflow (tests/previous_mlflow.py: roles/route_diff.py's PREVIOUS, in a
Python of its own) writes a landing zone's data in two teams; then the documented steps: a
snapshot of the database (here pg_dump: Aurora's cluster snapshot on AWS), the image's schema
step of the new release (the sandbox restarted on the pinned MLflow runs it, as the new image's
entrypoint does), the new server; everything written before is read back and more is written.
Rolling back is the snapshot: the previous release refuses the migrated schema, and starts on
the restored snapshot, with what was written before the upgrade.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import mlflow
import psycopg
import pytest
from sqlalchemy.engine import make_url

from sandbox import database
from sandbox.landing_zone import POSTGRES_DIR

from tests.markers import needs
from tests.previous_mlflow import plugin_path, previous_python, previous_version
from tests.sandbox_clients import identity
from tests.sandbox_process import start_sandbox, stop_sandbox

TEAMS = ("team-a", "team-b")
# Who promotes in each team: team-b's stack config grants SigV4 roles to readers and
# contributors only, so its admin (a Cognito user) sets the alias through the browser paths.
PROMOTER = {"team-a": ("model-approver", "client"), "team-b": ("admin", "token")}
# The documented commands (docs/operations.md, "Rehearsing an upgrade"), as this test runs them:
# the database's URL parts come from the sandbox's state file, the password from PGPASSWORD.
SNAPSHOT = ("pg_dump", "--format=custom", "--file=snapshot.dump")
RESTORE = ("pg_restore", "--exit-on-error", "--dbname=mlflow", "snapshot.dump")


@pytest.fixture(scope="module")
@needs("pip")  # the previous release's venv, made with pip once and cached
def old_python():
    return previous_python()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_ready(c, name, version):
    deadline = time.monotonic() + 90
    found = c.get_model_version(name, version)
    while found.status != "READY" and time.monotonic() < deadline:
        time.sleep(0.5)
        found = c.get_model_version(name, version)
    assert found.status == "READY", found.status_message
    return found


def write(state, team, folder: Path) -> dict:
    """A team's work: a run (metrics, params, a model's files), a logged model, a registered
    version (frozen: READY) promoted by an approver, a prompt, a trace."""
    from mlflow.entities import TraceInfo, TraceLocation, TraceState

    with identity(state, "contributor", "client", team=team) as c:
        experiment = c.create_experiment(unique(f"{team}-upgrade"))
        run = c.create_run(experiment).info.run_id
        c.log_param(run, "alpha", "0.5")
        for step, loss in enumerate((0.9, 0.4)):
            c.log_metric(run, "loss", loss, step=step)
        c.log_artifacts(run, str(folder), artifact_path="model")
        c.set_terminated(run)
        logged = c.create_logged_model(experiment, name="lm", source_run_id=run).model_id
        model = unique(f"{team}-model")
        c.create_registered_model(model)
        version = c.create_model_version(model, f"runs:/{run}/model", run_id=run).version
        frozen = wait_ready(c, model, version)
        prompt = unique(f"{team}-prompt")
        mlflow.genai.register_prompt(name=prompt, template="Answer {{question}}")
        store = c._tracking_client.store
        trace = store.start_trace(TraceInfo(
            trace_id=f"tr-{uuid.uuid4().hex}",
            trace_location=TraceLocation.from_experiment_id(experiment),
            request_time=int(time.time() * 1000), state=TraceState.OK,
            tags={"stage": "before"})).trace_id
    level, channel = PROMOTER[team]
    with identity(state, level, channel, team=team) as c:
        c.set_registered_model_alias(model, "champion", version)
    return {"team": team, "experiment": experiment, "run": run, "logged": logged,
            "model": model, "version": version, "frozen": frozen.source,
            "location": frozen.tags.get("landing_zone.frozen_from"), "prompt": prompt,
            "trace": trace}


def read_back(state, done: dict, out: Path):
    """Everything a team wrote is there, as a reader of that team sees it."""
    with identity(state, "reader", "client", team=done["team"]) as c:
        run = c.get_run(done["run"])
        assert run.data.params == {"alpha": "0.5"} and run.data.metrics == {"loss": 0.4}
        assert [m.value for m in c.get_metric_history(done["run"], "loss")] == [0.9, 0.4]
        out.mkdir(parents=True, exist_ok=True)
        assert Path(c.download_artifacts(done["run"], "model/weights.bin", str(out))
                    ).read_bytes() == b"w" * 2048
        assert c.get_logged_model(done["logged"]).source_run_id == done["run"]
        version = c.get_model_version_by_alias(done["model"], "champion")
        assert (version.version, version.status) == (done["version"], "READY")
        assert version.tags["landing_zone.frozen_from"] == done["location"]
        # the frozen copy, not the run's files, is what the version serves
        uri = c.get_model_version_download_uri(done["model"], done["version"])
        assert "/registry/" in uri and f"/workspaces/{done['team']}/" in uri
        served = mlflow.artifacts.download_artifacts(
            f"models:/{done['model']}@champion", dst_path=str(out / "served"))
        assert (Path(served) / "weights.bin").read_bytes() == b"w" * 2048
        assert mlflow.genai.load_prompt(f"prompts:/{done['prompt']}/1").template == (
            "Answer {{question}}")
        info = c._tracking_client.store.get_trace_info(done["trace"])
        assert info.tags["stage"] == "before"
        assert f"/workspaces/{done['team']}/" in info.tags["mlflow.artifactLocation"]


def foreign(state, done: dict):
    """The other team still cannot see it (workspaces survived the migration)."""
    other = next(t for t in TEAMS if t != done["team"])
    with identity(state, "reader", "client", team=other) as c:
        with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST|does not exist|not found"):
            c.get_run(done["run"])


def pg_env(url: str) -> dict:
    u = make_url(url)
    return {**os.environ, "PGHOST": u.host, "PGPORT": str(u.port), "PGUSER": u.username,
            "PGDATABASE": u.database, "PGPASSWORD": u.password}


def run_pg(command, url: str, cwd: Path):
    tool = str(database.binaries() / command[0])
    result = subprocess.run([tool, *command[1:]], env=pg_env(url), cwd=cwd,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr


def schema_revision(url: str) -> str:
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                         dbname=u.database) as db:
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def recreate_database(url: str):
    """An empty database of the same name (on AWS: a cluster restored from the snapshot)."""
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                         dbname="postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE {u.database} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {u.database}")


@pytest.mark.slow  # four sandboxes on one PostgreSQL, two MLflow releases
def test_an_upgrade_keeps_every_teams_data_and_a_rollback_is_the_snapshot(
        tmp_path, old_python, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", plugin_path())
    state_file = tmp_path / "sandbox.json"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    (folder / "weights.bin").write_bytes(b"w" * 2048)
    old = ("--database", "postgresql", "--mlflow-python", old_python)

    # 1. the landing zone on the previous release, with data in two teams
    process, state = start_sandbox(state_file, *old, timeout=240)
    try:
        assert f"the schema step of MLflow {previous_version()} (" in (
            tmp_path / "stdout.log").read_text()
        url = state["database"]["url"]
        before = schema_revision(url)
        written = [write(state, team, folder) for team in TEAMS]
    finally:
        assert stop_sandbox(process) == 0

    # 2. the snapshot (the tasks stopped or not: pg_dump and Aurora's snapshot are consistent)
    pg = database.start_postgres(tmp_path / POSTGRES_DIR)
    try:
        run_pg(SNAPSHOT, pg.url, tmp_path)
    finally:
        pg.stop()
    assert (tmp_path / "snapshot.dump").stat().st_size > 0

    # 3. the new release: its schema step migrates, then its server starts on the same data
    process, state = start_sandbox(state_file, "--database", "postgresql", timeout=240)
    try:
        log = (tmp_path / "stdout.log").read_text()
        assert f"entrypoint: upgrading MLflow's schema from {before} to " in log
        after = schema_revision(url)
        assert after != before
        for done in written:
            read_back(state, done, tmp_path / "read" / done["team"])
            foreign(state, done)
        # ... and usable: more work, and a new version made from a version of before
        more = [write(state, team, folder) for team in TEAMS]
        with identity(state, "contributor", "client", team="team-a") as c:
            copy = c.create_model_version(written[0]["model"],
                                          f"models:/{written[0]['model']}/1").version
            assert wait_ready(c, written[0]["model"], copy).version == "2"
        for done in more:
            read_back(state, done, tmp_path / "read-more" / done["team"])
    finally:
        assert stop_sandbox(process) == 0

    # 4. rolling back: the previous release refuses the migrated schema ...
    with pytest.raises(RuntimeError, match="the schema step of .* failed"):
        start_sandbox(state_file, *old, timeout=240)
    # ... and starts on the restored snapshot, with what was written before the upgrade
    pg = database.start_postgres(tmp_path / POSTGRES_DIR)
    try:
        recreate_database(pg.url)
        run_pg(RESTORE, pg.url, tmp_path)
        assert schema_revision(pg.url) == before
    finally:
        pg.stop()
    process, state = start_sandbox(state_file, *old, timeout=240)
    try:
        assert "MLflow's schema up to date" in (tmp_path / "stdout.log").read_text()
        for done in written:
            read_back(state, done, tmp_path / "read-rolled-back" / done["team"])
        with identity(state, "reader", "client", team="team-a") as c:
            with pytest.raises(Exception, match="RESOURCE_DOES_NOT_EXIST|not found"):
                c.get_run(more[0]["run"])  # written after the snapshot: gone with the rollback
    finally:
        assert stop_sandbox(process) == 0


def test_the_upgrade_guide_is_what_the_rehearsal_does():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for command in (SNAPSHOT, RESTORE):
        assert " ".join(command) in guide
    for text in ("python -m roles.route_diff --dump roles/routes-mlflow-",
                 "python -m roles.route_diff", "python -m mlflow_landing_zone_server.schema",
                 "--mlflow-python", "pytest tests/sandbox/test_upgrade_rehearsal.py"):
        assert text in guide, text


def test_the_sandbox_refuses_an_mlflow_python_it_cannot_run(tmp_path, capsys):
    from sandbox.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["--mlflow-python", str(tmp_path / "no-python"),
              "--state-file", str(tmp_path / "sandbox.json")])
    assert e.value.code == 2
    assert "--mlflow-python" in capsys.readouterr().err and not (tmp_path / "sandbox.json").exists()
