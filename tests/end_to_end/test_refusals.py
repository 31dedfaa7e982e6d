"""Refusals a data scientist understands: every 403 names the level the call needs, the level
the caller holds, the team, and whom to ask; on both channels, for S3 and for traces."""

import json
import logging
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import boto3
import mlflow
import pytest
import requests
from botocore.exceptions import ClientError
from mlflow.exceptions import MlflowException
from mlflow.tracking.request_auth.registry import _request_auth_provider_registry

from mlflow_landing_zone_client import refusals as client_refusals
from spec import edge
from roles import CATALOGUE, refusals
from roles.globs import HOSTILE_GLOBS
from spec.stack_file import CENTRAL_FILE, read_stack

from tests.route_samples import samples
from tests.sandbox_clients import assume_central, id_token, identity

ROOT = Path(__file__).resolve().parents[2]
# whom the sandbox's refusals name: the central stack's platformContact, as the stage's
CONTACT_OF_THE_SANDBOX = read_stack(CENTRAL_FILE).platform_contact


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- the table: exact ----------------------------------------------------------------------------

def test_the_clients_table_is_current():
    assert refusals.CLIENT_TABLE_PATH.read_text() == refusals.render_table(), (
        "client/mlflow_landing_zone_client/refusal_table.json is stale: run "
        "`python -m roles.matrix`")
    assert client_refusals.table() == refusals.refusal_table()


REQUESTS = [(route.method, path) for route, path in samples(CATALOGUE)] + [
    ("GET", "/api/2.0/mlflow/not-a-route-yet"), ("DELETE", "/ajax-api/3.0/mlflow/future/x"),
    ("GET", "/api/2.0/mlflow/../secrets"), ("POST", "/ajax-api//2.0/mlflow/runs/create")]


def test_the_client_names_the_level_the_model_decides_for_every_route():
    mismatches = [(m, p) for m, p in REQUESTS
                  if client_refusals.needed_level(m, p) != refusals.needed_level(m, p)]
    assert mismatches == []
    assert refusals.needed_level("POST", "/api/2.0/mlflow/experiments/create") == "contributor"
    assert refusals.needed_level("GET", "/api/2.0/mlflow/experiments/get") == "reader"
    assert refusals.needed_level("POST", "/api/2.0/mlflow/registered-models/alias"
                                 ) == "model-approver"
    assert refusals.needed_level("DELETE", "/api/2.0/mlflow/model-versions/delete") == "admin"
    assert refusals.needed_level("POST", "/ajax-api/3.0/mlflow/workspaces") == refusals.PLATFORM
    assert refusals.needed_level("GET", "/api/2.0/mlflow/not-a-route-yet") == "admin"
    assert refusals.needed_level("GET", "/api/2.0/mlflow/../secrets") is None


def node():
    path = shutil.which("node")
    if path is None and os.environ.get("CI"):
        pytest.fail("node is not installed: CI must run the Node tests (docs/testing.md)")
    if path is None:
        pytest.skip("node is not installed")
    return path


