"""The deployment archive: reproducible, for the chosen runtime, and self-contained."""

import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from authorizer.build import HANDLER, build_archive
from spec.accounts import PLATFORM_GROUP_LEVELS
from roles import authorizer_rules

from tests.cognito_keys import CLIENT_ID, POOL_ID, Pool
from tests.markers import needs

ROOT = Path(__file__).resolve().parents[2]
WHEEL_CACHE = ROOT / "build" / "wheel-cache"  # gitignored; saves downloads between runs
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
LOCAL_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]


WORKSPACES = {"team-a": [], "team-b": ["team-a"]}


@pytest.fixture(scope="module")
@needs("pip")  # pip download of the Lambda's wheels, unless build/wheel-cache has them
def local_archive(tmp_path_factory):
    return build_archive(authorizer_rules(), tmp_path_factory.mktemp("archive"),
                         python=LOCAL_PYTHON, arch=LOCAL_ARCH, wheel_cache=WHEEL_CACHE,
                         workspaces=WORKSPACES)


def test_building_twice_gives_the_same_bytes(local_archive, tmp_path):
    # the same teams given in another order are the same data
    again = build_archive(authorizer_rules(), tmp_path, python=LOCAL_PYTHON, arch=LOCAL_ARCH,
                          wheel_cache=WHEEL_CACHE,
                          workspaces={"team-b": ["team-a", "team-a"], "team-a": []})
    assert again.name == local_archive.name
    assert again.read_bytes() == local_archive.read_bytes()
    other = build_archive(authorizer_rules(), tmp_path, python=LOCAL_PYTHON, arch=LOCAL_ARCH,
                          wheel_cache=WHEEL_CACHE, workspaces={"team-a": []})
    assert other.name != local_archive.name  # new teams: a new archive, so the function updates


@pytest.mark.parametrize("bad", [["team-a"], {"team-a": ["team-x"]}, {"team-a": "team-b"},
                                 None])
def test_workspaces_that_are_not_teams_are_refused_before_any_download(tmp_path, bad):
    with pytest.raises(ValueError, match="workspaces must be"):
        build_archive(authorizer_rules(), tmp_path, workspaces=bad)
    assert not (tmp_path / "wheels").exists()


def test_the_archive_holds_the_handler_the_policy_data_and_the_libraries(local_archive):
    names = set(zipfile.ZipFile(local_archive).namelist())
    assert {"authorizer/handler.py", "authorizer/tokens.py", "authorizer/policy_rules.json",
            "authorizer/_spec.py", "authorizer/workspaces.json"} <= names
    assert "authorizer/build.py" not in names  # the builder runs at deploy time only
    assert any(n.startswith("jwt/") for n in names)
    assert any(n.startswith("cryptography/") for n in names)
    assert not any(n.startswith(("mlflow/", "pulumi/", "roles/")) for n in names)
    rules = json.loads(zipfile.ZipFile(local_archive).read("authorizer/policy_rules.json"))
    assert rules == json.loads(json.dumps(authorizer_rules()))
    # the teams travel in the archive, not in the function's environment (4 KB in all)
    assert json.loads(zipfile.ZipFile(local_archive).read("authorizer/workspaces.json")) == \
        WORKSPACES
    module, function = HANDLER.rsplit(".", 1)  # what the Lambda's `handler` setting names
    assert module.replace(".", "/") + ".py" in names


@pytest.mark.parametrize("python, arch, machine", [("3.12", "arm64", "aarch64"),
                                                   ("3.13", "x86_64", "x86_64")])
@pytest.mark.pip  # pip download, unless build/wheel-cache has the wheels
def test_wheels_match_the_lambda_runtime_and_architecture(tmp_path, python, arch, machine):
    archive = zipfile.ZipFile(build_archive(authorizer_rules(), tmp_path, python=python, arch=arch,
                                            wheel_cache=WHEEL_CACHE, workspaces=WORKSPACES))
    wheel_tags = [archive.read(n).decode() for n in archive.namelist()
                  if n.startswith("cryptography-") and n.endswith(".dist-info/WHEEL")]
    assert wheel_tags and "manylinux" in wheel_tags[0] and machine in wheel_tags[0]


def test_an_unknown_architecture_is_refused(tmp_path):
    with pytest.raises(ValueError, match="arch must be one of"):
        build_archive(authorizer_rules(), tmp_path, arch="sparc", workspaces=WORKSPACES)


@pytest.mark.server  # the pool's JWKS on 127.0.0.1
def test_the_archive_alone_authorizes_a_real_token_in_a_clean_venv(local_archive, tmp_path):
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(local_archive).extractall(unpacked)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pool = Pool()
    try:
        token = pool.token(groups=["team-a:contributor"])
        event = {"type": "REQUEST", "headers": {"authorization": f"Bearer {token}",
                                                "x-mlflow-workspace": "team-b"},
                 "methodArn": "arn:aws:execute-api:us-east-1:111111111111:abcde12345/prod/"
                              "GET/ajax-api/2.0/mlflow/experiments/get"}
        script = (
            "import json, sys\n"
            f"sys.path.insert(0, {str(unpacked)!r})\n"
            "import importlib\n"
            f"module, function = {HANDLER!r}.rsplit('.', 1)\n"
            "handler = getattr(importlib.import_module(module), function)\n"
            f"response = handler({event!r})\n"
            "for name in ('mlflow', 'pulumi', 'roles', 'spec'):\n"
            "    try:\n"
            "        __import__(name)\n"
            "        raise SystemExit(name + ' is importable: the venv is not clean')\n"
            "    except ImportError:\n"
            "        pass\n"
            "print(json.dumps(response))\n"
        )
        env = {"AWS_REGION": "us-east-1", "USER_POOL_ID": POOL_ID, "APP_CLIENT_IDS": CLIENT_ID,
               "JWKS_URL": pool.jwks_url, "PATH": "/usr/bin:/bin",
               "GROUP_LEVELS": json.dumps(PLATFORM_GROUP_LEVELS)}
        result = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", script], env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        pool.close()
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["principalId"] == "alice"
    # team-b's workspace, shared with team-a in the archive's workspaces.json: reader there
    assert response["context"] == {"username": "alice", "groups": "team-a:contributor",
                                   "levels": "reader", "workspace": "team-b"}
    assert any(s["Effect"] == "Allow" for s in response["policyDocument"]["Statement"])
