"""The pull-request tooling: workflows that lint, and the access diff."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roles.access_diff import diff, snapshot_at, snapshot_of

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_workflows_pass_actionlint():
    beside_python = Path(sys.executable).parent / "actionlint"
    actionlint = str(beside_python) if beside_python.exists() else shutil.which("actionlint")
    assert actionlint, "actionlint is installed by requirements.txt"
    result = subprocess.run([actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _workflow(name):
    """A workflow as GitHub reads it (parsed: a comment or a string elsewhere satisfies
    nothing); YAML 1.1 reads the key `on` as True."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _steps(job):
    return [{**step.get("with", {}), "uses": step.get("uses", ""), "run": step.get("run", "")}
            for step in job["steps"]]


def pulumi_env(job):
    [step] = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    return step.get("env") or {}


def test_the_workflows_do_what_the_reviewers_rely_on():
    pr, deploy = _workflow("pull-request.yml"), _workflow("deploy.yml")
    assert list(pr["on"]) == ["pull_request"] and list(deploy["on"]) == ["push"]
    # AWS by OIDC only: the token permission, a role to assume, no stored keys anywhere
    for workflow in (pr, deploy):
        assert workflow["permissions"]["id-token"] == "write"
        for job in workflow["jobs"].values():
            env = {k for step in job["steps"] for k in (step.get("env") or {})}
            assert not env & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
            for step in _steps(job):
                assert not {"aws-access-key-id", "aws-secret-access-key"} & set(step)
    jobs = pr["jobs"]
    assert any(s["run"].strip() == "pytest" for s in _steps(jobs["test"]))
    assert any("python -m roles.access_diff" in s["run"] for s in _steps(jobs["access-diff"]))
    preview = _steps(jobs["preview"])
    assert jobs["preview"]["needs"] == "test"
    [pulumi] = [s for s in preview if s["uses"].startswith("pulumi/actions@")]
    assert (pulumi["command"], pulumi["policyPacks"], pulumi["comment-on-pr"]) == (
        "preview", "policy", True)
    assert any(s["uses"].startswith("aws-actions/configure-aws-credentials@")
               and s["role-to-assume"] for s in preview)
    stacks = [row["stack"] for row in jobs["preview"]["strategy"]["matrix"]["include"]]
    assert stacks == ["central", "datascience"]
    # the preview's state token cannot write; the deploy token is none of its jobs'
    assert pulumi_env(jobs["preview"]) == {
        "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_PREVIEW_TOKEN }}"}
    assert "environment" not in jobs["preview"]
    for name, job in pr["jobs"].items():
        assert "secrets.PULUMI_ACCESS_TOKEN" not in json.dumps(job), name
    # pulumi up: the central stack first, each job behind its GitHub environment (the CI deploy
    # role trusts that environment only, components/ci_access.py)
    central, datascience = deploy["jobs"]["central"], deploy["jobs"]["datascience"]
    assert (central["environment"], datascience["environment"]) == ("central", "datascience")
    assert datascience["needs"] == "central"
    for job, stack in ((central, "central"), (datascience, "datascience")):
        [up] = [s for s in _steps(job) if s["uses"].startswith("pulumi/actions@")]
        assert (up["command"], up["stack-name"], up["policyPacks"]) == ("up", stack, "policy")
        # an environment's secret (docs/deploy.md): only jobs in that environment hold it
        assert pulumi_env(job) == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}


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
