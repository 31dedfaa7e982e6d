"""An Amplify manual deployment, as a Pulumi dynamic resource: `pulumi up` uploads the UI bundle
to an Amplify branch with no Git repository behind it (no CodeCommit, no console step).

pulumi-aws has no resource for Amplify's CreateDeployment/StartDeployment, so this provider
calls them with boto3 in the deploying process, under the same AWS credentials as the stack,
and refuses any account but the stack's (as the stack's explicit provider does). A change of
the bundle or of its config starts a new deployment; deleting the resource leaves the branch's
last deployment in place (deleting the branch removes it).

The provider imports only the standard library and boto3, inside its methods: Pulumi runs it
in a process of its own from a pickled copy (dill), kept in the stack's state. That copy holds
the provider's code itself (`_by_value`), not a reference to this module: a later `pulumi up`
or `pulumi destroy` loads it whatever the working directory, and after this file has moved.
"""

import inspect

import pulumi
import pulumi.dynamic as dynamic

POLL_SECONDS = 5
DEPLOY_TIMEOUT_SECONDS = 15 * 60
_COMPARED = ("app_id", "branch_name", "zip_sha256", "config", "region", "account_id")


class DeploymentError(Exception):
    """The deployment did not go through; the message says where it stopped."""


def _zip_with_config(zip_path: str, zip_sha256: str, config: dict) -> bytes:
    """The prebuilt bundle zip plus `config.json`, checked against the digest of the preview."""
    import hashlib
    import io
    import json
    import zipfile

    with open(zip_path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != zip_sha256:
        raise DeploymentError(f"{zip_path} changed after the preview; run `pulumi up` again")
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as z:
        info = zipfile.ZipInfo("config.json", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, json.dumps(config, indent=1, sort_keys=True))
    return out.getvalue()


def deploy(props: dict, log=print) -> str:
    """Upload and start one deployment, wait for it; return its job id."""
    import time
    import urllib.request

    import boto3

    session = boto3.Session(region_name=props["region"])
    account = session.client("sts").get_caller_identity()["Account"]
    if account != props["account_id"]:
        raise DeploymentError(f"the credentials are of account {account}; this stack deploys "
                              f"only into {props['account_id']}")
    data = _zip_with_config(props["zip_path"], props["zip_sha256"], props["config"])
    amplify = session.client("amplify")
    app, branch = props["app_id"], props["branch_name"]
    created = amplify.create_deployment(appId=app, branchName=branch)
    job = created["jobId"]
    log(f"uploading the UI bundle ({len(data) / 1e6:.1f} MB) to Amplify {app}/{branch}, job {job}")
    upload = urllib.request.Request(created["zipUploadUrl"], data=data, method="PUT",
                                    headers={"Content-Type": "application/zip"})
    with urllib.request.urlopen(upload, timeout=600) as response:
        if response.status >= 300:
            raise DeploymentError(f"the upload to Amplify answered {response.status}")
    amplify.start_deployment(appId=app, branchName=branch, jobId=job)
    deadline = time.monotonic() + DEPLOY_TIMEOUT_SECONDS
    while True:
        status = amplify.get_job(appId=app, branchName=branch, jobId=job)["job"]["summary"]["status"]
        if status == "SUCCEED":
            return job
        if status in ("FAILED", "CANCELLED"):
            raise DeploymentError(f"Amplify job {job} of {app}/{branch} ended {status}; "
                                  "its log is in the Amplify console")
        if time.monotonic() > deadline:
            raise DeploymentError(f"Amplify job {job} still {status} after "
                                  f"{DEPLOY_TIMEOUT_SECONDS // 60} minutes")
        time.sleep(POLL_SECONDS)


class _Provider(dynamic.ResourceProvider):
    def create(self, props):
        job = deploy(props)
        return dynamic.CreateResult(id_=f"{props['app_id']}/{props['branch_name']}",
                                    outs={**props, "job_id": job})

    def diff(self, _id, olds, news):
        changed = [k for k in _COMPARED if olds.get(k) != news.get(k)]
        replaces = [k for k in ("app_id", "branch_name") if k in changed]
        return dynamic.DiffResult(changes=bool(changed), replaces=replaces,
                                  delete_before_replace=False)

    def update(self, _id, _olds, news):
        return dynamic.UpdateResult(outs={**news, "job_id": deploy(news)})

    def delete(self, _id, _props):
        pass  # the branch keeps serving its last deployment until the branch goes


def _by_value(*objects):
    """Have dill pickle these by value. dill copies the code of what lives in `__main__` and
    refers to everything else by module and name, which loads only where that module imports
    (pulumi's dynamic provider process, run from anywhere, and a state written before a move)."""
    for obj in objects:
        obj.__module__ = "__main__"
        for member in vars(obj).values() if isinstance(obj, type) else ():
            if inspect.isfunction(member):
                member.__module__ = "__main__"


_by_value(DeploymentError, _zip_with_config, deploy, _Provider)


class AmplifyDeployment(dynamic.Resource):
    job_id: pulumi.Output

    def __init__(self, name: str, *, app_id, branch_name, region: str, account_id: str,
                 zip_path: str, zip_sha256: str, config, opts: pulumi.ResourceOptions = None):
        super().__init__(_Provider(), name, {
            "app_id": app_id, "branch_name": branch_name, "region": region,
            "account_id": account_id, "zip_path": zip_path, "zip_sha256": zip_sha256,
            "config": config, "job_id": None,
        }, opts)
