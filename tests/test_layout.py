"""Which folder may import which (DESIGN.md), and the client installs on its own."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEVER = {
    # the permission model: imports nothing of the repo but itself
    "roles": {"pulumi", "pulumi_aws", "pulumi_awsx", "boto3", "botocore", "components",
              "sandbox", "authorizer", "spec", "ui"},
    # the spec room: the stack config's parser and what the stacks, the edge and the sandbox
    # agree on; the model, and nothing that deploys
    "spec": {"pulumi", "pulumi_aws", "pulumi_awsx", "boto3", "botocore", "components",
             "sandbox", "authorizer", "ui", "mlflow"},
    "authorizer": {"mlflow", "pulumi", "pulumi_aws", "components", "sandbox", "roles", "spec"},
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
        if folder == "authorizer" and path.name == "build.py":
            continue  # runs at deploy time on the deployer's machine, never shipped
        offences += [(str(path.relative_to(ROOT)), m) for m in imported_modules(path)
                     if m in NEVER[folder]]
    assert offences == []


def test_roles_imports_mlflow_only_to_enumerate_routes():
    users = [p.name for p in (ROOT / "roles").rglob("*.py") if "mlflow" in imported_modules(p)]
    assert users == ["mlflow_routes.py"]


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
