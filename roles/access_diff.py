"""What a change does to who may do what: the access matrix at two git refs, compared.

    python -m roles.access_diff --base origin/main --head HEAD     # two commits
    python -m roles.access_diff --base origin/main                 # base against the work tree

Prints Markdown: a warning first if any non-admin level may call a route it could not before,
or a team may reach into a workspace it could not; then, per level, the capabilities and routes
gained and lost (each level holds them in its own team's workspace), the routes that changed
capability, and the team dimension: which team gains or loses which access in which team's
workspace (`teams[].sharedWith` of `Pulumi.central.yaml`, and teams added or removed). The
pull-request workflow posts it as a comment.
"""

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Runs against any version of roles/: it needs only the catalogue and the grants.
SNAPSHOT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from roles.catalogue import CATALOGUE
from roles.levels import GRANTS
import roles.levels as levels
print(json.dumps({
    "grants": {level: sorted(caps) for level, caps in GRANTS.items()},
    "routes": sorted([r.method, r.path, r.capability] for r in CATALOGUE),
    "platform": sorted(getattr(levels, "PLATFORM_CAPABILITIES", ())),
}))
"""
# The teams of the central stack's config (a YAML file: read in a child process, so this
# module keeps to the standard library).
TEAMS = """
import json, sys, yaml
config = (yaml.safe_load(sys.stdin.read() or "{}") or {}).get("config", {})
central = config.get("mlflow-landing-zone:central") or {}
print(json.dumps({t["name"]: {"levels": t.get("levels", []), "shared_with": t.get("sharedWith", [])}
                  for t in central.get("teams", []) if isinstance(t, dict) and "name" in t}))
"""
CENTRAL_CONFIG = "Pulumi.central.yaml"


def teams_of(config_text: str) -> dict:
    """{team: {"levels": [...], "shared_with": [...]}} of a central stack config."""
    result = subprocess.run([sys.executable, "-c", TEAMS], input=config_text,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"could not read the teams of {CENTRAL_CONFIG}:\n"
                         f"{result.stderr.strip()}")
    return json.loads(result.stdout)


def snapshot_of(source_dir: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", SNAPSHOT, str(source_dir)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"could not read roles/ in {source_dir}:\n{result.stderr.strip()}")
    snapshot = json.loads(result.stdout)
    config = source_dir / CENTRAL_CONFIG
    snapshot["teams"] = teams_of(config.read_text() if config.exists() else "")
    return snapshot


def snapshot_at(ref: str) -> dict:
    """The model as committed at `ref` (roles/ only, read from git)."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "roles", CENTRAL_CONFIG],
                             cwd=ROOT, capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git cannot read roles/ at {ref!r}: "
                         f"{archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
        return snapshot_of(Path(folder))


def reach(snapshot: dict) -> dict:
    """level -> the (METHOD, path) routes it may call."""
    out = {}
    for level, caps in snapshot["grants"].items():
        out[level] = {(m, p) for m, p, cap in snapshot["routes"] if cap in caps}
    return out


def workspace_access(snapshot: dict) -> dict:
    """(workspace, team) -> the level the team's members hold there at most, for every pair
    but a team's own workspace (its levels are the level sections): "reader" where shared."""
    teams = snapshot.get("teams", {})
    return {(workspace, team): "reader" for workspace, spec in teams.items()
            for team in spec.get("shared_with", []) if team in teams}


def team_lines(before: dict, after: dict, warnings: list) -> list:
    lines = []
    teams_before, teams_after = before.get("teams", {}), after.get("teams", {})
    for team in sorted(teams_after.keys() - teams_before.keys()):
        lines.append(f"- new team `{team}`: its own workspace, levels "
                     f"{', '.join(teams_after[team]['levels'])}")
    for team in sorted(teams_before.keys() - teams_after.keys()):
        lines.append(f"- team `{team}` removed: its roles, groups and base path go (its "
                     f"workspace's data stays in MLflow)")
    access_before, access_after = workspace_access(before), workspace_access(after)
    reader_routes = len(reach(after).get("reader", ()))
    for workspace, team in sorted(access_after.keys() - access_before.keys()):
        warnings.append(f"> **Warning: team `{team}` may read team `{workspace}`'s workspace**, "
                        f"which it could not before.")
        lines.append(f"- `{team}` gains reader in `{workspace}`'s workspace "
                     f"({reader_routes} routes, and its S3 prefix read-only)")
    for workspace, team in sorted(access_before.keys() - access_after.keys()):
        lines.append(f"- `{team}` loses reader in `{workspace}`'s workspace")
    return ["### Teams", *lines, ""] if lines else []


def diff(before: dict, after: dict) -> str:
    lines, warnings = [], []
    reach_before, reach_after = reach(before), reach(after)
    cap_before = {(m, p): c for m, p, c in before["routes"]}
    cap_after = {(m, p): c for m, p, c in after["routes"]}
    for level in after["grants"]:
        gained = sorted(reach_after.get(level, set()) - reach_before.get(level, set()))
        lost = sorted(reach_before.get(level, set()) - reach_after.get(level, set()))
        caps_gained = sorted(set(after["grants"][level]) - set(before["grants"].get(level, [])))
        caps_lost = sorted(set(before["grants"].get(level, [])) - set(after["grants"][level]))
        if gained and level != "admin":
            warnings.append(f"> **Warning: `{level}` is widened**: it may call {len(gained)} "
                            f"route(s) it could not before.")
        if not (gained or lost or caps_gained or caps_lost):
            continue
        lines.append(f"### {level}")
        if caps_gained:
            lines.append("- capabilities gained: " + ", ".join(f"`{c}`" for c in caps_gained))
        if caps_lost:
            lines.append("- capabilities lost: " + ", ".join(f"`{c}`" for c in caps_lost))
        for sign, routes in (("+", gained), ("-", lost)):
            for method, path in routes:
                lines.append(f"- {sign} `{method} {path}` "
                             f"({cap_after.get((method, path)) or cap_before.get((method, path))})")
        lines.append("")
    moved = sorted(k for k in cap_after.keys() & cap_before.keys() if cap_after[k] != cap_before[k])
    added = sorted(cap_after.keys() - cap_before.keys())
    removed = sorted(cap_before.keys() - cap_after.keys())
    if moved or added or removed:
        lines.append("### Routes")
        lines += [f"- `{m} {p}`: `{cap_before[(m, p)]}` -> `{cap_after[(m, p)]}`" for m, p in moved]
        lines += [f"- new `{m} {p}` (`{cap_after[(m, p)]}`)" for m, p in added]
        lines += [f"- gone `{m} {p}` (was `{cap_before[(m, p)]}`)" for m, p in removed]
        lines.append("")
    lines += team_lines(before, after, warnings)
    body = lines or ["No change to who may do what."]
    return "\n".join(["## Access diff", ""] + warnings + ([""] if warnings else []) + body).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git ref of the base (e.g. origin/main)")
    parser.add_argument("--head", default=None,
                        help="git ref of the change (default: the work tree as it is)")
    args = parser.parse_args(argv)
    before = snapshot_at(args.base)
    after = snapshot_at(args.head) if args.head else snapshot_of(ROOT)
    sys.stdout.write(diff(before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
