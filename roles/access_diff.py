"""What a change does to who may do what: the access matrix at two git refs, compared.

    python -m roles.access_diff --base origin/main --head HEAD     # two commits
    python -m roles.access_diff --base origin/main                 # base against the work tree

Prints Markdown: a warning first if any non-admin level may call a route it could not before,
then, per level, the capabilities and routes gained and lost, and the routes that changed
capability. The pull-request workflow posts it as a comment.
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
print(json.dumps({
    "grants": {level: sorted(caps) for level, caps in GRANTS.items()},
    "routes": sorted([r.method, r.path, r.capability] for r in CATALOGUE),
}))
"""


def snapshot_of(source_dir: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", SNAPSHOT, str(source_dir)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"could not read roles/ in {source_dir}:\n{result.stderr.strip()}")
    return json.loads(result.stdout)


def snapshot_at(ref: str) -> dict:
    """The model as committed at `ref` (roles/ only, read from git)."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "roles"], cwd=ROOT,
                             capture_output=True)
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
