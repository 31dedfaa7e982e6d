"""What `pulumi up` builds on the deploying machine before any resource is declared: the
authorizer's Lambda archive (its dependencies by `pip download`, its policy data compiled from
`roles`, the teams' workspaces from the stack config) and the UI bundle's zip (`npm ci` once for the sign-in shell's dependency). The
program calls `build_central` first and hands the results to the components as arguments, so
no component constructor builds anything, and the stack tests pass prebuilt artifacts and run
offline.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from authorizer.build import build_archive, zip_bytes
from roles import authorizer_rules
from ui.build import build as build_bundle
from ui.build import read_bundle

from .api import AUTHORIZER_ARCH, AUTHORIZER_RUNTIME

BUILD_DIR = Path(__file__).resolve().parent.parent / "build"


@dataclass(frozen=True)
class CentralBuilds:
    authorizer_archive: Path  # the Lambda's zip
    ui_zip: Path  # the UI bundle without config.json (written at deploy time)
    ui_zip_sha256: str


def ui_bundle_zip(bundle_dir: Path, progress=print) -> tuple:
    """Build the bundle and write its zip (without config.json), once per bundle content:
    (path, sha256 of the zip)."""
    bundle = build_bundle(bundle_dir, progress=progress)
    path = bundle_dir.with_name(f"ui-{bundle.digest[:16]}.zip")
    if path.exists():
        data = path.read_bytes()
    else:
        data = zip_bytes(read_bundle(bundle.path))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path, hashlib.sha256(data).hexdigest()


def build_central(workspaces: dict, build_dir: Path = BUILD_DIR, progress=print) -> CentralBuilds:
    """`workspaces`: {team: [teams it is shared with]} (spec.config.workspaces), which the
    authorizer reads from its archive."""
    archive = build_archive(authorizer_rules(), build_dir / "authorizer",
                            python=AUTHORIZER_RUNTIME.removeprefix("python"), arch=AUTHORIZER_ARCH,
                            workspaces=workspaces)
    zip_path, digest = ui_bundle_zip(build_dir / "ui", progress)
    return CentralBuilds(authorizer_archive=Path(archive), ui_zip=zip_path, ui_zip_sha256=digest)
