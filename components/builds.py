"""What `pulumi up` builds on the deploying machine before any resource is declared: the
authorizer's Lambda archive (its dependencies by `pip download`, its policy data compiled from
`roles`, the teams' workspaces from the stack config), the UI bundle's zip (`npm ci` once for
the sign-in shell's dependency) and the tracking server image's build context (a copy of
components/mlflow_image with its files' modes set, and the image's tag from it). The
program calls `build_central` first and hands the results to the components as arguments, so
no component constructor builds anything, and the stack tests pass prebuilt artifacts and run
offline.
"""

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from authorizer.build import build_archive, zip_bytes
from roles import authorizer_rules
from ui.build import build as build_bundle
from ui.build import read_bundle

from .api import AUTHORIZER_ARCH, AUTHORIZER_RUNTIME
from .tracking_server import IMAGE_DIR, build_output, context_digest, image_build_args

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build"

# What the image installs, every package at an exact version (components/mlflow_image/Dockerfile
# installs this list and nothing else): generated from the packages below as installed here
# (`python -m components.builds constraints` after `pip install -r requirements.txt`)
CONSTRAINTS = IMAGE_DIR / "constraints.txt"
IMAGE_REQUIREMENTS = ("mlflow", "psycopg[binary]", "boto3")  # the pins: requirements.txt's
# What builds the image's own plugin (its pyproject's build-system), installed without pip's
# build isolation so that it too is pinned: PyPI's release of 2026-10, for the image's Python
# 3.12 (not this environment's, which may be older)
IMAGE_BUILD_PINS = ("setuptools==84.2.1",)
# The image's Python, for the dependencies' markers (the Dockerfile's FROM and --platform)
IMAGE_MARKERS = {"python_version": "3.12", "python_full_version": "3.12.0",
                 "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                 "os_name": "posix", "implementation_name": "cpython",
                 "platform_python_implementation": "CPython"}

# Amazon RDS's CA bundle (all regions), which the database connection verifies the server with:
# vendored in the image's folder, so what is built does not depend on the day of the build.
# `python -m components.builds rds-ca` refreshes it from AWS (docs/deploy.md), for review and a
# commit; the build refuses to run without it.
RDS_CA = IMAGE_DIR / "rds-ca.pem"
RDS_CA_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

# The build context's modes, whatever the machine's umask (docker-build hashes modes: a laptop's
# 0664 and CI's 0644 would otherwise rebuild the same content under the same, immutable, tag)
FILE_MODE, DIR_MODE = 0o644, 0o755
FIXED_MTIME = 315532800  # 1980-01-01, as zip and wheel builds use


class ImageBuildError(Exception):
    """The image's build context cannot be made: the message says what to do."""


@dataclass(frozen=True)
class CentralBuilds:
    authorizer_archive: Path  # the Lambda's zip
    ui_zip: Path  # the UI bundle without config.json (written at deploy time)
    ui_zip_sha256: str
    image_context: Path = None  # the image's build context (stage_image_context)
    image_tag: str = None  # its tag: the digest of that context and the build arguments


def stage_image_context(build_dir: Path, source: Path = IMAGE_DIR, build_args: dict = None,
                        rds_ca: Path = None) -> tuple:
    """Copy the image's folder (what git tracks there: no build leftovers) to
    `build_dir/<tag>` with every mode and time set, and return (that folder, the tag). The tag
    is the digest of the copy (paths, bytes and modes) and of the build arguments, so it names
    exactly what docker-build hashes and builds: the same on any machine for the same files.
    `rds_ca`: the CA bundle to put in (default: the vendored one, which must exist)."""
    build_args = image_build_args() if build_args is None else build_args
    rds_ca = rds_ca or source / RDS_CA.name
    if not rds_ca.is_file():
        raise ImageBuildError(
            f"{rds_ca} is missing: the image verifies the database with Amazon RDS's CA bundle, "
            f"vendored there. Run `python -m components.builds rds-ca`, review and commit it "
            f"(docs/deploy.md)")
    if not (source / CONSTRAINTS.name).is_file():
        raise ImageBuildError(f"{source / CONSTRAINTS.name} is missing: run "
                              f"`python -m components.builds constraints` and commit it")
    build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=build_dir))
    files = {p.relative_to(source): p for p in source.rglob("*")
             if p.is_file() and not build_output(p.relative_to(source))}
    files[Path(RDS_CA.name)] = rds_ca
    for relative, path in sorted(files.items()):
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    for path in sorted(staging.rglob("*"), reverse=True):
        os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    os.chmod(staging, DIR_MODE)
    tag = context_digest(staging, build_args, modes=True)
    final = build_dir / tag
    if final.exists():
        shutil.rmtree(staging)
    else:
        staging.replace(final)
    return final, tag


