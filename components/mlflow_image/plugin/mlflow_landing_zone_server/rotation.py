"""The database password, read where a connection is made, so RDS's rotation breaks nothing.

RDS rotates the cluster's managed master secret every 7 days. ECS reads secrets only when a
task starts, so a password baked into MLflow's database URL works until the first rotation and
then every new connection fails (while a static `/health` keeps the task in service). Here a
SQLAlchemy `do_connect` listener on every engine of the process (MLflow's server workers, its
job runner, the entrypoint) gives each new PostgreSQL connection the current password from
Secrets Manager: cached for a few minutes, read again at once when the database refuses it.

The image loads this module in every Python process (a `.pth` line, see the Dockerfile); it
does nothing unless DB_LOGIN_ARN names the secret.
"""

from __future__ import annotations

import json
import os
import threading
import time

from ._spec import DB_LOGIN_ARN_ENV as SECRET_ARN_ENV

CACHE_SECONDS = 300
_REFUSED = ("password authentication failed", "authentication failed")


class SecretPassword:
    """The `password` field of a Secrets Manager secret (RDS's managed master secret)."""

    def __init__(self, secret_arn: str, client=None, clock=time.monotonic,
                 cache_seconds: float = CACHE_SECONDS):
        self.secret_arn = secret_arn
        self._client = client
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._value, self._read_at = None, None
        self._lock = threading.Lock()
        self.reads = 0

    def _secrets(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def get(self, force: bool = False) -> str:
        with self._lock:
            fresh = (self._read_at is not None
                     and self._clock() - self._read_at < self._cache_seconds)
            if force or not fresh:
                answer = self._secrets().get_secret_value(SecretId=self.secret_arn)
                self._value = json.loads(answer["SecretString"])["password"]
                self._read_at = self._clock()
                self.reads += 1
            return self._value


def connector(password: SecretPassword):
    """The `do_connect` listener: a new PostgreSQL connection with the current password; if the
    database refuses it (rotated since it was read), read it again and retry once."""

    def connect(dialect, connection_record, cargs, cparams):
        if dialect.name != "postgresql":
            return None  # SQLAlchemy connects as usual
        cparams["password"] = password.get()
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as e:
            if not any(text in str(e) for text in _REFUSED):
                raise
        cparams["password"] = password.get(force=True)
        return dialect.connect(*cargs, **cparams)

    return connect


_installed = None


def install(environ=os.environ):
    """Listen on every SQLAlchemy engine of this process (once); None without DB_LOGIN_ARN."""
    global _installed
    if _installed is not None or not environ.get(SECRET_ARN_ENV):
        return _installed
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _installed = SecretPassword(environ[SECRET_ARN_ENV])
    event.listen(Engine, "do_connect", connector(_installed))
    return _installed
