"""The MLflow release before the pinned one, in a Python of its own: the "old image" of the
upgrade rehearsal (tests/sandbox/test_upgrade_rehearsal.py) and the source of the record of its
routes (roles/routes-mlflow-<version>.json, tests/roles/test_route_diff.py).

Which release: the one whose routes roles/route_diff.py keeps (`PREVIOUS`). Which Python:
LZ_PREVIOUS_MLFLOW_PYTHON, if set, names one that has it (a developer's existing venv);
otherwise a venv made once with pip (PyPI) under ~/.cache/mlflow-landing-zone/ and kept: that
MLflow with the image's PostgreSQL driver and boto3, and this checkout's server plugin installed
without dependencies for its entry point (its code comes from PYTHONPATH: `plugin_path()`).
A fixture that calls `previous_python()` says `@needs("pip")`.
"""

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

from roles.route_diff import PREVIOUS, load

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "components" / "mlflow_image" / "plugin"
ENV = "LZ_PREVIOUS_MLFLOW_PYTHON"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlflow-landing-zone"


def previous_version() -> str:
    return load(PREVIOUS)["mlflow"]


def _pin(package: str) -> str:
    """requirements.txt's exact pin of a package (the image's driver: the same pin)."""
    text = (ROOT / "requirements.txt").read_text()
    return re.search(rf"^({re.escape(package)}(?:\[[a-z]+\])?==[^\s#]+)", text, re.M).group(1)


def _mlflow_of(python: str) -> str:
    return subprocess.run([python, "-c", "import mlflow; print(mlflow.__version__)"],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": ""}).stdout.strip()


def previous_python() -> str:
    """An interpreter with the previous MLflow release (made and cached on first use)."""
    version = previous_version()
    given = os.environ.get(ENV)
    if given:
        found = _mlflow_of(given)
        if found != version:
            raise RuntimeError(f"{ENV}={given} has MLflow {found}, not {version}")
        return given
    venv = CACHE / f"mlflow-{version}-py{sys.version_info.major}{sys.version_info.minor}"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one maker at a time; the others wait, then reuse
        if not ready.is_file():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run([*pip, f"mlflow=={version}", _pin("psycopg"), "boto3"], check=True)
            subprocess.run([*pip, "--no-deps", str(PLUGIN)], check=True)
            ready.write_text(version + "\n")
    return str(python)


def plugin_path() -> str:
    """PYTHONPATH for the old Python: this checkout's plugin (which runs on the previous release
    too: what it adapts to the pinned one is skipped where MLflow lacks it), ahead of the rest."""
    return os.pathsep.join(p for p in (str(PLUGIN), os.environ.get("PYTHONPATH", "")) if p)
