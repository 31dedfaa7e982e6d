"""The sandbox's AWS profiles: one per team and level, whose credentials come from the running
sandbox, so the lines it prints stay good across restarts.

Each start writes `aws-config` beside the state file: a profile `<team>-<level>` per team role
with the emulated AWS's endpoint and a `credential_process` that runs

    python <checkout>/sandbox/credentials.py --state-file <state file> <team> <level>

which prints that level's SageMaker session (what a job of the team gets) as the AWS SDKs
expect, from the state file of the sandbox running now, or says that none is running.
"""

import argparse
import contextlib
import json
import os
import shlex
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

CONFIG_NAME = "aws-config"


def profile_name(team: str, level: str) -> str:
    return f"{team}-{level}"


def write_aws_config(state: dict, state_file: Path) -> Path:
    """The AWS config file of this start (its endpoint may have moved since the last)."""
    state_file = Path(state_file).resolve()
    lines = ["# Written by `python -m sandbox` at each start: AWS_CONFIG_FILE=<this file>",
             "# AWS_PROFILE=<team>-<level>. Credentials come from the running sandbox.", ""]
    for team in state["teams"]:
        for role in team["roles"]:
            # this file by its path (standard library only): it runs from any directory
            command = [sys.executable, str(Path(__file__).resolve()), "--state-file",
                       str(state_file), team["name"], role["level"]]
            lines += [f"[profile {profile_name(team['name'], role['level'])}]",
                      f"region = {state['aws']['region']}",
                      f"endpoint_url = {state['aws']['endpoint_url']}",
                      f"credential_process = {shlex.join(command)}", ""]
    path = state_file.parent / CONFIG_NAME
    write_private(path, "\n".join(lines))
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, readable by its owner alone from the first byte on: the
    state file and the AWS config hold passwords and keys. (A file written, then chmod-ed,
    is world-readable in between; a fixed temporary name would keep an old file's mode.)"""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:  # mkstemp creates the file 0600, exclusively
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class NotRunning(RuntimeError):
    pass


def _running(state: dict) -> bool:
    pid = state.get("pid")
    try:
        os.kill(pid, 0)
    except (TypeError, ProcessLookupError, PermissionError):
        return False
    endpoint = urlsplit(state["aws"]["endpoint_url"])
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port), timeout=2):
            return True
    except OSError:
        return False


def session_credentials(state_file: Path, team: str, level: str) -> dict:
    """The credential_process answer for a team's level, from the running sandbox."""
    try:
        state = json.loads(Path(state_file).read_text())
    except (OSError, ValueError):
        raise NotRunning(f"no sandbox state at {state_file}: start one with "
                         f"`python -m sandbox`") from None
    if not _running(state):
        raise NotRunning(f"the sandbox of {state_file} is not running: start it with "
                         f"`python -m sandbox` (the profiles stay the same)")
    for t in state["teams"]:
        for role in t["roles"] if t["name"] == team else ():
            if role["level"] == level:
                c = role["credentials"]
                return {"Version": 1, "AccessKeyId": c["AccessKeyId"],
                        "SecretAccessKey": c["SecretAccessKey"],
                        "SessionToken": c["SessionToken"], "Expiration": c["Expiration"]}
    held = sorted(profile_name(t["name"], r["level"]) for t in state["teams"] for r in t["roles"])
    raise NotRunning(f"the sandbox has no role for {team} at {level}; it has {', '.join(held)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox/credentials.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("team")
    parser.add_argument("level")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(session_credentials(args.state_file, args.team, args.level)))
    except NotRunning as e:
        print(f"sandbox credentials: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
