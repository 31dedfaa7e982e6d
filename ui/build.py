"""Build the UI bundle: the sign-in shell around MLflow's own UI, ready to deploy.

    python -m ui.build [--out build/ui]

Layout of the bundle (what `ui.hosting` serves):

    index.html, sw.js, shell/*      the sign-in shell and its service worker (ui/shell/)
    shell/amazon-cognito-identity.min.js   from npm (ui/package-lock.json), `npm ci` if missing
    shell/refusal-table.json        the level each API call needs (roles.refusals), for the
                                    service worker's refusals in plain words
    static-files/**                 MLflow's UI exactly as the installed, pinned wheel ships it
    mlflow.html                     MLflow's own index.html, byte for byte, at the root so its
                                    relative URLs (static-files/..., ajax-api/...) resolve as
                                    under `mlflow server`
    bundle-manifest.json            what went in: MLflow's version and every file's SHA-256

`config.json` (Cognito settings) is not part of the build: it is added at deploy time
(`components/amplify_deployment.py`, to the zip `components/user_interface.py` makes) or
served by the sandbox. Nothing of MLflow's is modified: the
build checks each copied file against the wheel's RECORD.
"""

import argparse
import base64
import csv
import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from roles.refusals import render_table

UI_DIR = Path(__file__).resolve().parent
ROOT = UI_DIR.parent
SHELL_DIR = UI_DIR / "shell"
DEFAULT_OUT = ROOT / "build" / "ui"
NPM_LOCK = ".npm-ci.lock"  # held while npm ci runs in ui/ (git ignores it)
COGNITO_JS = Path("node_modules/amazon-cognito-identity-js/dist/amazon-cognito-identity.min.js")
ROOT_FILES = ("index.html", "sw.js")  # shell files that must sit at the origin's root


