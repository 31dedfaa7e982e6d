"""A real PostgreSQL for the sandbox (`python -m sandbox --database postgresql`), as Aurora on AWS.

`start_postgres(data_dir)` runs Debian's PostgreSQL server (package `postgresql`; README:
set-up) on a data directory of its own, as the sandbox's user, on 127.0.0.1 and a free port, with
its unix socket in that directory; it returns the database's URL and a `stop()`. A second start
on the same directory keeps the data (and the password, kept there in a file of its owner's).

PostgreSQL refuses to run as root. Started by root (a container, CI), the server runs in a user
namespace (`unshare --user`) as an unprivileged user there, who owns the data directory as root
does outside, so the directory stays private to root.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .aws import free_port

DATABASE = USER = "mlflow"
# the uid PostgreSQL runs as inside the user namespace when root starts it: `nobody`, whom
# every Debian has (initdb looks its own user up)
NAMESPACE_UID = 65534
# the longest unix socket path the kernel takes (sun_path, 108 bytes with its NUL)
SOCKET_PATH_MAX = 107
INSTALL_HINT = ("install PostgreSQL's server: `sudo apt-get install postgresql` (Debian, Ubuntu; "
                "README: set-up), or put a directory with initdb and pg_ctl on PATH")


class DatabaseError(RuntimeError):
    """PostgreSQL could not be started or stopped; the message says why and what to do."""


@dataclass
class Postgres:
    """A running PostgreSQL of the sandbox: its URL (with the password) and how to stop it."""
    url: str
    port: int
    data_dir: Path
    _pg_ctl: list

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    def running(self) -> bool:
        return _status(self._pg_ctl, self.pgdata)

    def stop(self, timeout: float = 30):
        """Stop the server and wait until it is gone (fast shutdown: sessions are ended)."""
        if self.pgdata.is_dir() and self.running():
            _run([*self._pg_ctl, "-D", str(self.pgdata), "-m", "fast", "-w",
                  "-t", str(int(timeout)), "stop"], "stop PostgreSQL")


def binaries() -> Path:
    """The directory of PostgreSQL's server programs: initdb and pg_ctl on PATH, else the newest
    of Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = [shutil.which(name) for name in ("initdb", "pg_ctl", "postgres")]
    if all(on_path) and len({Path(p).resolve().parent for p in on_path}) == 1:
        return Path(on_path[1]).resolve().parent
    found = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")
             if all(os.access(Path(d) / n, os.X_OK) for n in ("initdb", "pg_ctl", "postgres"))]
    if not found:
        raise DatabaseError(f"--database postgresql: no PostgreSQL server found; {INSTALL_HINT}")
    return max(found, key=lambda d: [int(n) for n in re.findall(r"\d+", d.parent.name)] or [0])


def _as_unprivileged() -> list:
    """The prefix that runs PostgreSQL's programs as a user it accepts: none for an ordinary
    user; for root, a user namespace in which root's files are an unprivileged user's."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    prefix = [unshare or "unshare", "--user", f"--map-user={NAMESPACE_UID}",
              f"--map-group={NAMESPACE_UID}"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True) if unshare else None
    if probe is None or probe.returncode != 0:
        why = probe.stderr.strip() if probe is not None else "no unshare on PATH (util-linux)"
        raise DatabaseError(
            "--database postgresql: PostgreSQL refuses to run as root, and this machine does not "
            f"let root run it in a user namespace ({why}). Start the sandbox as an ordinary "
            "user, or allow user namespaces (sysctl kernel.unprivileged_userns_clone=1, or the "
            "container's seccomp profile)")
    return prefix


def _run(argv: list, what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            **kwargs)
    if result.returncode != 0:
        raise DatabaseError(f"could not {what}: {(result.stderr or result.stdout).strip()}")
    return result


def _status(pg_ctl: list, pgdata: Path) -> bool:
    """Whether a server runs on this data directory (pg_ctl status: 0 running, 3 not)."""
    return subprocess.run([*pg_ctl, "-D", str(pgdata), "status"], capture_output=True,
                          stdin=subprocess.DEVNULL).returncode == 0


def _settings(data_dir: Path, port: int) -> str:
    """What this start's server listens on: loopback only, and the socket in its own directory
    (none if that path is too long for a unix socket: TCP alone serves the sandbox)."""
    socket_dir = (data_dir / "socket").resolve()
    if len(f"{socket_dir}/.s.PGSQL.{port}") > SOCKET_PATH_MAX:
        socket_dirs = ""
    else:
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        socket_dirs = str(socket_dir)
    return (f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{socket_dirs}'\n")


def start_postgres(data_dir: Path, port: int = 0, timeout: float = 60) -> Postgres:
    """PostgreSQL on `data_dir` (created on the first start, kept after), on `port` (0: any
    free one); returns once it takes connections and its database exists."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    bin_dir = binaries()
    prefix = _as_unprivileged()
    pg_ctl = [*prefix, str(bin_dir / "pg_ctl")]
    pgdata = data_dir / "data"
    password_file = data_dir / "password"
    if not (pgdata / "PG_VERSION").is_file():
        shutil.rmtree(pgdata, ignore_errors=True)  # a first start that stopped half-way
        password = secrets.token_urlsafe(24)
        _write_private(password_file, password + "\n")
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(pgdata), "-U", USER,
              "--auth=scram-sha-256", f"--pwfile={password_file}", "-E", "UTF8",
              "--no-locale"], "create PostgreSQL's data directory (initdb)")
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write("\n# the sandbox's, written at each start (sandbox/database.py)\n"
                       "include_if_exists = 'sandbox.conf'\n")
    password = password_file.read_text().strip()
    if _status(pg_ctl, pgdata):
        # left running by a sandbox that was killed (the state directory's lock says no other
        # sandbox uses it now): stopped, then started on this start's port
        _run([*pg_ctl, "-D", str(pgdata), "-m", "fast", "-w", "stop"],
             "stop the PostgreSQL an earlier sandbox left running")
    port = port or free_port()
    (pgdata / "sandbox.conf").write_text(_settings(data_dir, port))
    # the driver named, as the image's entrypoint names it (requirements.txt pins psycopg 3)
    server = Postgres(url=f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{port}/{DATABASE}",
                      port=port, data_dir=data_dir, _pg_ctl=pg_ctl)
    try:
        _run([*pg_ctl, "-D", str(pgdata), "-l", str(data_dir / "postgres.log"), "-w",
              "-t", str(int(timeout)), "start"],
             f"start PostgreSQL (its log: {data_dir / 'postgres.log'})")
        _create_database(port, password, timeout)
    except BaseException:
        server.stop()  # nothing left running
        raise
    return server


def _create_database(port: int, password: str, timeout: float):
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = psycopg.connect(host="127.0.0.1", port=port, user=USER,
                                         password=password, dbname="postgres", connect_timeout=5,
                                         autocommit=True)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (DATABASE,)).fetchone() is None:
            connection.execute(f"CREATE DATABASE {DATABASE}")


def stop_leftover(data_dir: Path):
    """Stop a PostgreSQL still running on `data_dir` (before --reset removes it)."""
    pgdata = Path(data_dir).resolve() / "data"
    if not (pgdata / "PG_VERSION").is_file():
        return
    pg_ctl = [*_as_unprivileged(), str(binaries() / "pg_ctl")]
    if _status(pg_ctl, pgdata):
        _run([*pg_ctl, "-D", str(pgdata), "-m", "fast", "-w", "stop"], "stop PostgreSQL")


def _write_private(path: Path, text: str):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


__all__ = ["DatabaseError", "Postgres", "binaries", "start_postgres", "stop_leftover"]
