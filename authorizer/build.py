"""Build the authorizer's deployment archive: handler, its data, PyJWT and cryptography.

    from roles import authorizer_rules
    from spec.config import workspaces
    path = build_archive(authorizer_rules(), "build/authorizer", python="3.12", arch="x86_64",
                         workspaces=workspaces(config.teams))

The data (`data_files`) is the policy rules compiled from `roles` and the teams' workspaces
from the stack config: read once at the function's cold start (authorizer.handler.load_data),
never from its environment, whose 4 KB would be full at about 27 teams. The sandbox writes the
same files with `write_data` and its authorizer reads them the same way.

The dependencies are manylinux wheels for the Lambda runtime and architecture chosen, fetched
with `pip download` (cached under the output folder) and unpacked, never built here. The zip is
reproducible: entries sorted, fixed timestamps and modes, so the same inputs give the same
bytes and `pulumi up` does not redeploy a function whose archive has not changed.

This module runs at deploy time, on the deployer's machine; it is not shipped.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from spec.edge import AUTHORIZER_RULES_FILE, AUTHORIZER_WORKSPACES_FILE

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED = ("__init__.py", "_spec.py", "handler.py", "tokens.py")  # _spec.py: spec.generate
# the data files the handler reads (spec.edge; the handler has them from its _spec.py)
RULES_FILE, WORKSPACES_FILE = AUTHORIZER_RULES_FILE, AUTHORIZER_WORKSPACES_FILE
REQUIREMENTS = ("pyjwt[crypto]==2.*",)
RUNTIMES = {"3.12": "python3.12", "3.13": "python3.13"}
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
HANDLER = "authorizer.handler.handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _platform_tags(arch: str):
    machine = ARCHITECTURES[arch]
    return [f"manylinux2014_{machine}", f"manylinux_2_28_{machine}", f"manylinux_2_17_{machine}"]


def download_wheels(dest: Path, python: str, arch: str) -> list:
    """The wheels of REQUIREMENTS for CPython `python` on Linux `arch`, downloaded once."""
    marker = dest / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if marker.exists() and marker.read_text() == wanted and list(dest.glob("*.whl")):
        return sorted(dest.glob("*.whl"))
    # Download into a folder of this process's own and move it into place in one step, so
    # no wheel of an older set lingers and two builds at once cannot trip over each other.
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
               "--dest", str(partial)]
    for tag in _platform_tags(arch):
        command += ["--platform", tag]
    result = subprocess.run(command + list(REQUIREMENTS), capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise RuntimeError(
            f"could not download the authorizer's wheels for Python {python} on {arch}:\n"
            + result.stderr.strip()[-2000:]
        )
    (partial / marker.name).write_text(wanted)
    stale = dest.with_name(f"{dest.name}.stale-{os.getpid()}")
    try:
        dest.replace(stale)
    except OSError:  # nothing there yet, or another build moved it
        pass
    try:
        partial.replace(dest)
    except OSError:  # another build put its (identical) download in place first
        shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(stale, ignore_errors=True)
    return sorted(dest.glob("*.whl"))


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _check_workspaces(workspaces) -> dict:
    if not isinstance(workspaces, dict) or not all(
            isinstance(team, str) and isinstance(shared, (list, tuple))
            and all(isinstance(t, str) and t in workspaces for t in shared)
            for team, shared in workspaces.items()):
        raise ValueError("workspaces must be {team: [teams it is shared with]} of known teams "
                         "(spec.config.workspaces)")
    return {team: sorted(set(shared)) for team, shared in workspaces.items()}


def data_files(rules: dict, workspaces: dict) -> dict:
    """{file name: bytes} of the authorizer's data, as the archive holds it beside the handler
    (sorted keys: the same inputs give the same bytes)."""
    if not isinstance(rules, dict) or "rules" not in rules or "levels" not in rules:
        raise ValueError("rules must be roles.authorizer_rules()")
    return {RULES_FILE: json.dumps(rules, sort_keys=True, indent=1).encode(),
            WORKSPACES_FILE: json.dumps(_check_workspaces(workspaces), sort_keys=True,
                                        indent=1).encode()}


def write_data(rules: dict, workspaces: dict, folder) -> Path:
    """Write the data files into `folder` (the sandbox's authorizer reads them from there with
    authorizer.handler.load_data, as the Lambda reads them from its archive)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in data_files(rules, workspaces).items():
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(folder / name)
    return folder


def archive_bytes(rules: dict, wheels, workspaces: dict) -> bytes:
    files = {}
    for name in SHIPPED:
        files[f"authorizer/{name}"] = (PACKAGE_DIR / name).read_bytes()
    for name, data in data_files(rules, workspaces).items():
        files[f"authorizer/{name}"] = data
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if not name.endswith("/") and ".dist-info/RECORD" not in name:
                    files[name] = z.read(name)
    return zip_bytes(files)


def zip_bytes(files: dict) -> bytes:
    """A reproducible zip of {name: bytes}: sorted entries, fixed timestamps and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name in sorted(files):
            z.writestr(_entry(name), files[name])
    return buffer.getvalue()


def build_archive(rules: dict, out_dir, python: str = "3.12", arch: str = "x86_64",
                  wheel_cache=None, *, workspaces: dict) -> Path:
    """Write `authorizer-<python>-<arch>-<hash>.zip` into `out_dir` and return its path.

    `workspaces`: {team: [teams it is shared with]} (spec.config.workspaces). Wheels are kept
    in `wheel_cache` (default: `out_dir/wheels`) between builds.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    data_files(rules, workspaces)  # refuse bad data before any download
    out_dir = Path(out_dir)
    cache = Path(wheel_cache) if wheel_cache else out_dir / "wheels"
    wheels = download_wheels(cache / f"cp{python.replace('.', '')}-{arch}", python, arch)
    data = archive_bytes(rules, wheels, workspaces)
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = out_dir / f"authorizer-{python}-{arch}-{digest}.zip"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
