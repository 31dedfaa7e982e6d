"""Start `mlflow server` with the database URL assembled from the container's environment.

ECS injects the password from Secrets Manager as DB_PASSWORD; it goes into the server's
environment (MLFLOW_BACKEND_STORE_URI), never onto a command line where `ps` would show it.
"""

import os
import sys
from urllib.parse import quote


def backend_store_uri(env) -> str:
    user, password = quote(env["DB_USER"], safe=""), quote(env["DB_PASSWORD"], safe="")
    return (f"postgresql://{user}:{password}@{env['DB_HOST']}:{env.get('DB_PORT', '5432')}/"
            f"{env['DB_NAME']}?sslmode=verify-full&sslrootcert=/app/rds-ca.pem")


def main():
    env = dict(os.environ)
    missing = [k for k in ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_NAME",
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT") if not env.get(k)]
    if missing:
        sys.exit(f"entrypoint: missing environment variables: {', '.join(missing)}")
    env["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri(env)
    del env["DB_PASSWORD"]
    argv = ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000",
            "--workers", env.get("MLFLOW_WORKERS", "4"),
            # Artifact bytes go to S3 directly (API Gateway caps payloads at 10 MB); the UI
            # reads them through /get-artifact with the task role.
            "--no-serve-artifacts"]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
