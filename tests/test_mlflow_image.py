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
       "DB_NAME": "mlflow", "MLFLOW_DEFAULT_ARTIFACT_ROOT": "s3://bucket/artifacts",
       "MLFLOW_LZ_REGISTRY_ROOT": "s3://bucket/registry"}


def test_the_uri_quotes_the_password_and_verifies_tls():
    uri = load().backend_store_uri(ENV)
    assert uri == ("postgresql://mlflow:p%40ss%2Fw%3Ard%3F%23@db.example:5432/mlflow"
                   "?sslmode=verify-full&sslrootcert=/app/rds-ca.pem")


def test_the_server_starts_without_the_password_on_its_command_line(monkeypatch):
    module = load()
    seen = {}
    monkeypatch.setattr(module.os, "environ", dict(ENV))
    monkeypatch.setattr(module.os, "execvpe", lambda f, argv, env: seen.update(argv=argv, env=env))
    monkeypatch.setattr(module, "ensure_workspaces", lambda uri, names: seen.update(names=names) or [])
    module.main()
    assert "--enable-workspaces" in seen["argv"] and seen["names"] == []
    # MLflow's app with the registry store that freezes registered versions (plugin/)
    assert seen["argv"][seen["argv"].index("--app-name") + 1] == "landing-zone"
    assert seen["argv"][:2] == ["mlflow", "server"] and "--no-serve-artifacts" in seen["argv"]
    assert not any("p@ss" in a or "postgresql" in a for a in seen["argv"])
    assert "DB_PASSWORD" not in seen["env"]
    assert seen["env"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://mlflow:p%40ss")


def test_missing_settings_stop_the_container_with_their_names(monkeypatch):
    module = load()
    monkeypatch.setattr(module.os, "environ", {"DB_USER": "mlflow"})
    with pytest.raises(SystemExit, match="DB_PASSWORD, DB_HOST, DB_NAME, "
                                         "MLFLOW_DEFAULT_ARTIFACT_ROOT, MLFLOW_LZ_REGISTRY_ROOT"):
        module.main()


def test_each_teams_workspace_is_created_once_and_a_new_team_on_the_next_start(tmp_path):
    from mlflow.store.workspace.sqlalchemy_store import SqlAlchemyStore

    module = load()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"MLFLOW_LZ_WORKSPACES": " team-a, team-b ,"}
    assert module.ensure_workspaces(uri, module.workspace_names(env)) == ["team-a", "team-b"]
    assert module.ensure_workspaces(uri, ["team-a", "team-b"]) == []  # the next start
    assert module.ensure_workspaces(uri, ["team-a", "team-b", "team-c"]) == ["team-c"]
    names = {w.name for w in SqlAlchemyStore(uri).list_workspaces()}
    assert names == {"default", "team-a", "team-b", "team-c"}


def test_the_image_installs_the_app_that_the_entrypoint_names():
    """`--app-name landing-zone` must be an `mlflow.app` entry point of the plugin the
    Dockerfile installs (the sandbox runs the same one from requirements.txt)."""
    import tomllib

    image = ENTRYPOINT.parent
    project = tomllib.loads((image / "plugin" / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["mlflow.app"] == {
        "landing-zone": "mlflow_landing_zone_server.app:app"}
    dockerfile = (image / "Dockerfile").read_text()
    assert "COPY plugin /tmp/plugin" in dockerfile and "pip install" in dockerfile
    requirements = (ENTRYPOINT.parents[2] / "requirements.txt").read_text().split()
    assert "./components/mlflow_image/plugin" in requirements
