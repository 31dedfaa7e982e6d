"""Run the Pulumi program under mocks (no CLI, no AWS) and return what it registered.

The mocks answer with the computed outputs AWS would give (ARNs, ids, DNS names), so the
program's wiring can be checked; they do not decide anything the program relies on.
"""

import contextlib
import hashlib
import json
import runpy
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pulumi
import yaml

from spec.stack_file import config_values

ROOT = Path(__file__).resolve().parent.parent
API_ID = "abcde12345"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)  # what the mocks answered (ids, ARNs, names)
    protect: bool = False
    retain_on_delete: bool = False
    parent: str = None
    custom: bool = True
    ignore_changes: tuple = ()  # the property names Pulumi leaves as they are on AWS
    depends_on: tuple = ()  # the names of the resources it explicitly waits for


class Mocks(pulumi.runtime.Mocks):
    def __init__(self, account_id, region):
        self.account, self.region = account_id, region
        self.resources = {}

    def call(self, args):
        return {}

    def new_resource(self, args):
        name, typ, inputs = args.name, args.typ, dict(args.inputs)
        acct, region = self.account, self.region
        # Component packages (awsx) have outputs that differ from their inputs.
        out = {} if typ.startswith("awsx:") else dict(inputs)
        out.setdefault("arn", f"arn:aws:mock:{region}:{acct}:{typ.split(':')[-1].lower()}/{name}")
        rid = f"{name}-id"
        if typ == "aws:iam/role:Role":
            role = inputs.get("name") or f"{name}-1a2b3c4"
            out.update(arn=f"arn:aws:iam::{acct}:role/{role}", name=role)
        elif typ == "aws:iam/policy:Policy":
            out.update(arn=f"arn:aws:iam::{acct}:policy/{name}")
        elif typ == "aws:s3/bucket:Bucket":
            out.update(bucket=f"{name}-1a2b3c4", arn=f"arn:aws:s3:::{name}-1a2b3c4")
            rid = out["bucket"]
        elif typ == "aws:kms/key:Key":
            rid = f"key-{name}"
            out.update(keyId=rid, arn=f"arn:aws:kms:{region}:{acct}:key/{rid}")
        elif typ == "awsx:ec2:Vpc":
            out.update(vpcId="vpc-1", privateSubnetIds=["subnet-p1", "subnet-p2"],
                       publicSubnetIds=["subnet-u1", "subnet-u2"],
                       isolatedSubnetIds=["subnet-i1", "subnet-i2"], routeTables=[])
        elif typ == "aws:rds/cluster:Cluster":
            out.setdefault("clusterIdentifier", f"{name}-1a2b3c4")
            out.update(endpoint=f"{name}.cluster-abc.{region}.rds.amazonaws.com",
                       masterUserSecrets=[{"secretArn": f"arn:aws:secretsmanager:{region}:{acct}:"
                                                        f"secret:rds!cluster-1-AbCdEf"}])
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            out.update(dnsName=f"{name}-123.elb.{region}.amazonaws.com")
        elif typ == "aws:apigateway/restApi:RestApi":
            rid = API_ID
            out.setdefault("name", f"{name}-1a2b3c4")  # Pulumi's autoname
            out.update(rootResourceId="root123",
                       executionArn=f"arn:aws:execute-api:{region}:{acct}:{API_ID}")
        elif typ == "aws:apigateway/stage:Stage":
            out.update(invokeUrl=f"https://{API_ID}.execute-api.{region}.amazonaws.com/"
                                 f"{inputs.get('stageName')}",
                       arn=f"arn:aws:apigateway:{region}::/restapis/{API_ID}/stages/"
                           f"{inputs.get('stageName')}")
        elif typ == "aws:cognito/userPool:UserPool":
            rid = f"{region}_AbCdEf123"
            out.update(arn=f"arn:aws:cognito-idp:{region}:{acct}:userpool/{rid}")
        elif typ == "aws:lambda/function:Function":
            fn = f"arn:aws:lambda:{region}:{acct}:function:{inputs.get('name', name)}"
            out.update(arn=fn, invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/"
                                         f"functions/{fn}/invocations")
        elif typ == "awsx:ecr:Image":
            out.update(imageUri=f"{acct}.dkr.ecr.{region}.amazonaws.com/mlflow@sha256:abc")
        elif typ == "aws:ecr/repository:Repository":
            out.update(repositoryUrl=f"{acct}.dkr.ecr.{region}.amazonaws.com/{name}")
        elif typ in ("aws:ecs/cluster:Cluster", "aws:ecs/service:Service"):
            out.setdefault("name", name)
        elif typ == "aws:sagemaker/domain:Domain":
            rid = "d-abc123xyz456"
        elif typ == "aws:amplify/app:App":
            rid = "d1a2b3c4d5e6f7"
            out.update(defaultDomain=f"{rid}.amplifyapp.com")
        elif typ == "aws:wafv2/webAcl:WebAcl":
            out.setdefault("name", f"{name}-1a2b3c4")
            out.update(arn=f"arn:aws:wafv2:{region}:{acct}:regional/webacl/{name}/{name}-id")
        elif typ == "aws:cloudwatch/eventBus:EventBus":
            out.update(arn=f"arn:aws:events:{region}:{acct}:event-bus/{inputs.get('name', name)}")
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            out.update(arn=f"arn:aws:logs:{region}:{acct}:log-group:{inputs.get('name', name)}")
        elif typ == "aws:rds/subnetGroup:SubnetGroup":
            out.setdefault("name", name)
        record = self.resources.setdefault((typ, name), Registered(typ, name))
        record.inputs, record.custom = inputs, args.custom
        record.outputs = {**out, "id": rid}
        return [rid, out]


