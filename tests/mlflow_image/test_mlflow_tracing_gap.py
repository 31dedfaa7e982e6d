"""The empty stand-in for mlflow-tracing (components/mlflow_image/mlflow_tracing_gap/): it only
satisfies MLflow's requirement, carries no module, and goes where MLflow goes."""

import importlib
import importlib.metadata
import tomllib
from pathlib import Path

import mlflow

ROOT = Path(__file__).resolve().parents[2]
GAP = ROOT / "components" / "mlflow_image" / "mlflow_tracing_gap"


def project():
    return tomllib.loads((GAP / "pyproject.toml").read_text())["project"]


def test_the_stand_in_is_the_pinned_release_and_needs_its_skinny_package():
    from ui.build import pinned_mlflow_version

    meta = project()
    assert (meta["name"], meta["version"]) == ("mlflow-tracing", pinned_mlflow_version())
    assert meta["dependencies"] == [f"mlflow-skinny=={pinned_mlflow_version()}"]
    # what MLflow itself asks for, exactly
    assert f"mlflow-tracing=={pinned_mlflow_version()}" in importlib.metadata.requires("mlflow")


def test_the_stand_in_ships_no_module():
    setuptools = tomllib.loads((GAP / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools == {"packages": [], "py-modules": []}
    assert sorted(p.name for p in GAP.iterdir() if not p.name.endswith(".egg-info")
                  and p.name not in ("build", "__pycache__")) == ["pyproject.toml"]
    installed = importlib.metadata.distribution("mlflow-tracing")
    files = [str(f) for f in installed.files or ()]
    assert files and all(".dist-info/" in f for f in files), files


def test_mlflows_modules_all_come_from_one_release():
    # mlflow-tracing's modules are mlflow-skinny's: the same release as mlflow, so MLflow's own
    # mismatch check has nothing to warn about
    assert importlib.metadata.version("mlflow-skinny") == mlflow.__version__
    assert importlib.metadata.version("mlflow-tracing") == mlflow.__version__
    tracing = importlib.import_module("mlflow.tracing")
    assert Path(tracing.__file__).resolve().is_relative_to(
        Path(mlflow.__file__).resolve().parent)


def test_the_sandbox_and_the_image_install_it():
    requirements = (ROOT / "requirements.txt").read_text().split()
    assert "./components/mlflow_image/mlflow_tracing_gap" in requirements
    dockerfile = (GAP.parent / "Dockerfile").read_text()
    assert "COPY mlflow_tracing_gap /tmp/mlflow_tracing_gap" in dockerfile
    assert "--no-build-isolation /tmp/mlflow_tracing_gap" in dockerfile


def test_this_environments_mlflow_is_whole():
    """Every file mlflow-skinny's RECORD lists is there (a venv upgraded in place from 3.17.2
    is not: sandbox/installed.py)."""
    from sandbox.installed import broken_mlflow_message, missing_mlflow_files

    assert missing_mlflow_files() == [], broken_mlflow_message()


def test_an_mlflow_upgraded_in_place_is_named_with_its_repair(tmp_path):
    """The files pip's uninstall of the old mlflow-tracing took are found, and the sandbox's
    message says how to repair (its start stops with it, before importing MLflow)."""
    from pathlib import PurePosixPath

    from sandbox.installed import broken_mlflow_message, missing_mlflow_files

    (tmp_path / "mlflow" / "tracing").mkdir(parents=True)
    (tmp_path / "mlflow" / "tracing" / "fluent.py").write_text("")

    class Upgraded:  # what importlib.metadata gives, for a venv that lost two files
        version = "3.18.0"
        files = [PurePosixPath(p) for p in ("mlflow/__init__.py", "mlflow/tracing/fluent.py",
                                            "mlflow/tracing/__init__.py",
                                            "mlflow/__pycache__/__init__.cpython-311.pyc")]

        def locate_file(self, path):
            return tmp_path / path

    assert missing_mlflow_files(Upgraded()) == ["mlflow/__init__.py",
                                                 "mlflow/tracing/__init__.py"]
    message = broken_mlflow_message(Upgraded())
    assert message.startswith("the installed MLflow is missing 2 of its files (e.g. "
                              "mlflow/__init__.py)")
    assert message.endswith("pip install --force-reinstall --no-deps mlflow-skinny==3.18.0")
    (tmp_path / "mlflow" / "__init__.py").write_text("")
    (tmp_path / "mlflow" / "tracing" / "__init__.py").write_text("")
    assert broken_mlflow_message(Upgraded()) is None
