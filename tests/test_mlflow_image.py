"""The tracking server's entrypoint: the password goes into the environment, never argv."""

import importlib.util
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parent.parent / "components" / "mlflow_image" / "entrypoint.py"


def load():
    spec = importlib.util.spec_from_file_location("entrypoint", ENTRYPOINT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ENV = {"DB_USER": "mlflow", "DB_PASSWORD": "p@ss/w:rd?#", "DB_HOST": "db.example",
       "DB_NAME": "mlflow", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://bucket/artifacts"}


def test_the_uri_quotes_the_password_and_verifies_tls():
    uri = load().backend_store_uri(ENV)
    assert uri == ("postgresql://mlflow:p%40ss%2Fw%3Ard%3F%23@db.example:5432/mlflow"
                   "?sslmode=verify-full&sslrootcert=/app/rds-ca.pem")


def test_the_server_starts_without_the_password_on_its_command_line(monkeypatch):
    module = load()
    seen = {}
    monkeypatch.setattr(module.os, "environ", dict(ENV))
    monkeypatch.setattr(module.os, "execvpe", lambda f, argv, env: seen.update(argv=argv, env=env))
    module.main()
    assert seen["argv"][:2] == ["mlflow", "server"] and "--no-serve-artifacts" in seen["argv"]
    assert not any("p@ss" in a or "postgresql" in a for a in seen["argv"])
    assert "DB_PASSWORD" not in seen["env"]
    assert seen["env"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://mlflow:p%40ss")


def test_missing_settings_stop_the_container_with_their_names(monkeypatch):
    module = load()
    monkeypatch.setattr(module.os, "environ", {"DB_USER": "mlflow"})
    with pytest.raises(SystemExit, match="DB_PASSWORD, DB_HOST, DB_NAME"):
        module.main()