class Inventory:
    def __init__(self, resources, outputs):
        self.resources = list(resources)
        self.outputs = outputs

    def of_type(self, typ):
        return [r for r in self.resources if r.type == typ]

    def one(self, typ, name_part=""):
        found = [r for r in self.of_type(typ) if name_part in r.name]
        assert len(found) == 1, f"expected one {typ} named *{name_part}*, found {len(found)}"
        return found[0]

    def render(self) -> str:
        lines = [f"{len(self.resources)} resources"]
        for r in sorted(self.resources, key=lambda r: (r.type, r.name)):
            flags = "".join([" protect" if r.protect else "", " retain" if r.retain_on_delete else ""])
            lines.append(f"  {r.type:55} {r.name}{flags}")
        return "\n".join(lines)


def stack_config(stack: str) -> dict:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


_current = [None]  # the mocks of the run in progress
_prebuilt = {}


def prebuilt(workspaces=None):
    """Stand-ins for what `components.builds.build_central` makes on a deploying machine (its
    own tests build the real ones: tests/authorizer/test_authorizer_archive.py, tests/ui/test_ui.py): the
    stack tests run offline. The authorizer's is the real archive of these `workspaces`
    without its libraries (authorizer.build.archive_bytes: the handler and its data)."""
    from authorizer.build import archive_bytes
    from components.builds import CentralBuilds
    from roles import authorizer_rules

    if not _prebuilt:
        _prebuilt["folder"] = folder = Path(tempfile.mkdtemp(prefix="lz-prebuilt-"))
        with zipfile.ZipFile(folder / "ui.zip", "w") as z:
            z.writestr("index.html", "stand-in ui.zip")
    folder = _prebuilt["folder"]
    workspaces = workspaces or {}
    key = json.dumps(workspaces, sort_keys=True)
    if key not in _prebuilt:
        archive = folder / f"authorizer-{hashlib.sha256(key.encode()).hexdigest()[:16]}.zip"
        archive.write_bytes(archive_bytes(authorizer_rules(), (), workspaces))
        ui = folder / "ui.zip"
        _prebuilt[key] = CentralBuilds(archive, ui, hashlib.sha256(ui.read_bytes()).hexdigest())
    return _prebuilt[key]


class BuildDuringEvaluation(AssertionError):
    """A component ran a build (npm, pip) while the program was evaluated."""


def _refuse_builds(real):
    def run(argv, *args, **kwargs):
        words = [str(a) for a in (argv if isinstance(argv, (list, tuple)) else [argv])]
        if any(Path(w).name in ("npm", "pip", "pip3") or w in ("pip", "download", "ci")
               for w in words[:4]):
            raise BuildDuringEvaluation(f"the program ran {' '.join(words[:4])}: builds belong "
                                        f"to components.builds, before any component")
        return real(argv, *args, **kwargs)
    return run


@contextlib.contextmanager
def offline_builds():
    """The program under mocks with the builds made already, and any build refused."""
    with mock.patch("components.builds.build_central",
                    lambda workspaces=None, **kw: prebuilt(workspaces)), \
            mock.patch.object(subprocess, "run", _refuse_builds(subprocess.run)), \
            mock.patch.object(subprocess, "Popen", _refuse_builds(subprocess.Popen)):
        yield


def run_program(config: dict, stack: str = "central") -> Inventory:
    """Run __main__.py with `config` (a Pulumi.<stack>.yaml `config:` mapping) under mocks."""
    own = config.get(f"mlflow-landing-zone:{stack}") or {}
    mocks = Mocks(own.get("accountId", "111111111111"), config.get("aws:region", "us-east-1"))
    _current[0] = mocks
    pulumi.runtime.set_mocks(mocks, project="mlflow-landing-zone", stack=stack, preview=False)
    # as the engine hands a stack file's config to the program (and as the sandbox reads it)
    pulumi.runtime.set_all_config(config_values(config))

    def record_options(args):
        # Pulumi keeps the stack transformations of earlier runs in this process; each run
        # records into its own inventory only.
        if _current[0] is not mocks:
            return None
        record = mocks.resources.setdefault((args.type_, args.name),
                                            Registered(args.type_, args.name))
        record.protect = bool(args.opts.protect)
        record.retain_on_delete = bool(args.opts.retain_on_delete)
        record.parent = getattr(args.opts.parent, "_name", None) if args.opts.parent else None
        record.ignore_changes = tuple(args.opts.ignore_changes or ())
        depends = args.opts.depends_on or ()
        record.depends_on = tuple(getattr(d, "_name", None)
                                  for d in (depends if isinstance(depends, list) else [depends]))
        return None

    outputs = {}

    @pulumi.runtime.test
    def program():
        pulumi.runtime.register_stack_transformation(record_options)
        namespace = runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        account = namespace.get("account")
        if account is None:
            return {}
        return pulumi.Output.all(**account.outputs).apply(outputs.update)

    try:
        with offline_builds():
            program()
    finally:
        pulumi.runtime.set_all_config({})
    return Inventory(mocks.resources.values(), outputs)
