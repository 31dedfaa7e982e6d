"""What an MLflow upgrade changes in the routes `mlflow server` answers: new, changed, removed.

The catalogue is exact for one release, so an upgrade starts here (docs/operations.md,
"Upgrading MLflow"):

    python -m roles.route_diff --dump roles/routes-mlflow-<old>.json   # with the old MLflow
    python -m roles.route_diff roles/routes-mlflow-<old>.json          # with the new one

The first writes the installed MLflow's routes, each with the handler that serves it; the
second compares that record with the installed MLflow and prints three tables: the new routes
(each with the capability `catalogue.py` gives it, or `unclassified`), the routes whose handler
changed, and the removed ones. A route is one (method, path template) as
`tests/roles/test_catalogue.py` reads them (Flask's `url_map` and the FastAPI routes); the
tables fold a path's `/api` and `/ajax-api` spellings into one row. The record of the release
before the pinned one stays in `roles/` so the diff in the docs can be checked without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .catalogue import BROWSER_PREFIX, CATALOGUE, SDK_PREFIX
from .levels import UNCLASSIFIED

HERE = Path(__file__).resolve().parent
# The routes of the release before the pinned one (written with --dump by its interpreter).
PREVIOUS = HERE / "routes-mlflow-3.17.2.json"


def installed() -> dict:
    """{"mlflow": version, "routes": {"METHOD /path": "module.handler"}} of the installed MLflow."""
    from . import mlflow_routes

    return {"mlflow": mlflow_routes.version(), "routes": mlflow_routes.installed_handlers()}


def load(path) -> dict:
    return json.loads(Path(path).read_text())


def _key(route: str):
    method, path = route.split(" ", 1)
    return method, path


def diff(old: dict, new: dict) -> dict:
    """{"new": [(method, path)], "changed": [(method, path, old handler, new handler)],
    "removed": [(method, path)]}, each sorted by path, then method."""
    a, b = old["routes"], new["routes"]
    order = lambda r: (r[1], r[0])  # noqa: E731
    return {
        "new": sorted((_key(r) for r in set(b) - set(a)), key=order),
        "changed": sorted(((*_key(r), a[r], b[r]) for r in set(a) & set(b) if a[r] != b[r]),
                          key=order),
        "removed": sorted((_key(r) for r in set(a) - set(b)), key=order),
    }


def _folded(routes):
    """[(method, path, forms)]: a path's /api and /ajax-api spellings in one row."""
    rows = {}
    for method, path in routes:
        form, rest = "root", path
        for prefix, name in ((SDK_PREFIX, "api"), (BROWSER_PREFIX, "ajax-api")):
            if path.startswith(prefix + "/"):
                form, rest = name, path[len(prefix):]
        rows.setdefault((method, rest), set()).add(form)
    spell = {frozenset({"api", "ajax-api"}): "both", frozenset({"api"}): "api",
             frozenset({"ajax-api"}): "ajax-api", frozenset({"root"}): "root"}
    return [(m, p, spell.get(frozenset(f), "+".join(sorted(f)))) for (m, p), f in rows.items()]


def capability_of(method: str, path: str) -> str:
    found = {r.capability for r in CATALOGUE if (r.method, r.path) == (method, path)}
    return found.pop() if len(found) == 1 else UNCLASSIFIED


def new_rows(changes: dict) -> list:
    """[(method, path, forms, capability)] of the new routes, as the docs' table lists them."""
    rows = []
    for method, path, forms in _folded(changes["new"]):
        spelled = path if forms == "root" else (SDK_PREFIX if forms != "ajax-api"
                                                 else BROWSER_PREFIX) + path
        rows.append((method, path, forms, capability_of(method, spelled)))
    return sorted(rows, key=lambda r: (r[1], r[0]))


def render(old: dict, new: dict) -> str:
    changes = diff(old, new)
    lines = [f"Routes of MLflow {new['mlflow']} against {old['mlflow']}: "
             f"{len(changes['new'])} new, {len(changes['changed'])} changed, "
             f"{len(changes['removed'])} removed.", "", "New:", "",
             "| method | path | form | capability |", "| --- | --- | --- | --- |"]
    lines += [f"| {m} | `{p}` | {f} | {c} |" for m, p, f, c in new_rows(changes)]
    lines += ["", "Changed (same route, another handler):", ""]
    lines += [f"- {m} `{p}`: {h1} -> {h2}" for m, p, h1, h2 in changes["changed"]] or ["- none"]
    lines += ["", "Removed:", ""]
    lines += [f"- {m} `{p}` ({f})" for m, p, f in sorted(_folded(changes["removed"]),
                                                       key=lambda r: (r[1], r[0]))] or ["- none"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roles.route_diff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", nargs="?", default=str(PREVIOUS),
                        help="the old release's routes, written with --dump (default: %(default)s)")
    parser.add_argument("--dump", metavar="FILE",
                        help="write the installed MLflow's routes to FILE and stop")
    args = parser.parse_args(argv)
    if args.dump:
        Path(args.dump).write_text(json.dumps(installed(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.dump}", file=sys.stderr)
        return 0
    sys.stdout.write(render(load(args.old), installed()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
