"""The real MLflow client against the running sandbox: every level, every channel, 30+ ops."""

import os
import re
import uuid

import pytest
import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.rest_utils import http_request
from mlflow.utils.credentials import get_default_host_creds

from tests.sandbox_clients import identity

ALL = {"reader", "contributor", "model-approver", "admin"}
WRITERS = {"contributor", "admin"}
REGISTER = {"contributor", "model-approver", "admin"}  # registering is tracking work
REGISTRY = {"model-approver", "admin"}  # promoting is approval
ADMIN = {"admin"}
# Server-wide configuration (roles.levels.PLATFORM_CAPABILITIES): the platform team's alone. On
# the token channel admin is `admin-user`, a platform admin; on SigV4 it is team-a's admin
# role, whose admin holds in team-a's workspace only and never reaches these.
PLATFORM = frozenset({"admin"})
# the edge's refusal as the client package words it, S3's, or API Gateway's own
DENIED = re.compile(r"PERMISSION_DENIED: Refused|403|not authorized|AccessDenied|Forbidden")
TWENTY_MB = 20 * 1024 * 1024


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Fixtures:
    """Objects created by an admin for the operations to act on."""

    def __init__(self, sandbox, tmp_path):
        self.sandbox, self.tmp = sandbox, tmp_path
        with identity(sandbox, "admin", "client") as c:
            self.exp = c.create_experiment(name("shared"))
            run = c.create_run(self.exp)
            self.run = run.info.run_id
            c.log_metric(self.run, "loss", 0.5, step=0)
            c.log_metric(self.run, "loss", 0.25, step=1)
            c.log_param(self.run, "lr", "0.1")
            f = tmp_path / "hello.txt"
            f.write_text("hello")
            c.log_artifact(self.run, str(f))
            self.model = name("model")
            c.create_registered_model(self.model)
            c.create_model_version(self.model, f"runs:/{self.run}/hello.txt", run_id=self.run)
        # promoted by someone else than who registered it (the team's second person)
        with identity(sandbox, "model-approver", "token") as c:
            c.set_registered_model_alias(self.model, "champion", "1")

    def admin(self):
        return identity(self.sandbox, "admin", "client")

    def fresh_run(self, deleted=False):
        with self.admin() as c:
            run_id = c.create_run(self.exp).info.run_id
            if deleted:
                c.delete_run(run_id)
        return run_id

    def fresh_model(self, with_version=True):
        model = name("m")
        with self.admin() as c:
            c.create_registered_model(model)
            if with_version:
                c.create_model_version(model, f"runs:/{self.run}/hello.txt", run_id=self.run)
        return model


def rest(path, method="GET", json=None, params=None):
    response = http_request(get_default_host_creds(os.environ["MLFLOW_TRACKING_URI"]), path, method, json=json, params=params)
    if response.status_code >= 400:
        raise RuntimeError(f"{response.status_code}: {response.text}")
    return response


def upload_20mb(c, fx):
    path = fx.tmp / f"{uuid.uuid4().hex}.bin"
    path.write_bytes(b"\x5a" * TWENTY_MB)
    c.log_artifact(fx.run, str(path), artifact_path="big")


def download(c, fx):
    out = fx.tmp / uuid.uuid4().hex
    out.mkdir()
    local = c.download_artifacts(fx.run, "hello.txt", str(out))
    assert open(local).read() == "hello"


def graphql(c, fx):
    r = rest("/graphql", "POST", json={"query": f'{{ mlflowGetRun(input: {{runId: "{fx.run}"}}) '
                                                '{ run { info { runId } } } }'})
    assert fx.run in r.text


def get_artifact(c, fx):
    r = rest("/get-artifact", params={"path": "hello.txt", "run_uuid": fx.run})
    assert r.content == b"hello"


