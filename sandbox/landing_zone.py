"""Start and stop the whole landing zone on this machine: emulated AWS, MLflow, the gateway."""

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from authorizer.build import write_data
from authorizer.handler import Authorizer, load_data
from authorizer.tokens import JwksCache, TokenVerifier
from roles import authorizer_rules
from spec.accounts import ARTIFACT_ROOT_PREFIX, REGISTRY_ROOT_PREFIX, role_arn
from spec.registry_events import PLATFORM_WRITER_ENV, STATUS_WRITER_ROLE_NAME
from spec.server import APPROVAL_ENV, EVENT_BUS_ARN_ENV, WORKSPACE_ROLE_ENV
from spec.edge import (
    TOKEN_LEEWAY_SECONDS,
    refresh_margin_seconds,
    team_base_path,
)
from ui.build import build as build_ui
from ui.hosting import shell_config
# the tracking server image's start steps (its plugin, installed as a package)
from mlflow_landing_zone_server import schema

from . import aws as emulated
from . import emulation
from . import example
from .plan import load_plan
from .credentials import write_aws_config, write_private
from .database import start_postgres, stop_leftover
from .gateway import Gateway
from .mlflow_server import MlflowServer, ensure_workspaces
from .ui_server import COGNITO_PATH, UI_HOST, UiServer, choose_port

# The sign-in shell's Cognito flow here. On AWS the shell uses SRP (the password never leaves
# the browser); moto accepts any SRP proof without checking the password, so here the shell
# sends the password itself (USER_PASSWORD_AUTH), which moto does check: a wrong password is
# refused as it is on AWS.
SANDBOX_AUTH_FLOW = "USER_PASSWORD_AUTH"

DEFAULT_STATE_DIR = Path(".sandbox")
# The logs in the state directory (printed at start: MLflow's own is where its errors are)
MLFLOW_LOG, ACCESS_LOG, UI_ACCESS_LOG = "mlflow.log", "access.log", "ui-access.log"
# The authorizer's data files (policy rules, workspaces), as the Lambda's archive holds them
AUTHORIZER_DATA = "authorizer"
SERVING_DIR = "serving"  # the status writer's data and the endpoints' model copies
# Held (flock) by the sandbox for its life: a second one on the same directory would run a
# second MLflow on the same database
LOCK_NAME = "sandbox.lock"
# MLflow's database: SQLite (the quick default) or a real PostgreSQL, as Aurora is on AWS
DATABASES = ("sqlite", "postgresql")
POSTGRES_DIR = "postgres"  # its data directory, socket, password and log, in the state directory


SESSION_RENEWAL_SECONDS = 5  # how often the teams' sessions are checked for renewal


