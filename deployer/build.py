"""The serving loop's Lambda code as the stacks ship it: the package's files (no dependency
beyond the Lambda runtime's boto3), and for the status writer the teams' accounts
(`teams.json`, {team: account}). Runs at deploy time; not shipped.

    from deployer.build import archive_files
    archive_files()                      # the team's deployer
    archive_files(teams={"team-a": "222222222222"})   # the central status writer
"""

import json
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED = ("__init__.py", "_spec.py", "handler.py", "status_writer.py")
DEPLOYER_HANDLER = "deployer.handler.handler"
STATUS_WRITER_HANDLER = "deployer.status_writer.handler"
RUNTIME = "python3.12"
TEAMS_FILE = "teams.json"  # deployer.status_writer.TEAMS_FILE


def teams_data(teams: dict) -> bytes:
    if not isinstance(teams, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 12 and v.isdigit()
            for k, v in teams.items()):
        raise ValueError("teams must be {team: 12-digit account id}")
    return json.dumps(teams, sort_keys=True, indent=1).encode()


def archive_files(teams: dict = None) -> dict:
    """{path in the archive: bytes}."""
    files = {f"deployer/{name}": (PACKAGE_DIR / name).read_bytes() for name in SHIPPED}
    if teams is not None:
        files[f"deployer/{TEAMS_FILE}"] = teams_data(teams)
    return files


def write_data(teams: dict, folder) -> Path:
    """The status writer's data in `folder` (the sandbox's writer reads it from there, with
    STATUS_WRITER_DATA, as the Lambda reads it from its archive)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TEAMS_FILE).write_bytes(teams_data(teams))
    return folder
