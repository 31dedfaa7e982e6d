"""Render the access matrix (level x capability, and each capability's routes) as Markdown.

    python -m roles.matrix            # rewrite docs/access-matrix.md
    python -m roles.matrix --check    # exit 1 if docs/access-matrix.md is stale
"""

import argparse
import sys
from pathlib import Path

from .catalogue import CATALOGUE
from .levels import CAPABILITIES, GRANTS, LEVELS

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "access-matrix.md"


def _routes_by_capability():
    grouped = {cap: {} for cap in CAPABILITIES}
    for route in CATALOGUE:
        grouped[route.capability].setdefault(route.path, []).append(route.method)
    return grouped


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
    lines.append("")
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
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run `python -m roles.matrix`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(CATALOGUE)} routes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
