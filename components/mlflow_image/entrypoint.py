"""Start `mlflow server` with the database URL assembled from the container's environment.

ECS injects the password from Secrets Manager as DB_PASSWORD; it goes into the server's
environment (MLFLOW_BACKEND_STORE_URI), never onto a command line where `ps` would show it.

Workspaces are on (one per team). MLFLOW_LZ_WORKSPACES names the teams' workspaces; each one
that does not exist yet is created before the server starts, so a team added to the central
stack's config gets its workspace with the next `pulumi up` (which replaces the tasks).
"""

import os
import sys
from urllib.parse import quote


def backend_store_uri(env) -> str:
    user, password = quote(env["DB_USER"], safe=""), quote(env["DB_PASSWORD"], safe="")
    return (f"postgresql://{user}:{password}@{env['DB_HOST']}:{env.get('DB_PORT', '5432')}/"
            f"{env['DB_NAME']}?sslmode=verify-full&sslrootcert=/app/rds-ca.pem")


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
    return [n.strip() for n in env.get("MLFLOW_LZ_WORKSPACES", "").split(",") if n.strip()]


def main():
    env = dict(os.environ)
    missing = [k for k in ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_NAME",
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT", "MLFLOW_LZ_REGISTRY_ROOT")
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
    created = ensure_workspaces(env["MLFLOW_BACKEND_STORE_URI"], workspace_names(env))
    print(f"entrypoint: workspaces created: {', '.join(created) or 'none (all there)'}",
          flush=True)
    argv = ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000",
            "--workers", env.get("MLFLOW_WORKERS", "4"),
            # Artifact bytes go to S3 directly (API Gateway caps payloads at 10 MB); the UI
            # reads them through /get-artifact with the task role.
            "--no-serve-artifacts",
            "--enable-workspaces",
            # MLflow's app with the landing zone's registry store: a registered version serves
            # a frozen copy of its files under MLFLOW_LZ_REGISTRY_ROOT (plugin/)
            "--app-name", "landing-zone"]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