class LandingZone:
    """`plan`: what to seed (sandbox/plan.py; default: Pulumi.central.yaml and
    sandbox/users.yaml); `authorizer_ttl`, `token_seconds`: the plan's unless given."""

    def __init__(self, state_file: Path, port: int = 8080, backend_store_uri: str = None,
                 authorizer_ttl: int = None, token_seconds: int = None,
                 aws_port: int = 0, ui_port: int = 0, database: str = "sqlite", plan=None,
                 mlflow_python: Path = None):
        if database not in DATABASES:
            raise ValueError(f"database must be one of {', '.join(DATABASES)}, not {database!r}")
        if backend_store_uri and database != "sqlite":
            raise ValueError("a backend store URI names its own database: not with --database")
        self.plan = plan or load_plan()
        self.state_file = Path(state_file)
        self.dir = self.state_file.parent
        self.port = port
        self.database = database
        self.postgres = None  # started in start() with database="postgresql"
        # whether this start put the kept artifacts back into S3: only then does stop() keep
        # S3's (a start that failed before, as on a refused schema, would keep an empty bucket)
        self._artifacts_loaded = False
        # the Python of "the image": its MLflow runs the schema step and the server (an
        # upgrade's rehearsal runs the previous release's)
        self.mlflow_python = str(mlflow_python) if mlflow_python else None
        self.backend_store_uri = backend_store_uri or f"sqlite:///{(self.dir / 'mlflow.db').resolve()}"
        self.authorizer_ttl = (self.plan.authorizer_ttl if authorizer_ttl is None
                               else authorizer_ttl)
        self.token_seconds = self.plan.token_seconds if token_seconds is None else token_seconds
        self.aws_port = aws_port
        self.ui_port = ui_port
        self.aws = self.mlflow = self.gateway = self.ui = None
        self.example = None
        self._stopping = threading.Event()
        self.restarts = 0

    def start(self, progress=print):
        started = time.monotonic()
        private_dir(self.dir)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines
        earlier = self._earlier_state()
        passwords = _passwords_of(earlier)
        # --port 0 / --ui-port 0: the last start's ports if they are free, so the URLs it
        # printed stay good
        self.port = self.port or emulated.free_port(preferred=_port_of(earlier.get("gateway_url")))
        self.ui_port = choose_port(self.ui_port, preferred=_port_of(earlier.get("ui_url")))
        # and emulated AWS's: a process of the last start (a notebook) keeps its AWS profile's
        # endpoint, where it fetches credentials again when the edge no longer knows its own
        earlier_aws = earlier.get("aws")
        self.aws_port = self.aws_port or emulated.free_port(preferred=_port_of(
            earlier_aws.get("endpoint_url") if isinstance(earlier_aws, dict) else None))
        # STS sessions live by the wall clock until a test moves it (emulation.sts_now): each
        # start begins on the wall clock
        clock = self.dir / emulation.STS_CLOCK_FILE
        clock.unlink(missing_ok=True)
        emulation.use_sts_clock_file(clock)
        with _step(progress, "starting emulated AWS (moto: Cognito, IAM, STS, S3, EventBridge, SageMaker) and seeding "
                             "accounts"):
            self.aws = emulated.start_aws(self.plan, self.aws_port, self.token_seconds,
                                          passwords, serving_api_url=f"http://127.0.0.1:"
                                                                     f"{self.port}",
                                          serving_dir=self.dir / SERVING_DIR)
        if self.database == "postgresql":
            with _step(progress, f"starting PostgreSQL (data in {self.dir / POSTGRES_DIR})"):
                earlier_database = earlier.get("database")
                self.postgres = start_postgres(self.dir / POSTGRES_DIR, port=emulated.free_port(
                    preferred=_port_of(earlier_database.get("url")
                                       if isinstance(earlier_database, dict) else None)))
                self.backend_store_uri = self.postgres.url
            with _step(progress, "MLflow's schema and the teams' workspaces, as the image's "
                                 "entrypoint brings them"):
                # The tracking server image's own step (its plugin), before any worker opens
                # the database: the schema migrated under PostgreSQL's advisory lock. (SQLite,
                # the quick default, leaves both to MLflow: no import of its stores here.)
                if self.mlflow_python:
                    done, created = _schema_step_in(self.mlflow_python, self.backend_store_uri,
                                                    list(self.plan.workspaces), progress)
                else:
                    done = schema.migrate(self.backend_store_uri, log=progress)
                    created = schema.ensure_workspaces(self.backend_store_uri,
                                                       list(self.plan.workspaces))
                progress(f"  MLflow's schema {done}; workspaces created: "
                         f"{', '.join(created) or 'none (all there)'}")
        with _step(progress, f"starting mlflow server (backend "
                             f"{self.backend_store_uri.split(':')[0]}) and the teams' workspaces"):
            restored = self._restore_artifacts()
            self._artifacts_loaded = True
            if restored:
                progress(f"  {restored} artifacts restored")
            # The UI's origin is MLflow's one allowed browser origin: its port is chosen now.
            ui_port = self.ui_port
            self.mlflow = MlflowServer(
                port=emulated.free_port(), backend_store_uri=self.backend_store_uri,
                artifact_root=f"s3://{emulated.BUCKET}/{ARTIFACT_ROOT_PREFIX}",
                registry_root=f"s3://{emulated.BUCKET}/{REGISTRY_ROOT_PREFIX}",
                aws_env={"AWS_ACCESS_KEY_ID": self.aws.server_keys["AccessKeyId"],
                         "AWS_SECRET_ACCESS_KEY": self.aws.server_keys["SecretAccessKey"],
                         "AWS_DEFAULT_REGION": self.plan.region,
                         "MLFLOW_S3_ENDPOINT_URL": self.aws.endpoint_url,
                         "AWS_ENDPOINT_URL_STS": self.aws.endpoint_url,
                         WORKSPACE_ROLE_ENV: self.aws.workspace_role_arn,
                         # the one caller admitted for landing_zone.* tags (issue 27)
                         PLATFORM_WRITER_ENV: role_arn(self.plan.central_account,
                                                       STATUS_WRITER_ROLE_NAME),
                         # the registry's events to the emulated central bus, and the
                         # teams' approval rules that are not the default
                         "AWS_ENDPOINT_URL_EVENTBRIDGE": self.aws.endpoint_url,
                         EVENT_BUS_ARN_ENV: self.aws.registry_events["bus_arn"],
                         **({APPROVAL_ENV: json.dumps(self.plan.approval, sort_keys=True)}
                            if self.plan.approval else {})},
                log_path=self.dir / MLFLOW_LOG, ui_origin=f"http://{UI_HOST}:{ui_port}",
                python=self.mlflow_python)
            self.mlflow.start()
            ensure_workspaces(self.mlflow.url, self.plan.workspaces)
        verifier = TokenVerifier(issuer=self.aws.issuer, client_ids=[self.aws.client_id],
                                 jwks=JwksCache(self.aws.jwks_url), token_uses=("id",),
                                 leeway=TOKEN_LEEWAY_SECONDS, min_remaining=self.authorizer_ttl)
        # The Lambda's data as its archive holds it, written and read by the same code
        rules, workspaces = load_data(write_data(authorizer_rules(), self.plan.workspaces,
                                                 self.dir / AUTHORIZER_DATA))
        self.authorizer = authorizer = Authorizer(verifier, rules, self.plan.group_levels,
                                                  workspaces)
        self.gateway = Gateway(
            port=self.port, upstream_url=self.mlflow.url, api_arn=emulated.api_arn(self.plan),
            account_id=self.plan.central_account, region=self.plan.region, authorizer=authorizer,
            lookup_access_key=emulation.lookup_access_key,
            identity_policies=emulation.identity_policies,
            principal_context=emulation.principal_context,
            access_log_path=self.dir / ACCESS_LOG, authorizer_ttl=self.authorizer_ttl,
            platform_contact=self.plan.platform_contact)
        with _step(progress, "logging the example run (first start) or finding it"):
            self.example = example.seed(self.mlflow.url, self._artifact_client(),
                                        emulated.BUCKET, self.plan.teams[0].name)
        with _step(progress, "building the UI bundle (the sign-in shell around MLflow's own "
                             "UI; the first start runs npm ci)"):
            bundle = build_ui(self.dir / "ui", progress=progress)
        self.ui = UiServer(bundle_dir=bundle.path, gateway_url=self.gateway.url,
                           cognito_url=self.aws.endpoint_url,
                           cognito_origin=self.aws.endpoint_url, port=ui_port,
                           revoke_token=emulation.revoke_refresh_token, config={},
                           access_log_path=self.dir / UI_ACCESS_LOG)
        self.ui.config = shell_config(
            region=self.plan.region, user_pool_id=self.aws.user_pool_id,
            client_id=self.aws.client_id, group_levels=self.plan.group_levels,
            workspaces=self.plan.workspaces,
            auth_flow=SANDBOX_AUTH_FLOW, cognito_endpoint=self.ui.url + COGNITO_PATH,
            refresh_margin=refresh_margin_seconds(self.token_seconds, self.authorizer_ttl))
        self.gateway.ui_url = self.ui.url
        self.gateway.start()
        self.ui.start()
        self.write_state()
        threading.Thread(target=self._watch_mlflow, args=(progress,), daemon=True).start()
        self.startup_seconds = time.monotonic() - started
        return self.state()

    def _watch_mlflow(self, progress):
        """Like ECS replacing a stopped task: a dead MLflow is started again. And as SageMaker
        renews a job's credentials: the teams' sessions, before they expire (every 5 s)."""
        renewal_due = time.monotonic()
        while not self._stopping.wait(0.5):
            if time.monotonic() >= renewal_due:
                renewal_due = time.monotonic() + SESSION_RENEWAL_SECONDS
                try:
                    if emulated.renew_sessions(self.aws):
                        self.write_state()
                except Exception as e:  # the next round tries again
                    progress(f"the teams' sessions were not renewed: {e}")
            if self.mlflow.process.poll() is None:
                continue
            progress(f"mlflow server exited ({self.mlflow.process.returncode}); restarting")
            try:
                self.mlflow.start()
                self.restarts += 1
                self.write_state()
            except Exception as e:
                progress(f"mlflow server did not restart: {e}")

    def _earlier_state(self) -> dict:
        """The last start's state file: its users' passwords and its ports are kept, so what
        it printed still works; {} on a first start or after --reset."""
        return _read_state(self.state_file)

    def state(self) -> dict:
        return {
            "pid": os.getpid(),  # the sandbox.credentials profiles ask whether it runs
            "gateway_url": self.gateway.url,
            "ui_url": self.ui.url,
            "mlflow_url": self.mlflow.url,
            "aws": {"endpoint_url": self.aws.endpoint_url, "region": self.plan.region},
            "central_account_id": self.plan.central_account,
            "mlflow_pid": self.mlflow.process.pid,
            "database": {"kind": self.backend_store_uri.split(":")[0].split("+")[0],
                         "url": self.backend_store_uri},
            "api_arn": emulated.api_arn(self.plan),
            "cognito": {"user_pool_id": self.aws.user_pool_id, "client_id": self.aws.client_id,
                        "users": [self._with_levels(u) for u in self.aws.users],
                        # the platform team's keys for the pool (docs/deploy.md: "Remove a user")
                        "platform_admin": self.aws.platform_admin_keys},
            # the central bus the tracking server puts the registry's events on, the audit
            # log group every event lands in, and keys that may read it (each team's own
            # bus and record: its `registry_events`)
            "registry_events": self.aws.registry_events,
            "teams": [{**team, "tracking_uri": self.gateway.url + team_base_path(team["name"])}
                      for team in self.aws.teams],
            "example": self.example,
        }

    def _with_levels(self, user: dict) -> dict:
        """A user's levels per workspace, as the authorizer decides them ("a,b" for two)."""
        held = self.authorizer.workspaces_of({"cognito:groups": user["groups"]})
        return {**user, "levels": {w: ",".join(levels) for w, levels in held.items()}}

    def write_state(self):
        state = self.state()
        write_private(self.state_file, json.dumps(state, indent=2))
        write_aws_config(state, self.state_file)

    # S3 is in memory in moto: artifacts are kept on disk between runs, like the database.
    def _artifact_client(self):
        return self.aws.client("s3", **self.aws.keeper_keys)

    def _restore_artifacts(self) -> int:
        folder = self.dir / "artifacts"
        if not folder.is_dir():
            return 0
        s3, count = self._artifact_client(), 0
        for path in folder.rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), emulated.BUCKET, path.relative_to(folder).as_posix())
                count += 1
        return count

    def save_artifacts(self) -> int:
        folder = self.dir / "artifacts"
        tmp = self.dir / "artifacts.saving"
        shutil.rmtree(tmp, ignore_errors=True)
        s3, count = self._artifact_client(), 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=emulated.BUCKET):
            for item in page.get("Contents", []):
                target = tmp / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(emulated.BUCKET, item["Key"], str(target))
                count += 1
        shutil.rmtree(folder, ignore_errors=True)
        if tmp.exists():
            tmp.replace(folder)
        return count

    def stop(self, progress=print):
        self._stopping.set()
        if self.ui:
            self.ui.stop()
        if self.gateway:
            self.gateway.stop()
        if self.aws and self._artifacts_loaded:
            try:
                saved = self.save_artifacts()
                progress(f"kept {saved} artifacts in {self.dir / 'artifacts'}")
            except Exception as e:  # nothing to keep is better than a stop that hangs
                progress(f"could not keep artifacts: {e}")
        if self.mlflow:
            self.mlflow.stop()
        if self.postgres:
            try:
                self.postgres.stop()
            except Exception as e:
                progress(f"could not stop PostgreSQL: {e}")
        if self.aws:
            self.aws.stop()