def image_folder_packages(requirements: Path = ROOT / "requirements.txt") -> dict:
    """{distribution name: folder} of what requirements.txt installs from a folder of the image's
    own, other than its plugin: a stand-in for a release PyPI lacks (mlflow_tracing_gap/). The
    Dockerfile installs these from the context, so constraints.txt leaves them out."""
    import tomllib

    found = {}
    for line in requirements.read_text().splitlines():
        line = line.strip()
        if not line.startswith("./"):
            continue
        folder = (requirements.parent / line).resolve()
        if folder.parent == IMAGE_DIR.resolve() and folder.name != "plugin":
            name = tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"]
            found[name] = folder.name
    return found


def image_constraints(requirements: Path = ROOT / "requirements.txt") -> str:
    """constraints.txt's text: IMAGE_REQUIREMENTS at requirements.txt's pins and everything
    they need on the image's Python, at the versions installed here (less what the image
    installs from its own folders: image_folder_packages)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in requirements.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            req = Requirement(line.strip())
            pins[canonicalize_name(req.name)] = line.strip()
    todo = [Requirement(pins.get(canonicalize_name(Requirement(r).name), r))
            for r in IMAGE_REQUIREMENTS]
    versions, seen = {}, set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise ImageBuildError(f"{req} is not installed: pip install -r requirements.txt "
                                  f"first (the image's versions are this environment's)") from None
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            raise ImageBuildError(f"{req.name} {dist.version} is installed, {req} is pinned: "
                                  f"pip install -r requirements.txt first")
        versions[name] = dist.version
        if (name, frozenset(req.extras)) in seen:
            continue
        seen.add((name, frozenset(req.extras)))
        for text in dist.requires or []:
            dep = Requirement(text)
            if dep.marker is None or any(dep.marker.evaluate({**IMAGE_MARKERS, "extra": e})
                                         for e in (req.extras or {""})):
                todo.append(dep)
    for pin in IMAGE_BUILD_PINS:
        versions.setdefault(canonicalize_name(Requirement(pin).name), pin.split("==", 1)[1])
    local = {canonicalize_name(name) for name in image_folder_packages(requirements)}
    lines = [f"{name}=={version}" for name, version in sorted(versions.items())
             if name not in local]
    return ("# Every package the tracking server's image installs, at an exact version.\n"
            "# Generated: python -m components.builds constraints (components/builds.py)\n"
            + "\n".join(lines) + "\n")


def refresh_rds_ca(url: str = RDS_CA_URL, target: Path = RDS_CA) -> str:
    """Download Amazon RDS's CA bundle and write it where the image takes it from, after
    checking that it is PEM certificates issued by Amazon RDS CAs. Returns a summary."""
    import urllib.request

    from cryptography import x509

    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https, fixed URL)
        data = response.read()
    certificates = x509.load_pem_x509_certificates(data)
    issuers = {c.issuer.rfc4514_string() for c in certificates}
    if not certificates or not all("Amazon RDS" in i for i in issuers):
        raise ImageBuildError(f"{url} did not give Amazon RDS's CA certificates: {issuers}")
    target.write_bytes(data)
    return f"{target}: {len(certificates)} certificates, sha256 {hashlib.sha256(data).hexdigest()}"


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
    context, tag = stage_image_context(build_dir / "image")
    return CentralBuilds(authorizer_archive=Path(archive), ui_zip=zip_path, ui_zip_sha256=digest,
                         image_context=context, image_tag=tag)


def main(argv) -> int:
    if argv == ["constraints"]:
        CONSTRAINTS.write_text(image_constraints())
        print(f"{CONSTRAINTS}: {len(CONSTRAINTS.read_text().splitlines()) - 2} packages")
    elif argv == ["rds-ca"]:
        print(refresh_rds_ca())
    else:
        print("usage: python -m components.builds constraints|rds-ca", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