OPERATIONS = [
    ("search experiments", ALL, lambda c, fx: c.search_experiments()),
    ("get experiment", ALL, lambda c, fx: c.get_experiment(fx.exp)),
    ("get experiment by name", ALL, lambda c, fx: c.get_experiment_by_name("Default")),
    ("create experiment", WRITERS, lambda c, fx: c.create_experiment(name("e"))),
    ("set experiment tag", WRITERS, lambda c, fx: c.set_experiment_tag(fx.exp, "k", "v")),
    ("create run", WRITERS, lambda c, fx: c.create_run(fx.exp)),
    ("log metric", WRITERS, lambda c, fx: c.log_metric(fx.run, "acc", 0.9)),
    ("log param", WRITERS, lambda c, fx: c.log_param(fx.run, name("p"), "1")),
    ("log batch", WRITERS, lambda c, fx: c.log_batch(
        fx.run, metrics=[Metric("m", 1.0, 0, 0)], params=[Param(name("b"), "x")],
        tags=[RunTag("t", "v")])),
    ("set run tag", WRITERS, lambda c, fx: c.set_tag(fx.run, "team", "a")),
    ("end run", WRITERS, lambda c, fx: c.set_terminated(fx.fresh_run())),
    ("delete run", WRITERS, lambda c, fx: c.delete_run(fx.fresh_run())),
    ("restore run", WRITERS, lambda c, fx: c.restore_run(fx.fresh_run(deleted=True))),
    ("get run", ALL, lambda c, fx: c.get_run(fx.run)),
    ("search runs", ALL, lambda c, fx: c.search_runs([fx.exp])),
    ("get metric history", ALL, lambda c, fx: c.get_metric_history(fx.run, "loss")),
    ("list artifacts through the server", ALL,
     lambda c, fx: rest("/api/2.0/mlflow/artifacts/list", params={"run_id": fx.run})),
    ("create logged model", WRITERS, lambda c, fx: c.create_logged_model(fx.exp, name="lm")),
    ("search logged models", ALL, lambda c, fx: c.search_logged_models([fx.exp])),
    ("create registered model", REGISTER, lambda c, fx: c.create_registered_model(name("r"))),
    ("create model version from a run", REGISTER, lambda c, fx: c.create_model_version(
        fx.model, f"runs:/{fx.run}/hello.txt", run_id=fx.run)),
    ("transition stage", REGISTRY, lambda c, fx: c.transition_model_version_stage(
        fx.model, "1", "Staging")),
    ("set alias", REGISTRY, lambda c, fx: c.set_registered_model_alias(fx.model, "prod", "1")),
    ("set registered model tag", REGISTER,
     lambda c, fx: c.set_registered_model_tag(fx.model, "owner", "team-a")),
    ("get registered model", ALL, lambda c, fx: c.get_registered_model(fx.model)),
    ("search registered models", ALL, lambda c, fx: c.search_registered_models()),
    ("get latest versions", ALL, lambda c, fx: c.get_latest_versions(fx.model)),
    ("get version by alias", ALL,
     lambda c, fx: c.get_model_version_by_alias(fx.model, "champion")),
    ("delete model version", ADMIN, lambda c, fx: c.delete_model_version(fx.fresh_model(), "1")),
    ("delete registered model", ADMIN,
     lambda c, fx: c.delete_registered_model(fx.fresh_model(with_version=False))),
    ("list AI-gateway secrets", PLATFORM,
     lambda c, fx: rest("/api/3.0/mlflow/gateway/secrets/list")),
    ("list webhooks", PLATFORM, lambda c, fx: rest("/api/2.0/mlflow/webhooks")),
]
# Artifact bytes travel to and from S3 directly, with the level's S3 rights (SigV4 channels).
S3_OPERATIONS = [
    ("log a 20 MB artifact", WRITERS, upload_20mb),
    ("download an artifact", ALL, download),
    ("list artifacts in S3", ALL, lambda c, fx: c.list_artifacts(fx.run)),
]
# Browser paths only: the UI's GraphQL and artifact download through the server.
BROWSER_OPERATIONS = [
    ("query /graphql", ALL, graphql),
    ("download with /get-artifact", ALL, get_artifact),
]
CHANNELS = {
    "client": OPERATIONS + S3_OPERATIONS,
    "builtin": OPERATIONS + S3_OPERATIONS,
    "token": OPERATIONS + BROWSER_OPERATIONS,
}


@pytest.fixture(scope="module")
def fx(sandbox, tmp_path_factory):
    return Fixtures(sandbox, tmp_path_factory.mktemp("ops"))


def test_the_table_is_large_enough():
    assert all(len(ops) >= 30 for ops in CHANNELS.values())


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("level", sorted(ALL))
def test_every_operation_is_allowed_or_denied_as_the_level_says(sandbox, fx, channel, level):
    wrong = []
    with identity(sandbox, level, channel) as c:
        for op_name, allowed_levels, op in CHANNELS[channel]:
            try:
                op(c, fx)
                outcome = "allowed"
            except Exception as e:  # the client's error for a refused call
                outcome = "denied" if DENIED.search(str(e)) else f"crashed: {e!r}"[:300]
            expected = "allowed" if level in allowed_levels else "denied"
            if allowed_levels is PLATFORM and channel != "token":
                expected = "denied"
            if outcome != expected:
                wrong.append((op_name, expected, outcome))
    assert wrong == []


def test_a_user_in_two_groups_gets_both_grants(sandbox, fx):
    with identity(sandbox, "contributor", "token", username="two-groups-user") as c:
        c.create_run(fx.exp)
        c.set_registered_model_alias(fx.model, "both", "1")  # the model approver's grant
        with pytest.raises(Exception, match=DENIED):
            c.delete_registered_model(fx.model)


def test_the_apis_root_sends_a_browser_to_the_ui(sandbox):
    """MLflow's client prints links on the API's address; its root redirects to the UI, with
    or without a token (the browser test follows one such link to the run)."""
    from tests.sandbox_clients import id_token
    token = id_token(sandbox, "reader-user")
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        page = requests.get(sandbox["gateway_url"] + "/", headers=headers, allow_redirects=False)
        assert (page.status_code, page.headers["Location"]) == (302, sandbox["ui_url"] + "/")