# What the sandbox keeps in its state directory (reset() removes exactly these).
STATE_NAMES = ("mlflow.db", POSTGRES_DIR, "artifacts", "artifacts.saving", ACCESS_LOG, MLFLOW_LOG,
               "sandbox.json", "ui", UI_ACCESS_LOG, "aws-config", emulation.STS_CLOCK_FILE)


class AlreadyRunning(RuntimeError):
    pass


def _schema_step_in(python: str, store_uri: str, workspaces: list, progress):
    """The image's schema step run by another Python (its MLflow's migrations): (what was
    done, the workspaces created). The URL goes through the environment, not the command line."""
    import subprocess

    result = subprocess.run(
        [python, "-m", "mlflow_landing_zone_server.schema", "--workspaces", ",".join(workspaces)],
        env={**os.environ, schema.STORE_URI_ENV: store_uri}, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=600)
    for line in result.stdout.splitlines():
        if line.startswith("entrypoint: "):
            progress(line)
    if result.returncode != 0:
        raise RuntimeError(f"the schema step of {python} failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[-2000:]}")
    done = json.loads(result.stdout.strip().splitlines()[-1])
    progress(f"  the schema step of MLflow {done['mlflow']} ({python})")
    return done["schema"], done["workspaces_created"]


def hold_state_dir(state_file: Path):
    """Claim the state directory for this process's life (the open file returned holds it; the
    kernel lets go when the process ends, however it ends). A sandbox already running there
    is named, with how to stop it or where else to start."""
    state_file = Path(state_file)
    private_dir(state_file.parent)
    lock = open(state_file.parent / LOCK_NAME, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        state = _read_state(state_file)
        urls = (f" (gateway {state['gateway_url']}, UI {state['ui_url']})"
                if str(state.get("pid")) == holder and {"gateway_url", "ui_url"} <= set(state)
                else "")
        raise AlreadyRunning(
            f"a sandbox is already running on {state_file.parent.resolve()}: pid {holder}"
            f"{urls}. Stop it (Ctrl-C in its shell, or `kill {holder}`), or start another "
            f"with its own state: --state-file <another directory>/sandbox.json") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def _read_state(state_file: Path) -> dict:
    try:
        state = json.loads(Path(state_file).read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def private_dir(path: Path) -> None:
    """The state directory, for its owner alone: besides the state file and the AWS config it
    holds MLflow's database, the artifacts and the access logs. One an earlier start left
    open to others is closed too, but only a directory that holds nothing but the sandbox's
    own files: a folder of the user's (`--state-file ./sandbox.json`) keeps its mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode
    if mode & 0o077 and all(child.name in STATE_NAMES + (LOCK_NAME,)
                            for child in path.iterdir()):
        path.chmod(mode & 0o700)


def _passwords_of(state: dict) -> dict:
    """{username: password} of a state file's users ({} for anything else)."""
    cognito = state.get("cognito") if isinstance(state, dict) else None
    users = cognito.get("users") if isinstance(cognito, dict) else None
    if not isinstance(users, list):
        return {}
    return {u["username"]: u["password"] for u in users
            if isinstance(u, dict) and isinstance(u.get("username"), str)
            and isinstance(u.get("password"), str)}


def _port_of(url) -> int:
    try:
        return urlsplit(url).port or 0
    except (TypeError, ValueError):
        return 0


@contextlib.contextmanager
def _step(progress, message: str):
    """Say what starts, then how long it took."""
    started = time.monotonic()
    progress(f"{message} ...")
    yield
    progress(f"  done in {time.monotonic() - started:.1f} s")


def reset(state_dir: Path):
    stop_leftover(state_dir / POSTGRES_DIR)  # one a killed sandbox left running
    for name in STATE_NAMES:
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
