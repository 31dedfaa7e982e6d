"""python -m sandbox: the whole landing zone on this machine, until Ctrl-C.

    python -m sandbox [--port 8080] [--ui-port 8081] [--state-file .sandbox/sandbox.json] [--reset]
                      [--database sqlite|postgresql] [--backend-store-uri postgresql://...]
                      [--authorizer-ttl 60] [--token-seconds 600]
                      [--stack-config Pulumi.central.yaml] [--users sandbox/users.yaml]

It runs the teams, levels, sharing and settings of the central stack's config (and of the team
stacks' files beside it), read as the stacks read them; the sign-in users come from the users
file (sandbox/plan.py says what comes from where).
"""

import argparse
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from .installed import broken_mlflow_message

_BROKEN = broken_mlflow_message() if __name__ == "__main__" else None
if _BROKEN:  # said before anything imports MLflow, which would fail with less to go on
    sys.exit(f"sandbox: {_BROKEN}")

from spec.config import ConfigError  # noqa: E402
from spec.edge import max_authorizer_ttl  # noqa: E402
from spec.stack_file import CENTRAL_FILE  # noqa: E402

from .credentials import CONFIG_NAME, profile_name  # noqa: E402
from .landing_zone import (ACCESS_LOG, DATABASES, MLFLOW_LOG, UI_ACCESS_LOG,  # noqa: E402
                           AlreadyRunning, LandingZone, hold_state_dir, reset)
from .plan import USERS_FILE, load_plan  # noqa: E402


def newcomer_lines(state: dict, state_file: Path) -> str:
    # a team's contributor, and a reader of it to sign in as (the users file's reader-user),
    # or what the config and the users file have nearest to them
    team = next((t for t in state["teams"] if any(r["level"] == "contributor"
                                                  for r in t["roles"])), state["teams"][0])
    role = next((r for r in team["roles"] if r["level"] == "contributor"), team["roles"][0])
    users = [u for u in state["cognito"]["users"]
             if not u.get("temporary_password") and "totp_secret" not in u]
    user = next((u for u in users if u["username"] == "reader-user"), None) or next(
        (u for u in users if team["name"] in u.get("levels", {})), None) or (
        users[0] if users else {"username": "(none: add users to the users file)",
                                "password": "-"})
    held = user.get("levels", {}).get(team["name"])
    as_whom = f"a {held} in {team['name']}" if held else "see its levels in the state file"
    config = (state_file.parent / CONFIG_NAME).resolve()
    # this interpreter by its full path: a `python` on another shell's PATH may have no MLflow
    python = shlex.quote(sys.executable)
    logs = state_file.parent.resolve()
    return f"""
MLflow UI, behind Cognito sign-in: {state['ui_url']}
  (sign in as {user['username']} / {user['password']}, {as_whom}; other users,
  their levels per team workspace, are in the state file; passwords stay across restarts)
Gateway (the API Gateway stand-in): {state['gateway_url']}
Each team is an MLflow workspace; its SDK callers use its own base URL ({team['name']}: {team['tracking_uri']})
Sign-in users and passwords, team roles and their sessions: {state_file}

Log a run as {team['name']}'s {role['level']}, through the gateway, as a SageMaker job would
(paste into another shell; the client is installed by requirements.txt). The AWS profile
{profile_name(team['name'], role['level'])} (one per team and level, in {config}) fetches that
level's credentials from the running sandbox, so these lines keep working after a restart:

  export MLFLOW_TRACKING_URI={team['tracking_uri']} MLFLOW_WORKSPACE={team['workspace']}
  export MLFLOW_TRACKING_AUTH=landing-zone
  export MLFLOW_LANDING_ZONE_ROLE_ARN={role['central_role_arn']}
  export AWS_CONFIG_FILE={config} AWS_PROFILE={profile_name(team['name'], role['level'])}
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
    parser.add_argument("--authorizer-ttl", type=int, default=None,
                        help="seconds a token's policy is cached, as on the stage (default: the "
                             "config's api.authorizerCacheTtl)")
    parser.add_argument("--ui-port", type=int, default=8081,
                        help="the UI's port (0: any free)")
    parser.add_argument("--token-seconds", type=int, default=None,
                        help="lifetime of Cognito id and access tokens (default: the config's "
                             "tokenMinutes; the central stack allows 5 to 15 minutes, shorter "
                             "here to watch the UI refresh them)")
    parser.add_argument("--stack-config", type=Path, default=CENTRAL_FILE, metavar="FILE",
                        help="the central stack's config to run (default: this checkout's "
                             "Pulumi.central.yaml); team stacks' Pulumi.*.yaml beside it too")
    parser.add_argument("--users", type=Path, default=USERS_FILE, metavar="FILE",
                        help="who signs in, in which groups (default: sandbox/users.yaml)")
    parser.add_argument("--mlflow-python", type=Path, default=None, metavar="PYTHON",
                        help="the Python whose MLflow (and the image's plugin) runs the schema "
                             "step and the tracking server, as an image of another MLflow release "
                             "would (default: this one's); rehearses an upgrade "
                             "(docs/operations.md)")
    args = parser.parse_args(argv)
    if args.mlflow_python is not None and not os.access(args.mlflow_python, os.X_OK):
        parser.error(f"--mlflow-python {args.mlflow_python}: not an executable")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if not 0 <= args.ui_port <= 65535:
        parser.error("--ui-port must be between 0 and 65535")
    if args.backend_store_uri and args.database != "sqlite":
        parser.error("--backend-store-uri names its own database: not with --database")
    if args.token_seconds is not None and not 20 <= args.token_seconds <= 86400:
        parser.error("--token-seconds must be between 20 and 86400")
    lock = None
    try:  # a second sandbox on a state directory in use is refused at once, before the config
        if args.state_file.parent.is_dir():  # (none is running where there is no directory)
            lock = hold_state_dir(args.state_file)
    except AlreadyRunning as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 1
    try:  # before anything starts: a bad config names its key, as `pulumi preview` does
        plan = load_plan(args.stack_config, args.users)
    except ConfigError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 2
    token_seconds = plan.token_seconds if args.token_seconds is None else args.token_seconds
    ttl = plan.authorizer_ttl if args.authorizer_ttl is None else args.authorizer_ttl
    if not 0 <= ttl <= max_authorizer_ttl(token_seconds):
        ttl_from = ("--authorizer-ttl" if args.authorizer_ttl is not None
                    else "the config's api.authorizerCacheTtl")
        tokens_from = (f"--token-seconds {token_seconds}" if args.token_seconds is not None
                       else f"the config's tokenMinutes ({token_seconds} s)")
        parser.error(f"{ttl_from} must be between 0 and {max_authorizer_ttl(token_seconds)} "
                     f"for {tokens_from} (a cached policy must not outlive its token, and a "
                     f"token must live twice the cache TTL), got {ttl}")
    try:  # before --reset, which would pull the database from under a running sandbox
        lock = lock or hold_state_dir(args.state_file)  # noqa: F841 (held until the end)
    except AlreadyRunning as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 1
    if args.reset:
        reset(args.state_file.parent)

    zone = LandingZone(args.state_file, port=args.port, backend_store_uri=args.backend_store_uri,
                       authorizer_ttl=ttl, token_seconds=token_seconds,
                       ui_port=args.ui_port, database=args.database, plan=plan,
                       mlflow_python=args.mlflow_python)
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
