"""Render the access matrix (level x capability, and each capability's routes) as Markdown.

    python -m roles.matrix            # rewrite docs/access-matrix.md
    python -m roles.matrix --check    # exit 1 if docs/access-matrix.md is stale
"""

import argparse
import sys
from pathlib import Path

from . import refusals
from .catalogue import CATALOGUE
from .levels import CAPABILITIES, GRANTS, LEVELS, PLATFORM_CAPABILITIES

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "access-matrix.md"


def _routes_by_capability():
    grouped = {cap: {} for cap in CAPABILITIES}
    for route in CATALOGUE:
        grouped[route.capability].setdefault(route.path, []).append(route.method)
    return grouped


def _teams_section() -> list:
    """Where a level holds: the team dimension (one MLflow workspace per team)."""
    platform = ", ".join(sorted(PLATFORM_CAPABILITIES))
    return [
        "## Teams: where a level holds",
        "",
        "Each team is an MLflow workspace. A level is held in one workspace: a browser user's",
        "Cognito group `<team>:<level>`, a team's central role `mlflow-<team>-<level>` (its SDK",
        "callers' base URL `<apiUrl>/<team>`). A level held in a team's workspace never includes",
        f"the platform's own capabilities ({platform}): those come only with a group of",
        "`cognitoGroups` (`platform-admins`), which holds its level in every workspace and in",
        "MLflow's `default`.",
        "",
        "| workspace | what a team's member holds there |",
        "|---|---|",
        "| the team's own | the level of its group or role (admin: all but the platform's) |",
        "| another team's that lists it in `sharedWith` | reader, whatever the level at home; "
        "its S3 prefix read-only |",
        "| any other team's | nothing: refused at the edge; in S3, no access to its prefix |",
        "| `default` | nothing (platform groups only) |",
    ]


def render() -> str:
    lines = [
        "# Access matrix",
        "",
        "Generated from `roles/` by `python -m roles.matrix`; do not edit by hand.",
        "",
        "| capability | " + " | ".join(LEVELS) + " |",
        "|---|" + "---|" * len(LEVELS),
    ]
    for cap in CAPABILITIES:
        marks = " | ".join("yes" if cap in GRANTS[level] else "-" for level in LEVELS)
        lines.append(f"| {cap} | {marks} |")
    lines += ["", *_teams_section(), ""]
    for cap, routes in _routes_by_capability().items():
        lines += [f"## {cap}", "", CAPABILITIES[cap], ""]
        if routes:
            lines += [f"- `{' '.join(sorted(methods))} {path}`" for path, methods in routes.items()]
        else:
            lines.append("- (every route of MLflow that the catalogue does not name)")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    # The matrix, and the client package's copy of the level each call needs (roles.refusals)
    outputs = [(args.output, render())]
    if args.output == DEFAULT_PATH:
        outputs.append((refusals.CLIENT_TABLE_PATH, refusals.render_table()))
    if args.check:
        stale = [path for path, text in outputs
                 if (path.read_text() if path.exists() else "") != text]
        for path in stale:
            print(f"{path} is stale: run `python -m roles.matrix`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    print(f"({len(CATALOGUE)} routes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
