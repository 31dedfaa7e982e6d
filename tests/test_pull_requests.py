"""The pull-request tooling: workflows that lint, and the access diff."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roles.access_diff import diff, snapshot_at, snapshot_of

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_workflows_pass_actionlint():
    beside_python = Path(sys.executable).parent / "actionlint"
    actionlint = str(beside_python) if beside_python.exists() else shutil.which("actionlint")
    assert actionlint, "actionlint is installed by requirements.txt"
    result = subprocess.run([actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflows_do_what_the_reviewers_rely_on():
    pr = (ROOT / ".github/workflows/pull-request.yml").read_text()
    deploy = (ROOT / ".github/workflows/deploy.yml").read_text()
    assert "pulumi/actions@" in pr and "command: preview" in pr and "policyPacks: policy" in pr
    assert "comment-on-pr: true" in pr and "role-to-assume:" in pr and "id-token: write" in pr
    assert "python -m roles.access_diff" in pr and "pytest" in pr
    assert "AWS_ACCESS_KEY_ID" not in pr + deploy and "aws-secret-access-key" not in pr + deploy
    assert "command: up" in deploy and "environment: central" in deploy
    assert "needs: central" in deploy


def snapshot(grants, routes):
    return {"grants": grants, "routes": [list(r) for r in routes]}


BASE = snapshot({"reader": ["read"], "contributor": ["read", "write"], "admin": ["read", "write"]},
                [("GET", "/a", "read"), ("POST", "/b", "write")])


def test_no_change_says_so():
    assert "No change to who may do what." in diff(BASE, BASE)


def test_a_widened_non_admin_level_is_called_out_first():
    after = snapshot({**BASE["grants"], "reader": ["read", "write"]}, BASE["routes"])
    text = diff(BASE, after)
    assert text.splitlines()[2].startswith("> **Warning: `reader` is widened**")
    assert "- + `POST /b` (write)" in text and "capabilities gained: `write`" in text


def test_a_reclassified_route_shows_who_gains_and_loses():
    after = snapshot(BASE["grants"], [("GET", "/a", "write"), ("POST", "/b", "write")])
    text = diff(BASE, after)
    assert "Warning" not in text
    assert "- - `GET /a` (write)" in text
    assert "- `GET /a`: `read` -> `write`" in text


def test_sharing_a_workspace_is_called_out_with_who_reads_whose():
    teams = {"team-a": {"levels": ["reader"], "shared_with": []},
             "team-b": {"levels": ["reader"], "shared_with": []}}
    before = {**BASE, "teams": teams}
    after = {**BASE, "teams": {**teams, "team-b": {"levels": ["reader"],
                                                   "shared_with": ["team-a"]},
                               "team-c": {"levels": ["contributor"], "shared_with": []}}}
    text = diff(before, after)
    assert text.splitlines()[2] == ("> **Warning: team `team-a` may read team `team-b`'s "
                                    "workspace**, which it could not before.")
    assert "- `team-a` gains reader in `team-b`'s workspace (1 routes" in text
    assert "- new team `team-c`: its own workspace, levels contributor" in text
    back = diff(after, before)
    assert "- `team-a` loses reader in `team-b`'s workspace" in back and "Warning" not in back


def test_the_work_tree_reads_like_the_model():
    from roles import CATALOGUE, GRANTS
    current = snapshot_of(ROOT)
    assert len(current["routes"]) == len(CATALOGUE)
    assert current["grants"]["reader"] == sorted(GRANTS["reader"])
    assert current["teams"]["team-b"] == {"levels": ["reader", "contributor"],
                                          "shared_with": ["team-a"]}
    assert "admin-server" in current["platform"]


def test_a_git_ref_can_be_read():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert snapshot_at("HEAD")["grants"]["admin"]
    with pytest.raises(SystemExit, match="git cannot read"):
        snapshot_at("no-such-ref-anywhere")
