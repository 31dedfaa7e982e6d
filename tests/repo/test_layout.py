"""Which folder may import which (DESIGN.md), the tests' rooms (docs/testing.md), and the
client installs on its own."""

import ast
import configparser
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.markers import NOT_FAST

ROOT = Path(__file__).resolve().parents[2]
NEVER = {
    # the permission model: imports nothing of the repo but itself
    "roles": {"pulumi", "pulumi_aws", "pulumi_awsx", "boto3", "botocore", "components",
              "sandbox", "authorizer", "spec", "ui"},
    # the spec room: the stack config's parser and what the stacks, the edge and the sandbox
    # agree on; the model, and nothing that deploys
    "spec": {"pulumi", "pulumi_aws", "pulumi_awsx", "boto3", "botocore", "components",
             "sandbox", "authorizer", "ui", "mlflow"},
    "authorizer": {"mlflow", "pulumi", "pulumi_aws", "components", "sandbox", "roles", "spec"},
    # the serving loop's Lambdas: the runtime's boto3 and their generated _spec.py
    "deployer": {"mlflow", "pulumi", "pulumi_aws", "components", "sandbox", "roles", "spec",
                 "authorizer", "ui"},
    "components": {"sandbox"},
    "sandbox": {"pulumi", "pulumi_aws", "pulumi_awsx", "components"},
    "client": {"roles", "spec", "authorizer", "components", "sandbox", "pulumi"},
    # what components/ and sandbox/ share about serving the UI, and its build
    "ui": {"pulumi", "pulumi_aws", "pulumi_awsx", "boto3", "botocore", "components", "sandbox"},
}


def imported_modules(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("folder", sorted(NEVER))
def test_folders_import_only_what_they_may(folder):
    offences = []
    for path in (ROOT / folder).rglob("*.py"):
        if folder == "roles" and path.name == "mlflow_routes.py":
            continue  # the one module that reads MLflow's routes, for checks
        if folder in ("authorizer", "deployer") and path.name == "build.py":
            continue  # runs at deploy time on the deployer's machine, never shipped
        offences += [(str(path.relative_to(ROOT)), m) for m in imported_modules(path)
                     if m in NEVER[folder]]
    assert offences == []


def test_roles_imports_mlflow_only_to_enumerate_routes():
    users = [p.name for p in (ROOT / "roles").rglob("*.py") if "mlflow" in imported_modules(p)]
    assert users == ["mlflow_routes.py"]


# --- the tests' rooms: every test file in a room folder, every room folder in the table ------
TESTS = ROOT / "tests"
TESTING = (ROOT / "docs" / "testing.md").read_text()
# the rooms that prove several folders at once; every other room is named after one
CROSS_CUTTING = {"end_to_end", "repo"}


def table_rows(first_column):
    """The rows of docs/testing.md's tables whose first cell matches `first_column`."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in TESTING.splitlines() if re.match(rf"\| `{first_column}` \|", line)]


def room_folders():
    return sorted(p.name for p in TESTS.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")))


def test_every_test_file_lives_in_a_room_folder():
    test_files = [p for pattern in ("test_*.py", "*_test.py") for p in TESTS.rglob(pattern)]
    assert test_files
    outside = sorted(str(p.relative_to(ROOT)) for p in test_files if p.parent.parent != TESTS)
    assert outside == [], "move each into the tests/<room>/ it proves (docs/testing.md)"


def test_every_room_folder_is_a_package_in_the_table_with_its_command():
    rows = table_rows(r"tests/[a-z_]+/")
    rooms = [re.fullmatch(r"`tests/([a-z_]+)/`", row[0]).group(1) for row in rows]
    assert sorted(rooms) == room_folders() and len(set(rooms)) == len(rooms)
    for room, (_, proves, command) in zip(rooms, rows):
        assert (TESTS / room / "__init__.py").is_file(), room
        assert command == f"`pytest tests/{room}`", room
        if room not in CROSS_CUTTING:  # named after the folder it proves, which exists
            folder = re.match(r"`([a-z_/]+)/`", proves).group(1)
            assert folder.endswith(room) and (ROOT / folder).is_dir(), (room, proves)


def test_the_markers_table_is_the_markers_pytest_ini_declares():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "pytest.ini")
    declared = [line.split(":")[0].strip() for line in ini["pytest"]["markers"].splitlines()
                if line.strip()]
    documented = [row[0].strip("`") for row in table_rows(r"[a-z_]+")]
    assert declared == documented == [*NOT_FAST, "fast"]
    assert not set(declared) & set(room_folders())  # a room's marker means only the room


@pytest.mark.pip  # pip wheel, whose isolated build fetches setuptools
def test_the_client_builds_as_a_package_of_its_own(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                             "--wheel-dir", str(tmp_path), str(ROOT / "client")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("mlflow_landing_zone_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlflow_landing_zone_client/_spec.py" in names  # its facts, generated from spec/
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[mlflow.request_auth_provider]" in text
    assert "landing-zone = mlflow_landing_zone_client.provider:LandingZoneAuthProvider" in text
