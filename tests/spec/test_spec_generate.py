"""The spec room's generated files: the run-time parts that cannot import `spec` (the client, the
server plugin, the authorizer, the UI's shell) read its facts from files `python -m
spec.generate` writes, and a stale one fails here with the command to run."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spec import generate

ROOT = Path(__file__).resolve().parents[2]


def test_every_generated_file_is_current():
    stale = generate.stale()
    assert stale == [], (f"stale generated files: {', '.join(stale)}; "
                         f"run {generate.COMMAND}")


def test_the_check_names_a_stale_file_and_the_command(tmp_path):
    for path in generate.TARGETS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    assert generate.stale(tmp_path) == []
    target = tmp_path / "authorizer" / "_spec.py"
    target.write_text(target.read_text().replace("'default'", "'elsewhere'"))
    assert generate.stale(tmp_path) == ["authorizer/_spec.py"]
    assert generate.write(tmp_path) == ["authorizer/_spec.py"]
    assert generate.stale(tmp_path) == []
    result = subprocess.run([sys.executable, "-m", "spec.generate", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", sorted(generate.TARGETS))
def test_a_generated_file_says_so_and_where_from(path):
    text = (ROOT / path).read_text()
    assert "generated from spec/ by python -m spec.generate; do not edit" in text.lower()


@pytest.mark.parametrize("path", [p for p in sorted(generate.TARGETS) if p.endswith(".py")])
def test_a_generated_module_holds_only_literal_names(path):
    """Plain assignments of literals: nothing to import, nothing that could run."""
    tree = ast.parse((ROOT / path).read_text())
    body = tree.body[1:]  # after the docstring
    assert body and all(isinstance(node, ast.Assign) for node in body)
    for node in body:
        ast.literal_eval(node.value)


def test_the_workspace_facts_are_mlflows_own():
    """spec.edge names MLflow's workspace header and default workspace (spec/ imports no
    MLflow): they must be the pinned MLflow's."""
    from mlflow.server.workspace_helpers import WORKSPACE_HEADER_NAME
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    from spec.edge import DEFAULT_WORKSPACE, WORKSPACE_HEADER

    assert (WORKSPACE_HEADER, DEFAULT_WORKSPACE) == (WORKSPACE_HEADER_NAME, DEFAULT_WORKSPACE_NAME)


def test_the_run_time_parts_write_none_of_the_facts_themselves():
    """The values the generated files carry are not written again by hand in the code that
    reads them (a sample of the facts the review found copied)."""
    hand_copies = {
        "client/mlflow_landing_zone_client": ('"default"', '"X-MLFLOW-WORKSPACE"',
                                              '"model-approver"', '"MLFLOW_LANDING_ZONE_'),
        "components/mlflow_image": ('"X-MLflow-', '"MLFLOW_LZ_REGISTRY_ROOT"',
                                    '"MLFLOW_LZ_WORKSPACE', '"5000"', ":5000", '"purpose"'),
        "authorizer": ('"default"', '"x-mlflow-workspace"', 'partition(":")',
                       '"CACHE_TTL_SECONDS"'),
        "ui/shell": ('"default"', '"X-MLFLOW-WORKSPACE"', '"model-approver"'),
    }
    found = []
    for folder, needles in hand_copies.items():
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".js") or path.name in ("_spec.py", "spec.js"):
                continue
            if path.name == "build.py":
                continue  # runs on the deployer's machine
            if {"build", "node_modules"} & set(path.relative_to(ROOT).parts) or any(
                    part.endswith(".egg-info") for part in path.parts):
                continue  # what a local install leaves (git ignores it): not the source
            text = path.read_text()
            found += [(str(path.relative_to(ROOT)), n) for n in needles if n in text]
    assert found == []
