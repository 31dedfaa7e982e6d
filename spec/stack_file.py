"""A `Pulumi.<stack>.yaml` file read as the Pulumi engine hands it to the program, for those
that run without the pulumi CLI (the sandbox, tests).

The engine gives the program each config key as a string, objects and numbers as their JSON
(`pulumi.Config.get` returns it, `get_object` decodes it): `config_values` does the same, and
`StackFile.load` feeds `spec.config.load` as `__main__.py` does with `pulumi.Config`, so a
file means the same typed config, and fails with the same message naming the key, in both.

What only a reader of several stack files can check (the pulumi CLI deploys one stack at a
time) is here too: that a team stack agrees with the central stack about its team.
"""

import json
from pathlib import Path

import yaml

from spec.config import NAMESPACE, CentralConfig, ConfigError, DataScienceConfig, load
from spec.registry_events import DEFAULT_DEPLOY_ALIAS

ROOT = Path(__file__).resolve().parent.parent
CENTRAL_FILE = ROOT / "Pulumi.central.yaml"  # the example central stack's config


def config_values(config: dict) -> dict:
    """{key: string}: a stack file's `config:` as the engine passes it to the program."""
    return {key: value if isinstance(value, str) else json.dumps(value)
            for key, value in config.items()}


def _refuse_secrets(value, key):
    """A `secure:` value is ciphertext that only the pulumi CLI (with the stack's key) opens."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            raise ConfigError(f"{key} is encrypted (secure:), which only the pulumi CLI can "
                              f"read; give it in clear in the file this reads")
        for name, inner in value.items():
            _refuse_secrets(inner, f"{key}.{name}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _refuse_secrets(inner, f"{key}[{i}]")



def read_yaml(path: Path):
    """A YAML file's document; a ConfigError naming the file when it cannot be read or parsed."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not YAML: {e}") from None

class StackFile:
    """One stack's config file; `get`/`get_object` answer as `pulumi.Config(namespace)`."""

    def __init__(self, path):
        self.path = Path(path)
        document = read_yaml(self.path)
        config = document.get("config") if isinstance(document, dict) else None
        if not isinstance(config, dict):
            raise ConfigError(f"{self.path} must hold a `config:` mapping, as Pulumi.<stack>.yaml "
                              f"files do")
        for key, value in config.items():
            if not isinstance(key, str) or ":" not in key:
                raise ConfigError(f"{self.path}: config key {key!r} must be namespaced "
                                  f"(<namespace>:<name>, e.g. {NAMESPACE}:accountType)")
            _refuse_secrets(value, key)
        self.values = config_values(config)

    def get(self, name: str, namespace: str = NAMESPACE):
        return self.values.get(f"{namespace}:{name}")

    def get_object(self, name: str, namespace: str = NAMESPACE):
        value = self.get(name, namespace)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            # as pulumi.Config.get_object's ConfigTypeError
            raise ConfigError(f"Configuration '{namespace}:{name}' value '{value}' is not a "
                              f"valid JSON object") from None

    @property
    def region(self):
        return self.get("region", "aws")

    def load(self):
        """The typed config, exactly as the stack's program reads it (`__main__.py`); an error
        is the program's, after this file's path."""
        try:
            return load(self.get_object, self.get, self.region)
        except ConfigError as e:
            raise ConfigError(f"{self.path}: {e}") from None


def read_stack(path) -> object:
    """`Pulumi.<stack>.yaml` at `path` as a CentralConfig or DataScienceConfig."""
    return StackFile(path).load()


def team_stacks(central_path) -> tuple:
    """The team stacks beside a central stack's file: every `Pulumi.*.yaml` in its folder whose
    accountType is datascience, as (path, DataScienceConfig)."""
    central_path = Path(central_path).resolve()
    found = []
    for path in sorted(central_path.parent.glob("Pulumi.*.yaml")):
        if path.resolve() == central_path:
            continue
        stack = StackFile(path)
        if stack.get("accountType") == "datascience":
            found.append((path, stack.load()))
    return tuple(found)


def check_team_stack(central: CentralConfig, team: DataScienceConfig, where="") -> None:
    """A team stack must name a team of the central stack, in that team's account, with the
    central account, ask for no level the central stack does not grant it (its SageMaker
    role would have no central role to assume), and, if it serves, deploy on the alias the
    central stack names for it (the tracking server's approval rule guards that alias: another
    would deploy what no second person promoted, or never deploy). `where`: the team stack's
    file, for messages."""
    key = f"{where}{': ' if where else ''}{NAMESPACE}:datascience"
    teams = {t.name: (i, t) for i, t in enumerate(central.teams)}
    central_key = f"{NAMESPACE}:central.teams"
    if team.team not in teams:
        raise ConfigError(f"{key}.team: {team.team!r} is not a team of the central stack "
                          f"({central_key}: {', '.join(teams) or 'none'})")
    i, granted = teams[team.team]
    if team.account_id != granted.account_id:
        raise ConfigError(f"{key}.accountId must be {team.team}'s account as the central stack "
                          f"lists it ({central_key}[{i}].accountId {granted.account_id}), got "
                          f"{team.account_id}")
    if team.central_account_id != central.account_id:
        raise ConfigError(f"{key}.centralAccountId must be the central stack's accountId "
                          f"{central.account_id}, got {team.central_account_id}")
    extra = [level for level in team.levels if level not in granted.levels]
    if extra:
        raise ConfigError(f"{key}.levels names {', '.join(extra)}, which the central stack does "
                          f"not grant {team.team} ({central_key}[{i}].levels: "
                          f"{', '.join(granted.levels)})")
    if team.serving.enabled and team.serving.deploy_alias != granted.deploy_alias:
        raise ConfigError(f"{key}.serving.deployAlias {team.serving.deploy_alias!r} must be the "
                          f"alias the central stack names for {team.team} "
                          f"({central_key}[{i}].deployAlias: {granted.deploy_alias!r}, "
                          f"{DEFAULT_DEPLOY_ALIAS!r} when unset): the deployer serves the "
                          "promotions of that alias, which the tracking server's approval rule "
                          "guards")