@pytest.mark.node
def test_the_uis_messages_are_the_models(tmp_path):
    """ui/shell/refusals.js says what roles.refusals.browser_message says, under Node."""
    cases = [{"method": m, "path": p, "workspace": "team-a", "levels": levels,
              "contact": "the platform team"}
             for (m, p), levels in zip(REQUESTS[::7], [["reader"], ["contributor"],
                                                       ["model-approver"], ["admin"],
                                                       ["reader", "contributor"], []] * 999)]
    script = tmp_path / "run.js"
    script.write_text(
        "global.self = global;\n"
        + (ROOT / "ui" / "shell" / "refusals.js").read_text()
        + f"\nconst table = {refusals.render_table()};"
        + f"\nconst cases = {json.dumps(cases)};"
        + "\nconsole.log(JSON.stringify(cases.map((c) => self.LZRefusals.message(table, c))));")
    out = subprocess.run([node(), str(script)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [
        refusals.browser_message(c["method"], c["path"], c["workspace"], c["levels"],
                                 c["contact"]) for c in cases]


# --- the messages --------------------------------------------------------------------------------

ROLE = "arn:aws:sts::111111111111:assumed-role/mlflow-team-a-reader/job-1"


def test_a_refusal_for_a_channel_or_a_path_shape_says_so_not_a_level():
    """`/ajax-api` signed, or a `//` path, is refused whatever the level: the message names the
    channel or the shape, never a level the caller already holds (issue 29, item 6)."""
    admin = ROLE.replace("team-a-reader", "team-a-admin")
    for role, held in ((ROLE, "reader"), (admin, "admin")):
        browser = client_refusals.request_message(
            "GET", "/team-a/ajax-api/2.0/mlflow/runs/get", role, "x")
        assert browser == (
            "Refused: GET /ajax-api/2.0/mlflow/runs/get is the browser's spelling of MLflow's "
            "API, not a signed call's: the SDK calls /api/2.0/mlflow/runs/get instead; you act "
            f"as {held} in team-a (role mlflow-team-a-{held}).")
        shape = client_refusals.request_message("GET", "/team-a//api/2.0/mlflow/runs/get",
                                                role, "x")
        assert shape.startswith("Refused: GET //api/2.0/mlflow/runs/get is a path shape nobody "
                                "may call"), shape
        assert "needs the" not in browser + shape


def test_an_sdk_refusal_names_needed_level_held_level_team_and_whom_to_ask():
    text = client_refusals.request_message("POST", "/prod/team-a/api/2.0/mlflow/runs/create",
                                           ROLE, "the platform team")
    assert text == ("Refused: POST /api/2.0/mlflow/runs/create needs the contributor level in "
                    "team-a; you act as reader in team-a (role mlflow-team-a-reader). To be "
                    "granted contributor in team-a, ask the platform team.")
    other = client_refusals.request_message("GET", "/team-b/api/2.0/mlflow/runs/get", ROLE, "x")
    assert "outside team team-a's workspace" in other and "<apiUrl>/team-a" in other
    assert client_refusals.caller_of(
        "arn:aws:iam::1:role/mlflow-my-team-model-approver") == ("my-team", "model-approver")
    assert client_refusals.caller_of("arn:aws:sts::1:assumed-role/other/x") == (None, None)
    # a team account's SageMaker role (its session named after a level) is no central role
    assert client_refusals.caller_of("arn:aws:sts::2:assumed-role/mlflow-team-a-contributor-"
                                     "sagemaker/sagemaker-contributor") == (None, None)


def test_an_s3_refusal_says_which_level_writes_and_that_versions_are_frozen():
    write = client_refusals.s3_message(
        "PutObject", "b", "artifacts/workspaces/team-a/1/r/artifacts/x", ROLE, "the team")
    assert "needs the contributor level in team-a; you act as reader in team-a" in write
    frozen = client_refusals.s3_message(
        "PutObject", "b", "registry/workspaces/team-a/m/v1-x/MLmodel",
        ROLE.replace("reader", "contributor"), "the team")
    assert "frozen; only the tracking server writes them" in frozen
    other = client_refusals.s3_message("GetObject", "b", "artifacts/workspaces/team-b/1/x",
                                       ROLE, "the team")
    assert "in team team-b's workspace" in other


def test_the_edges_template_is_valid_json_whatever_the_caller(monkeypatch):
    template = edge.gateway_response_template("ACCESS_DENIED", "ops (#mlflow), ops@example.com")
    for variables in ({}, {"context.identity.userArn": ROLE},
                      {"context.authorizer.levels": "reader,contributor",
                       "context.authorizer.workspace": "team-a"}):
        body = edge.gateway_response_body("ACCESS_DENIED", "User is not authorized", variables,
                                          contact="ops (#mlflow), ops@example.com")
        assert body["error_code"] == "PERMISSION_DENIED"
        assert body["details"]["contact"] == "ops (#mlflow), ops@example.com"
        assert body["details"]["gateway"] == "User is not authorized"
        assert "ops (#mlflow), ops@example.com" in body["message"]
        assert json.loads(edge.render_gateway_response(template, "User is not authorized",
                                                       variables)) == body


@pytest.mark.parametrize("contact", ['say "hi"', "back\\slash", "$context.x", "", "x" * 201,
                                     "line\nbreak"])
def test_a_contact_that_would_break_the_gateways_template_is_refused(contact):
    with pytest.raises(ValueError, match="platformContact"):
        edge.check_contact(contact)


# --- through the sandbox: the SDK channel --------------------------------------------------------

def test_a_readers_sdk_call_is_refused_in_plain_words(sandbox):
    with identity(sandbox, "reader", "client") as c:
        with pytest.raises(MlflowException) as refused:
            c.create_experiment(unique("refused"))
    text = refused.value.message
    assert "needs the contributor level in team-a" in text
    assert "you act as reader in team-a (role mlflow-team-a-reader)" in text
    assert CONTACT_OF_THE_SANDBOX in text
    assert refused.value.error_code == "PERMISSION_DENIED"


def signed(method, path, **kwargs):
    """A request the SDK client's own auth signs, to the tracking URI of the identity in force
    (for a path MLflow's client has no call for)."""
    name = os.environ["MLFLOW_TRACKING_AUTH"]
    provider = next(p for p in _request_auth_provider_registry if p.get_name() == name)
    return requests.request(method, os.environ["MLFLOW_TRACKING_URI"] + path,
                            auth=provider.get_auth(), timeout=30, **kwargs)


@pytest.mark.parametrize("level", ["reader", "contributor", "admin"])
def test_the_browsers_spelling_signed_is_refused_alike_for_every_level(sandbox, level):
    """One rule for `/ajax-api` on the signed channel, whatever the level (issue 29, item 6):
    a team's admin is refused as a reader is (IAM's Deny in every level's policy, as API
    Gateway enforces it), and told the path to call instead; `/api` works for the same one."""
    with identity(sandbox, level, "client"):
        refused = signed("GET", "/ajax-api/2.0/mlflow/experiments/search",
                         params={"max_results": 1})
        served = signed("GET", "/api/2.0/mlflow/experiments/search", params={"max_results": 1})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error_code"] == "PERMISSION_DENIED"
    assert refused.json()["message"] == (
        "Refused: GET /ajax-api/2.0/mlflow/experiments/search is the browser's spelling of "
        "MLflow's API, not a signed call's: the SDK calls /api/2.0/mlflow/experiments/search "
        f"instead; you act as {level} in team-a (role mlflow-team-a-{level}).")
    assert served.status_code == 200, served.text


def test_a_contributors_promotion_is_refused_naming_the_approver_level(sandbox):
    name = unique("refused-alias")
    with identity(sandbox, "contributor", "client") as c:
        c.create_registered_model(name)
        with pytest.raises(MlflowException, match="needs the model-approver level in team-a; "
                                                  "you act as contributor in team-a"):
            c.set_registered_model_alias(name, "champion", "1")
        prompt = unique("refused-prompt")
        mlflow.genai.register_prompt(name=prompt, template="Summarise {{text}}")
        with pytest.raises(MlflowException, match="needs the model-approver level in team-a"):
            mlflow.genai.set_prompt_alias(prompt, "production", 1)


def test_s3_access_denied_reads_as_a_refusal(sandbox, tmp_path):
    with identity(sandbox, "contributor", "client") as c:
        experiment = c.create_experiment(unique("s3-refusal"))
        run = c.create_run(experiment).info.run_id
    (tmp_path / "notes.txt").write_text("a reader's notes")
    with identity(sandbox, "reader", "client") as c:
        c.get_run(run)  # the client's first call sets up its S3 credentials
        with pytest.raises(Exception) as refused:
            c.log_artifact(run, str(tmp_path / "notes.txt"))
    text = str(refused.value)
    assert "needs the contributor level in team-a; you act as reader in team-a" in text
    assert CONTACT_OF_THE_SANDBOX in text or client_refusals.DEFAULT_CONTACT in text


def test_a_refused_trace_is_an_error_in_plain_words_without_the_databricks_hint(sandbox,
                                                                                  caplog):
    with identity(sandbox, "contributor", "client") as c:
        experiment = c.create_experiment(unique("traces-refused"))
    with identity(sandbox, "reader", "client"), caplog.at_level(logging.WARNING):
        mlflow.set_experiment(experiment_id=experiment)

        @mlflow.trace
        def step(x):
            return x + 1

        step(1)
        mlflow.flush_trace_async_logging(terminate=False)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR
              and r.name.startswith("mlflow.tracing")]
    assert errors, [r.getMessage() for r in caplog.records]
    text = errors[0].getMessage()
    assert "needs the contributor level in team-a; you act as reader in team-a" in text
    assert "databricks" not in text.lower()


# --- through the sandbox: the token channel ------------------------------------------------------

def test_the_edge_tells_a_token_caller_its_levels_in_the_workspace(sandbox):
    import requests

    response = requests.post(
        f"{sandbox['gateway_url']}/ajax-api/2.0/mlflow/experiments/create",
        json={"name": unique("refused")}, timeout=30,
        headers={"Authorization": f"Bearer {id_token(sandbox, 'reader-user')}",
                 edge.WORKSPACE_HEADER: "team-a"})
    assert response.status_code == 403
    body = response.json()
    assert body["error_code"] == "PERMISSION_DENIED"
    assert (body["details"]["levels"], body["details"]["workspace"]) == ("reader", "team-a")
    assert body["details"]["contact"] == CONTACT_OF_THE_SANDBOX
    assert "[reader]" in body["message"] and CONTACT_OF_THE_SANDBOX in body["message"]


def test_the_edge_names_the_role_of_a_sigv4_caller(sandbox):
    c = assume_central(sandbox, "reader")
    session = boto3.Session(aws_access_key_id=c["AccessKeyId"],
                            aws_secret_access_key=c["SecretAccessKey"],
                            aws_session_token=c["SessionToken"], region_name="us-east-1")
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = f"{sandbox['gateway_url']}/team-a/api/2.0/mlflow/experiments/create"
    request = AWSRequest(method="POST", url=url, data=b'{"name": "x"}',
                         headers={"Content-Type": "application/json"})
    SigV4Auth(session.get_credentials().get_frozen_credentials(), "execute-api",
              "us-east-1").add_auth(request)
    response = requests.post(url, data=b'{"name": "x"}', headers=dict(request.headers),
                             timeout=30)
    assert response.status_code == 403
    body = response.json()
    assert ":assumed-role/mlflow-team-a-reader/" in body["details"]["caller_arn"]
    assert body["details"]["contact"] == CONTACT_OF_THE_SANDBOX


def test_refusals_keep_hostile_shapes_out_of_the_table():
    assert refusals.refusal_table()["hostile"] == list(HOSTILE_GLOBS)


def test_s3_refusals_name_the_registry_for_a_contributor(sandbox):
    """A contributor's write under registry/ (as the client package's session makes it)."""
    with identity(sandbox, "contributor", "client") as c:
        c.search_experiments(max_results=1)  # sets up the client's S3 credentials
        s3 = boto3.client("s3", endpoint_url=sandbox["aws"]["endpoint_url"])
        bucket = sandbox["teams"][0]["registry_prefix"].removeprefix("s3://").split("/")[0]
        with pytest.raises(ClientError, match="frozen; only the tracking server writes them"):
            s3.put_object(Bucket=bucket, Key="registry/workspaces/team-a/m/v1-x/MLmodel",
                          Body=b"x")


def test_the_client_reads_the_team_and_level_of_the_roles_the_stacks_name():
    """The client package imports nothing of this repo (its names come from its generated
    _spec.py): it reads a caller's team and level back from every access role's name."""
    from spec.accounts import access_role_name

    for level in refusals.refusal_table()["levels"]:
        arn = f"arn:aws:iam::1:role/{access_role_name('my-team', level)}"
        assert client_refusals.caller_of(arn) == ("my-team", level)
