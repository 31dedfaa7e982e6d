"""The upgrade's route diff (roles/route_diff.py): what it finds, and that the docs' table of the
last upgrade is its output, each route with its capability and a reason."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from roles import route_diff
from roles.levels import UNCLASSIFIED
from tests.markers import needs

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"


def test_the_diff_finds_new_changed_and_removed_routes():
    old = {"mlflow": "1", "routes": {"GET /a": "m.a", "POST /b": "m.b", "GET /c": "m.c"}}
    new = {"mlflow": "2", "routes": {"GET /a": "m.a", "POST /b": "m.b2", "GET /d": "m.d"}}
    assert route_diff.diff(old, new) == {"new": [("GET", "/d")],
                                         "changed": [("POST", "/b", "m.b", "m.b2")],
                                         "removed": [("GET", "/c")]}
    text = route_diff.render(old, new)
    assert "1 new, 1 changed, 1 removed" in text
    assert "| GET | `/d` | root | unclassified |" in text
    assert "- POST `/b`: m.b -> m.b2" in text and "- GET `/c` (root)" in text


def test_a_paths_two_spellings_are_one_row_with_the_catalogues_capability():
    changes = {"new": [("GET", "/api/2.0/mlflow/runs/get"),
                       ("GET", "/ajax-api/2.0/mlflow/runs/get"),
                       ("POST", "/ajax-api/3.0/mlflow/issues/invoke"),
                       ("GET", "/nowhere")], "changed": [], "removed": []}
    assert route_diff.new_rows(changes) == [
        ("GET", "/2.0/mlflow/runs/get", "both", "read"),
        ("POST", "/3.0/mlflow/issues/invoke", "ajax-api", "invoke-genai"),
        ("GET", "/nowhere", "root", UNCLASSIFIED)]


def documented_rows(old: str, new: str) -> list:
    """The rows of docs/operations.md's table under its heading "MLflow <old> → <new>"."""
    text = OPERATIONS.read_text()
    section = text.split(f"\n### MLflow {old} → {new}\n", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        m = re.fullmatch(r"\| (\w+) \| `([^`]+)` \| ([a-z+-]+) \| ([a-z-]+) \| (.*) \|", line)
        if m:
            rows.append(m.groups())
    return rows


def test_the_docs_list_every_new_route_of_the_pinned_release_with_its_capability_and_why():
    old, new = route_diff.load(route_diff.PREVIOUS), route_diff.installed()
    changes = route_diff.diff(old, new)
    rows = documented_rows(old["mlflow"], new["mlflow"])
    assert [r[:4] for r in rows] == route_diff.new_rows(changes)
    assert all(len(r[4].split()) >= 4 for r in rows), "each row says why, in words"
    assert UNCLASSIFIED not in {r[3] for r in rows}
    section = OPERATIONS.read_text().split(f"\n### MLflow {old['mlflow']} → {new['mlflow']}\n")[1]
    summary = (f"{len(changes['new'])} new, {len(changes['changed'])} changed,\n"
               f"{len(changes['removed'])} removed")
    assert summary in section.split("\n#", 1)[0]


@pytest.fixture(scope="module")
@needs("pip")  # the previous release's venv, made with pip once and cached
def old_python():
    from tests.previous_mlflow import previous_python

    return previous_python()


@pytest.mark.slow  # a fresh interpreter of the previous release imports MLflow's server
def test_the_record_is_the_previous_releases_routes(old_python, tmp_path):
    dump = tmp_path / "routes.json"
    result = subprocess.run([old_python, "-m", "roles.route_diff", "--dump", str(dump)],
                            cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert json.loads(dump.read_text()) == route_diff.load(route_diff.PREVIOUS)
