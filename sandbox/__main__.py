"""python -m sandbox: the whole landing zone on this machine, until Ctrl-C.

    python -m sandbox [--port 8080] [--ui-port 8081] [--state-file .sandbox/sandbox.json] [--reset]
                      [--database sqlite|postgresql] [--backend-store-uri postgresql://...]
                      [--authorizer-ttl 60] [--token-seconds 600]
"""

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path

from spec.edge import DEFAULT_AUTHORIZER_TTL_SECONDS, DEFAULT_TOKEN_MINUTES, max_authorizer_ttl

from .credentials import CONFIG_NAME, profile_name
from .landing_zone import (ACCESS_LOG, DATABASES, MLFLOW_LOG, UI_ACCESS_LOG, AlreadyRunning,
                           LandingZone, hold_state_dir, reset)


def newcomer_lines(state: dict, state_file: Path) -> str:
    team = state["teams"][0]
    role = next(r for r in team["roles"] if r["level"] == "contributor")
    user = next(u for u in state["cognito"]["users"] if u["username"] == "reader-user")
    config = (state_file.parent / CONFIG_NAME).resolve()
    # this interpreter by its full path: a `python` on another shell's PATH may have no MLflow
    python = shlex.quote(sys.executable)
    logs = state_file.parent.resolve()
    return f"""
MLflow UI, behind Cognito sign-in: {state['ui_url']}
  (sign in as {user['username']} / {user['password']}, a reader in {team['name']}; other users,
  their levels per team workspace, are in the state file; passwords stay across restarts)
Gateway (the API Gateway stand-in): {state['gateway_url']}
Each team is an MLflow workspace; its SDK callers use its own base URL ({team['name']}: {team['tracking_uri']})
Sign-in users and passwords, team roles and their sessions: {state_file}

Log a run as {team['name']}'s contributor, through the gateway, as a SageMaker job would
(paste into another shell; the client is installed by requirements.txt). The AWS profile
{profile_name(team['name'], 'contributor')} (one per team and level, in {config}) fetches that
level's credentials from the running sandbox, so these lines keep working after a restart:

  export MLFLOW_TRACKING_URI={team['tracking_uri']} MLFLOW_WORKSPACE={team['workspace']}
  export MLFLOW_TRACKING_AUTH=landing-zone
  export MLFLOW_LANDING_ZONE_ROLE_ARN={role['central_role_arn']}
  export AWS_CONFIG_FILE={config} AWS_PROFILE={profile_name(team['name'], 'contributor')}
  {python} -c "import mlflow; mlflow.set_experiment('hello'); mlflow.start_run(); mlflow.log_metric('x', 1); print('logged', mlflow.active_run().info.run_id); mlflow.end_run()"

Logs: MLflow's own {logs / MLFLOW_LOG}; the gateway's access log {logs / ACCESS_LOG};
the UI's access log {logs / UI_ACCESS_LOG}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="the gateway's port (0: any free)")
    parser.add_argument("--state-file", type=Path, default=Path(".sandbox/sandbox.json"))
    parser.add_argument("--reset", action="store_true",
                        help="forget the MLflow data and artifacts of earlier runs first")
    parser.add_argument("--database", choices=DATABASES, default="sqlite",
                        help="MLflow's database: SQLite next to the state file (the quick "
                             "default), or a real PostgreSQL started in the state directory, as "
                             "Aurora is on AWS (needs PostgreSQL's server installed)")
    parser.add_argument("--backend-store-uri", default=None,
                        help="MLflow's database at this URL, instead of one the sandbox starts")
    parser.add_argument("--authorizer-ttl", type=int, default=DEFAULT_AUTHORIZER_TTL_SECONDS,
                        help="seconds a token's policy is cached, as on the stage")
    parser.add_argument("--ui-port", type=int, default=8081,
                        help="the UI's port (0: any free)")
    parser.add_argument("--token-seconds", type=int, default=DEFAULT_TOKEN_MINUTES * 60,
                        help="lifetime of Cognito id and access tokens (the central stack allows "
                             "5 to 15 minutes; shorter here to watch the UI refresh them)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if not 0 <= args.ui_port <= 65535:
        parser.error("--ui-port must be between 0 and 65535")
    if args.backend_store_uri and args.database != "sqlite":
        parser.error("--backend-store-uri names its own database: not with --database")
    if not 20 <= args.token_seconds <= 86400:
        parser.error("--token-seconds must be between 20 and 86400")
    if not 0 <= args.authorizer_ttl <= max_authorizer_ttl(args.token_seconds):
        parser.error(f"--authorizer-ttl must be between 0 and "
                     f"{max_authorizer_ttl(args.token_seconds)} for --token-seconds "
                     f"{args.token_seconds} (a cached policy must not outlive its token, and a "
                     f"token must live twice the cache TTL)")
    try:  # before --reset, which would pull the database from under a running sandbox
        lock = hold_state_dir(args.state_file)  # noqa: F841 (held until the process ends)
    except AlreadyRunning as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 1
    if args.reset:
        reset(args.state_file.parent)

    zone = LandingZone(args.state_file, port=args.port, backend_store_uri=args.backend_store_uri,
                       authorizer_ttl=args.authorizer_ttl, token_seconds=args.token_seconds,
                       ui_port=args.ui_port, database=args.database)
    stopping = threading.Event()

    def stop(*_):
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        state = zone.start(progress=lambda m: print(m, flush=True))
    except OSError as e:
        print(f"sandbox: could not start: {e} (is --port {args.port} or --ui-port "
              f"{args.ui_port} in use? try --port 0 --ui-port 0)",
              file=sys.stderr)
        zone.stop(progress=lambda m: None)
        return 1
    except Exception as e:
        print(f"sandbox: could not start: {e}", file=sys.stderr)
        zone.stop(progress=lambda m: None)
        return 1
    print(newcomer_lines(state, args.state_file), flush=True)
    print(f"ready {state['gateway_url']} in {zone.startup_seconds:.1f} s "
          f"(state: {args.state_file}; Ctrl-C to stop)", flush=True)
    stopping.wait()
    print("stopping ...", flush=True)
    zone.stop(progress=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
