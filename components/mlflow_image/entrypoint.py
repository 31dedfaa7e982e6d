"""Start `mlflow server` with the database URL assembled from the container's environment, or,
as `entrypoint.py migrate`, bring MLflow's schema to this image's version and exit.

ECS injects the password from Secrets Manager as DB_PASSWORD; it goes into the server's
environment (MLFLOW_BACKEND_STORE_URI), never onto a command line where `ps` would show it.

Two modes (the same image, the same environment):
- `migrate`: a one-off ECS task that `pulumi up` runs before the service's task definition
  changes (components/schema_migration.py), after a snapshot of the cluster: MLflow's schema is
  created or upgraded under a PostgreSQL advisory lock (one at a time), and the task exits 0.
- no argument (the service's tasks): the schema is only checked. A task whose image needs
  another schema than the database holds refuses to start with a line that says so, rather
  than migrating inside the service's start (where the health-check grace period would kill a
  long migration, and an older image's rollback task would migrate nothing back).
Both steps live in the image's plugin (plugin/mlflow_landing_zone_server/schema.py), which the
sandbox runs too.

Workspaces are on (one per team). MLFLOW_LZ_WORKSPACES names the teams' workspaces; each one
that does not exist yet is created before the server starts, so a team added to the central
stack's config gets its workspace with the next `pulumi up` (which replaces the tasks).
"""

import os
import sys
import time
from urllib.parse import quote

# The image's plugin carries what the landing zone's spec says of the server (its port, the
# flags the sandbox starts it with too, the environment): generated from spec/server.py
from mlflow_landing_zone_server._spec import (
    LOCAL_HOST,
    POOL_ENV,
    PORT,
    REGISTRY_ROOT_ENV,
    SERVER_FLAGS,
    WORKERS_ENV,
    WORKSPACES_ENV,
)

# the image's plugin (installed before this file is copied in): the schema's migration under the
# advisory lock, the workspaces, and the database password read where a connection is made
from mlflow_landing_zone_server import rotation
from mlflow_landing_zone_server.schema import (
    SCHEMA_LOCK_KEY,
    SchemaNotCurrent,
    ensure_workspaces,
    migrate,
    schema_lock,
    verify,
)

__all__ = ["MODES", "SCHEMA_LOCK_KEY", "SchemaNotCurrent", "backend_store_uri",
           "ensure_workspaces", "main", "migrate", "schema_lock", "verify", "workspace_names"]

MIGRATE = "migrate"
MODES = ("serve", MIGRATE)  # serve: no argument


def backend_store_uri(env) -> str:
    user, password = quote(env["DB_USER"], safe=""), quote(env["DB_PASSWORD"], safe="")
    # psycopg 3, named: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg, 2.0 as psycopg2
    return (f"postgresql+psycopg://{user}:{password}@{env['DB_HOST']}:{env.get('DB_PORT', '5432')}/"
            f"{env['DB_NAME']}?sslmode=verify-full&sslrootcert=/app/rds-ca.pem")


def workspace_names(env) -> list:
    return [n.strip() for n in env.get(WORKSPACES_ENV, "").split(",") if n.strip()]


def main(argv=()):
    """`argv`: the container's command (the arguments after entrypoint.py)."""
    argv = list(argv)
    mode = argv[0] if argv else "serve"
    if mode not in MODES or len(argv) > 1:
        sys.exit(f"entrypoint: unknown arguments {' '.join(argv)!r}: none (serve) or "
                 f"{MIGRATE!r}")
    env = dict(os.environ)
    missing = [k for k in ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_NAME",
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT", REGISTRY_ROOT_ENV)
               if not env.get(k)]
    if missing:
        sys.exit(f"entrypoint: missing environment variables: {', '.join(missing)}")
    env["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri(env)
    del env["DB_PASSWORD"]
    # each worker's database pool: two connections for each handler the app runs at once
    # (spec/server.py: HANDLER_THREADS), so that no handler waits for one
    for name, value in POOL_ENV.items():
        env.setdefault(name, value)
    # New connections take the current password from DB_LOGIN_ARN (after RDS rotates it);
    # the image loads this in every process, and here it is said outright.
    rotation.install(env)
    started = time.monotonic()
    if mode == MIGRATE:
        done = migrate(env["MLFLOW_BACKEND_STORE_URI"])
        print(f"entrypoint: migrate: MLflow's schema {done} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
        return
    try:
        revision = verify(env["MLFLOW_BACKEND_STORE_URI"])
    except SchemaNotCurrent as e:
        sys.exit(f"entrypoint: {e}")
    print(f"entrypoint: MLflow's schema is current ({revision})", flush=True)
    created = ensure_workspaces(env["MLFLOW_BACKEND_STORE_URI"], workspace_names(env))
    print(f"entrypoint: workspaces created: {', '.join(created) or 'none (all there)'}",
          flush=True)
    # Artifact bytes go to S3 directly, workspaces on, MLflow's app with the landing zone's
    # registry store: SERVER_FLAGS (spec/server.py says why)
    argv = ["mlflow", "server", "--host", LOCAL_HOST, "--port", str(PORT),
            "--workers", env.get(WORKERS_ENV, "4"), *SERVER_FLAGS]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