class BuildError(RuntimeError):
    """The bundle cannot be built; the message says what to do."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    files: int
    bytes: int
    mlflow_bytes: int
    mlflow_version: str
    digest: str  # SHA-256 over every file's name and content

    def summary(self) -> str:
        shell = self.bytes - self.mlflow_bytes
        return (f"UI bundle {self.path}: {self.files} files, {self.bytes / 1e6:.1f} MB "
                f"(MLflow {self.mlflow_version} UI {self.mlflow_bytes / 1e6:.1f} MB, "
                f"sign-in shell {shell / 1e3:.0f} kB), digest {self.digest[:16]}")


def pinned_mlflow_version(requirements: Path = ROOT / "requirements.txt") -> str:
    for line in requirements.read_text().splitlines():
        if line.strip().startswith("mlflow=="):
            return line.split("==", 1)[1].strip()
    raise BuildError(f"{requirements} pins no mlflow version (expected a line mlflow==X.Y.Z)")


def mlflow_ui_files() -> tuple:
    """(version, {path inside the UI build: (source file, sha256 from the wheel's RECORD)})."""
    try:
        dist = metadata.distribution("mlflow")
    except metadata.PackageNotFoundError:
        raise BuildError("mlflow is not installed: pip install -r requirements.txt") from None
    wanted = pinned_mlflow_version()
    if dist.version != wanted:
        raise BuildError(f"installed mlflow is {dist.version}, requirements.txt pins {wanted}: "
                         "pip install -r requirements.txt")
    prefix = "mlflow/server/js/build/"
    record = {}
    for row in csv.reader((dist.read_text("RECORD") or "").splitlines()):
        if row and row[0].startswith(prefix) and row[1].startswith("sha256="):
            digest = base64.urlsafe_b64decode(row[1][7:] + "==").hex()
            record[row[0][len(prefix):]] = (Path(dist.locate_file(row[0])), digest)
    if "index.html" not in record:
        raise BuildError("the installed mlflow wheel has no UI build (mlflow/server/js/build)")
    return dist.version, record


def ensure_node_modules(progress=print) -> Path:
    """The Cognito library from npm, installed exactly as ui/package-lock.json says."""
    library = UI_DIR / COGNITO_JS
    # One `npm ci` at a time in ui/ (it empties node_modules first), and no reading while one
    # runs: two sandboxes, or two test workers, starting together on a fresh checkout would
    # otherwise break each other's
    with open(UI_DIR / NPM_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if library.exists():
            return library
        npm = shutil.which("npm")
        if npm is None:
            raise BuildError("npm is needed once to fetch the sign-in shell's Cognito library "
                             "(ui/package-lock.json); install Node.js 20 or newer")
        progress("installing the sign-in shell's npm dependencies (npm ci, "
                 "ui/package-lock.json) ...")
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                cwd=UI_DIR, capture_output=True, text=True)
    if result.returncode != 0 or not library.exists():
        raise BuildError(f"npm ci failed in {UI_DIR}:\n{result.stderr.strip()[-2000:]}")
    return library


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_files(progress=print) -> tuple:
    """(mlflow version, {bundle path: bytes}) without writing anything."""
    version, record = mlflow_ui_files()
    files = {}
    for name, (source, digest) in sorted(record.items()):
        data = source.read_bytes()
        if _sha256(data) != digest:
            raise BuildError(f"{source} differs from the mlflow {version} wheel's RECORD; "
                             "reinstall mlflow (pip install --force-reinstall mlflow==" + version + ")")
        files[f"static-files/{name}"] = data
    files["mlflow.html"] = files["static-files/index.html"]
    for path in sorted(SHELL_DIR.rglob("*")):
        if path.is_file():
            relative = path.relative_to(SHELL_DIR).as_posix()
            target = relative if relative in ROOT_FILES else f"shell/{relative}"
            files[target] = path.read_bytes()
    files["shell/amazon-cognito-identity.min.js"] = ensure_node_modules(progress).read_bytes()
    # what the service worker names a refused call's level from (roles.refusals)
    files["shell/refusal-table.json"] = render_table().encode()
    manifest = {"mlflow_version": version,
                "files": {name: _sha256(data) for name, data in sorted(files.items())}}
    files["bundle-manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    return version, files


def _up_to_date(out_dir: Path, files: dict) -> bool:
    """The folder already holds exactly these files, byte for byte, and nothing else."""
    manifest = out_dir / "bundle-manifest.json"
    if not manifest.exists() or manifest.read_bytes() != files["bundle-manifest.json"]:
        return False
    present = {p.relative_to(out_dir).as_posix(): p for p in out_dir.rglob("*") if p.is_file()}
    return present.keys() == files.keys() and all(
        present[name].read_bytes() == data for name, data in files.items())


def digest_of(files: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + _sha256(files[name]).encode() + b"\n")
    return h.hexdigest()


def build(out_dir: Path = DEFAULT_OUT, progress=print) -> Bundle:
    """Write the bundle into `out_dir` (replaced as a whole, never left half-written)."""
    started = time.monotonic()
    out_dir = Path(out_dir)
    version, files = bundle_files(progress)
    if not _up_to_date(out_dir, files):
        partial = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        for name, data in files.items():
            target = partial / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = out_dir.with_name(out_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out_dir.exists():
            out_dir.replace(old)
        partial.replace(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    mlflow_bytes = sum(len(d) for n, d in files.items()
                       if n.startswith("static-files/") or n == "mlflow.html")
    bundle = Bundle(out_dir, len(files), sum(len(d) for d in files.values()), mlflow_bytes,
                    version, digest_of(files))
    progress(f"{bundle.summary()} in {time.monotonic() - started:.1f} s")
    return bundle


def read_bundle(path: Path) -> dict:
    """{bundle path: bytes} of a built bundle folder."""
    path = Path(path)
    if not (path / "bundle-manifest.json").exists():
        raise BuildError(f"{path} is not a built UI bundle: run python -m ui.build")
    return {p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*")) if p.is_file()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the bundle's folder")
    args = parser.parse_args(argv)
    try:
        build(args.out)
    except BuildError as e:
        print(f"ui.build: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
