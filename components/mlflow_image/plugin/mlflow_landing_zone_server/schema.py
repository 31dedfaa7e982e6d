"""MLflow's schema and the teams' workspaces, brought to this MLflow before any server worker
opens the database: on AWS by the image's `migrate` mode (components/mlflow_image/entrypoint.py),
a one-off task `pulumi up` runs before the service changes, after which the service's tasks only
check it (`verify`); by the sandbox the same way (sandbox/landing_zone.py), so the advisory-lock
migration runs on a real PostgreSQL outside AWS too.

MLflow's schema is brought to this MLflow's version by one process at a time (`migrate`: a
PostgreSQL advisory lock): two tasks starting on an empty database would otherwise create it at
once, and a new MLflow release upgrades the schema here, on the first task of the deployment that
brings it.
"""

import contextlib
import json
import os
import sys

# `python -m mlflow_landing_zone_server.schema` reads the database's URL here (never from its
# command line, where `ps` would show the password)
STORE_URI_ENV = "MLFLOW_BACKEND_STORE_URI"


def _say(message: str):
    print(message, flush=True)


# pg_advisory_lock's key for "MLflow's schema": any 64-bit number the cluster uses for nothing
# else (b"mlflowlz" read as an integer)
SCHEMA_LOCK_KEY = int.from_bytes(b"mlflowlz", "big") & 0x7FFFFFFFFFFFFFFF


@contextlib.contextmanager
def schema_lock(engine, log=None):
    """Held by one process of all the tasks at a time: PostgreSQL's session advisory lock (freed
    by the database if the task dies), or for SQLite (the tests, the sandbox) a file lock."""
    log = log or _say
    if engine.dialect.name == "postgresql":
        import sqlalchemy

        with engine.connect() as connection:
            if not connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"),
                                      {"k": SCHEMA_LOCK_KEY}).scalar():
                log("entrypoint: waiting for another task's schema migration")
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"),
                                   {"k": SCHEMA_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"),
                                   {"k": SCHEMA_LOCK_KEY})
                connection.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        import fcntl

        with open(f"{engine.url.database}.schema-lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log("entrypoint: waiting for another task's schema migration")
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    else:
        raise ValueError(f"no schema lock for a {engine.dialect.name} database")


def migrate(store_uri: str, log=None) -> str:
    """Bring MLflow's schema to this image's MLflow, as MLflow's own store would when it opens
    the database, but once, under the schema lock. Returns what was done."""
    import sqlalchemy
    from mlflow.store.db import utils
    from sqlalchemy.pool import NullPool

    log = log or _say
    engine = sqlalchemy.create_engine(store_uri, poolclass=NullPool)
    try:
        with schema_lock(engine, log):
            head = utils._get_latest_schema_revision()
            if utils._is_empty_database(engine):
                log(f"entrypoint: creating MLflow's schema ({head})")
                utils._initialize_tables(engine)
                return "created"
            current = utils._get_schema_version(engine)
            if current == head and utils._all_tables_exist(engine):
                return "up to date"
            if current is None or current == head:  # a first creation that stopped half-way
                log(f"entrypoint: completing MLflow's schema to {head}")
                utils._initialize_tables(engine)
                return f"upgraded to {head}"
            # a release's migrations (which create the tables it adds)
            log(f"entrypoint: upgrading MLflow's schema from {current} to {head}")
            utils._upgrade_db(engine)
            return f"upgraded from {current} to {head}"
    finally:
        engine.dispose()


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this MLflow needs: the migration has not run."""


def schema_revisions(store_uri: str) -> tuple:
    """(the database's schema revision or None when it has no MLflow schema, this MLflow's)."""
    import sqlalchemy
    from mlflow.store.db import utils
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(store_uri, poolclass=NullPool)
    try:
        head = utils._get_latest_schema_revision()
        if not utils._all_tables_exist(engine):
            return None, head
        return utils._get_schema_version(engine), head
    finally:
        engine.dispose()


def verify(store_uri: str) -> str:
    """Check, without changing anything, that the schema is this MLflow's; returns the
    revision, or raises SchemaNotCurrent saying what is there and what is needed."""
    current, head = schema_revisions(store_uri)
    if current != head:
        found = f"at {current}" if current else "missing"
        raise SchemaNotCurrent(
            f"MLflow's schema is {found}, this image needs {head}: the migration task "
            f"(the image's `migrate` mode, run by `pulumi up` before the service) has not "
            f"brought it here; not starting")
    return head


def ensure_workspaces(store_uri: str, names) -> list:
    """Create the workspaces that do not exist yet; return the names created. Two tasks that
    start together may race: the loser finds the workspace there, which is what it wanted."""
    from mlflow.entities.workspace import Workspace
    from mlflow.exceptions import MlflowException
    from mlflow.store.workspace.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(store_uri)
    existing = {w.name for w in store.list_workspaces()}
    created = []
    for name in names:
        if name in existing:
            continue
        try:
            store.create_workspace(Workspace(name=name, description=f"Team {name}"))
            created.append(name)
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
    return created


def main(argv=None) -> int:
    """`python -m mlflow_landing_zone_server.schema [--workspaces a,b]`: the entrypoint's step
    alone (the schema brought to this MLflow under the lock, then the workspaces), on the
    database MLFLOW_BACKEND_STORE_URI names; its last line is JSON: what was done."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mlflow_landing_zone_server.schema")
    parser.add_argument("--workspaces", default="", help="comma-separated workspace names")
    args = parser.parse_args(argv)
    store_uri = os.environ.get(STORE_URI_ENV, "")
    if not store_uri:
        print(f"{STORE_URI_ENV} must name the database", file=sys.stderr)
        return 2
    import mlflow

    done = migrate(store_uri)
    created = ensure_workspaces(store_uri, [n.strip() for n in args.workspaces.split(",")
                                            if n.strip()])
    print(json.dumps({"mlflow": mlflow.__version__, "schema": done,
                      "workspaces_created": created}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
