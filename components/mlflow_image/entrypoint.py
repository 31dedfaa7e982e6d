"""Start `mlflow server` with the database URL assembled from the container's environment.

ECS injects the password from Secrets Manager as DB_PASSWORD; it goes into the server's
environment (MLFLOW_BACKEND_STORE_URI), never onto a command line where `ps` would show it.

MLflow's schema is brought to this image's version first, by one task at a time (`migrate`:
a PostgreSQL advisory lock), before any worker starts: two tasks starting on an empty database
would otherwise create it at once, and a new MLflow release upgrades the schema here, on the
first task of the deployment that brings it.

Workspaces are on (one per team). MLFLOW_LZ_WORKSPACES names the teams' workspaces; each one
that does not exist yet is created before the server starts, so a team added to the central
stack's config gets its workspace with the next `pulumi up` (which replaces the tasks).
"""

import contextlib
import os
import sys
import time
from urllib.parse import quote

# The image's plugin carries what the landing zone's spec says of the server (its port, the
# flags the sandbox starts it with too, the environment): generated from spec/server.py
from mlflow_landing_zone_server._spec import (
    LOCAL_HOST,
    PORT,
    REGISTRY_ROOT_ENV,
    SERVER_FLAGS,
    WORKERS_ENV,
    WORKSPACES_ENV,
)

# pg_advisory_lock's key for "MLflow's schema": any 64-bit number the cluster uses for nothing
# else (b"mlflowlz" read as an integer)
SCHEMA_LOCK_KEY = int.from_bytes(b"mlflowlz", "big") & 0x7FFFFFFFFFFFFFFF


def backend_store_uri(env) -> str:
    user, password = quote(env["DB_USER"], safe=""), quote(env["DB_PASSWORD"], safe="")
    return (f"postgresql://{user}:{password}@{env['DB_HOST']}:{env.get('DB_PORT', '5432')}/"
            f"{env['DB_NAME']}?sslmode=verify-full&sslrootcert=/app/rds-ca.pem")


def _say(message: str):
    print(message, flush=True)


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
            if not utils._all_tables_exist(engine):
                empty = utils._is_empty_database(engine)
                log(f"entrypoint: creating MLflow's schema ({head})"
                    if empty else f"entrypoint: completing MLflow's schema to {head}")
                utils._initialize_tables(engine)
                return "created" if empty else f"upgraded to {head}"
            current = utils._get_schema_version(engine)
            if current == head:
                return "up to date"
            log(f"entrypoint: upgrading MLflow's schema from {current} to {head}")
            utils._upgrade_db(engine)
            return f"upgraded from {current} to {head}"
    finally:
        engine.dispose()


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


def workspace_names(env) -> list:
    return [n.strip() for n in env.get(WORKSPACES_ENV, "").split(",") if n.strip()]


def main():
    env = dict(os.environ)
    missing = [k for k in ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_NAME",
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT", REGISTRY_ROOT_ENV)
               if not env.get(k)]
    if missing:
        sys.exit(f"entrypoint: missing environment variables: {', '.join(missing)}")
    env["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri(env)
    del env["DB_PASSWORD"]
    # New connections take the current password from DB_LOGIN_ARN (after RDS rotates it);
    # the image loads this in every process, and here it is said outright.
    try:
        from mlflow_landing_zone_server import rotation
    except ImportError:  # the entrypoint run outside the image (its tests)
        rotation = None
    if rotation is not None:
        rotation.install(env)
    started = time.monotonic()
    done = migrate(env["MLFLOW_BACKEND_STORE_URI"])
    print(f"entrypoint: MLflow's schema {done} ({time.monotonic() - started:.1f} s)", flush=True)
    created = ensure_workspaces(env["MLFLOW_BACKEND_STORE_URI"], workspace_names(env))
    print(f"entrypoint: workspaces created: {', '.join(created) or 'none (all there)'}",
          flush=True)
    # Artifact bytes go to S3 directly, workspaces on, MLflow's app with the landing zone's
    # registry store: SERVER_FLAGS (spec/server.py says why)
    argv = ["mlflow", "server", "--host", LOCAL_HOST, "--port", str(PORT),
            "--workers", env.get(WORKERS_ENV, "4"), *SERVER_FLAGS]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
