"""Whether the installed MLflow is whole, before anything imports it (stdlib only).

MLflow 3.18.0's `mlflow-tracing` is an empty stand-in here (components/mlflow_image/
mlflow_tracing_gap/: PyPI lacks the release), whose modules come from `mlflow-skinny`. Upgrading
a venv of MLflow 3.17.2 in place can go wrong: when pip installs mlflow-skinny 3.18.0 before it
uninstalls mlflow-tracing 3.17.2, whose files are the same paths, the uninstall deletes them
(`mlflow/__init__.py` among them) and `pip check` sees nothing. Seen installing the stand-in
alone (1,268 of skinny's 2,743 files gone); installing `mlflow==3.18.0` and the stand-in
together upgraded a 3.17.2 venv whole (2026-12-04), but pip's order is not promised. A fresh
venv, and the image, are whole.
"""

from importlib import metadata
from pathlib import Path

REPAIR = "pip install --force-reinstall --no-deps mlflow-skinny=={version}"


def missing_mlflow_files(dist=None) -> list:
    """The files mlflow-skinny's RECORD lists that are not there (none when it is whole, or
    when it is not installed at all: pip's own error then says so)."""
    dist = dist or _skinny()
    if dist is None:
        return []
    return sorted(str(f) for f in dist.files or ()
                  if "__pycache__" not in f.parts and not Path(dist.locate_file(f)).exists())


def broken_mlflow_message(dist=None) -> "str | None":
    """What to tell a user whose MLflow lost files, or None."""
    dist = dist or _skinny()
    missing = missing_mlflow_files(dist) if dist else []
    if not missing:
        return None
    return (f"the installed MLflow is missing {len(missing):,} of its files (e.g. "
            f"{missing[0]}): a venv upgraded in place from MLflow 3.17 loses them when pip "
            f"removes the old mlflow-tracing (docs/operations.md, Upgrading MLflow). Repair it: "
            f"{REPAIR.format(version=dist.version)}")


def _skinny():
    try:
        return metadata.distribution("mlflow-skinny")
    except metadata.PackageNotFoundError:
        return None
