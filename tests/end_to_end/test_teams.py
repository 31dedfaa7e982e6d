"""Teams as tenants, in the running sandbox with the real MLflow client: team-b, at any level,
on either channel, can neither see nor change team-a's work, by id or by search, in MLflow or
in S3; team-b's workspace, shared with team-a, is readable and not writable by team-a; a
platform admin sees all; no header a client sends moves it out of its workspace."""

import os
import uuid

import boto3
import mlflow
import pytest
import requests
from botocore.exceptions import ClientError
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request
from mlflow_landing_zone_client.provider import LandingZoneAuthProvider

from tests.browser import log_lines
from tests.sandbox_clients import assume_central, id_token, identity, role_of, team_of

TEAM_A, TEAM_B = "team-a", "team-b"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class TeamAWork:
    """What team-a's admin made in team-a's workspace, with the client its jobs use."""

    def __init__(self, sandbox, tmp_path):
        self.sandbox = sandbox
        with identity(sandbox, "admin", "client", team=TEAM_A) as c:
            self.exp_name = unique("team-a-secret")
            self.exp = c.create_experiment(self.exp_name, tags={"owner": "team-a"})
            self.run = c.create_run(self.exp, run_name="team-a-run").info.run_id
            c.log_metric(self.run, "loss", 0.5)
            c.log_param(self.run, "lr", "0.1")
            f = tmp_path / "MLmodel"
            f.write_text("approved bytes")
            c.log_artifact(self.run, str(f), artifact_path="model")
            self.artifact_uri = c.get_run(self.run).info.artifact_uri
            self.logged_model = c.create_logged_model(self.exp, name="team-a-lm").model_id
            self.model = unique("team-a-model")
            c.create_registered_model(self.model)
            c.create_model_version(self.model, f"runs:/{self.run}/model", run_id=self.run)
            # promoted by a second person (the team's model approver, in the browser)
            with identity(sandbox, "model-approver", "token", team=TEAM_A) as approver:
                approver.set_registered_model_alias(self.model, "champion", "1")
            mlflow.set_experiment(experiment_id=self.exp)
            self.prompt = unique("team-a-prompt")
            mlflow.genai.register_prompt(name=self.prompt, template="Answer {{question}}")

            @mlflow.trace(name="team-a-span")
            def answer(question):
                return question.upper()

            answer("secret")
            mlflow.flush_trace_async_logging()
            self.trace = mlflow.get_last_active_trace_id()
            mlflow.log_feedback(trace_id=self.trace, name="quality", value=True)
            self.dataset = mlflow.genai.datasets.create_dataset(
                name=unique("team-a-eval"), experiment_id=[self.exp]).dataset_id

    def unchanged(self):
        with identity(self.sandbox, "admin", "client", team=TEAM_A) as c:
            experiment = c.get_experiment(self.exp)
            assert (experiment.name, experiment.lifecycle_stage) == (self.exp_name, "active")
            assert experiment.tags.get("owner") == "team-a"
            run = c.get_run(self.run)
            assert run.info.lifecycle_stage == "active"
            assert set(run.data.tags) & {"stolen", "pwned"} == set()
            assert run.data.metrics == {"loss": 0.5}
            assert c.get_model_version_by_alias(self.model, "champion").version == "1"
            assert c.get_registered_model(self.model).tags.get("pwned") is None
            assert [t.info.trace_id for t in c.search_traces([self.exp])] == [self.trace]
            local = c.download_artifacts(self.run, "model/MLmodel")
            assert open(local).read() == "approved bytes"


@pytest.fixture(scope="module")
def work(sandbox, tmp_path_factory):
    return TeamAWork(sandbox, tmp_path_factory.mktemp("team-a"))


def found_experiment(c, w):
    return any(e.experiment_id == w.exp for e in c.search_experiments())


def found_by_name(c, w):
    return c.get_experiment_by_name(w.exp_name) is not None


def found_runs(c, w):
    return any(r.info.run_id == w.run for r in c.search_runs([w.exp]))


def found_models(c, w):
    return any(m.name == w.model for m in c.search_registered_models())


def found_prompts(c, w):
    return any(p.name == w.prompt for p in mlflow.genai.search_prompts())


def found_traces(c, w):
    # in team-a's experiment, named (not whatever experiment an earlier call left active)
    return len(mlflow.search_traces(experiment_ids=[w.exp],
                                    filter_string="span.name = 'team-a-span'",
                                    return_type="list")) > 0


def found_datasets(c, w):
    return any(d.dataset_id == w.dataset for d in mlflow.genai.datasets.search_datasets())


# Each one either raises (refused, or not found in the caller's workspace) or returns whether it
# reached team-a's work: it must never return True.
ATTEMPTS = {
    "get experiment": lambda c, w: c.get_experiment(w.exp) is not None,
    "get experiment by name": found_by_name,
    "search experiments": found_experiment,
    "rename experiment": lambda c, w: c.rename_experiment(w.exp, "stolen") or True,
    "tag experiment": lambda c, w: c.set_experiment_tag(w.exp, "owner", "team-b") or True,
    "delete experiment": lambda c, w: c.delete_experiment(w.exp) or True,
    "get run": lambda c, w: c.get_run(w.run) is not None,
    "search runs": found_runs,
    "log to run": lambda c, w: c.log_metric(w.run, "loss", 99.0) or True,
    "tag run": lambda c, w: c.set_tag(w.run, "stolen", "yes") or True,
    "delete run": lambda c, w: c.delete_run(w.run) or True,
    "metric history": lambda c, w: len(c.get_metric_history(w.run, "loss")) > 0,
    "get logged model": lambda c, w: c.get_logged_model(w.logged_model) is not None,
    "search logged models": lambda c, w: len(c.search_logged_models([w.exp])) > 0,
    "get registered model": lambda c, w: c.get_registered_model(w.model) is not None,
    "search registered models": found_models,
    "version by alias": lambda c, w: c.get_model_version_by_alias(w.model, "champion") is not None,
    "tag registered model": lambda c, w: c.set_registered_model_tag(w.model, "pwned", "1") or True,
    "move alias": lambda c, w: c.set_registered_model_alias(w.model, "champion", "1") or True,
    "load prompt": lambda c, w: mlflow.genai.load_prompt(f"prompts:/{w.prompt}/1") is not None,
    "search prompts": found_prompts,
    "get trace": lambda c, w: c.get_trace(w.trace) is not None,
    "search traces by span name": found_traces,
    "log assessment": lambda c, w: mlflow.log_feedback(trace_id=w.trace, name="q", value=False)
    is not None,
    "get evaluation dataset": lambda c, w: mlflow.genai.datasets.get_dataset(
        dataset_id=w.dataset) is not None,
    "search evaluation datasets": found_datasets,
    "download artifact": lambda c, w: c.download_artifacts(w.run, "model/MLmodel") is not None,
    "get-artifact through the server": lambda c, w: http_request(
        get_default_host_creds(os.environ["MLFLOW_TRACKING_URI"]), "/get-artifact", "GET",
        params={"path": "model/MLmodel", "run_uuid": w.run}).content == b"approved bytes",
}


def attempt(c, work, name):
    try:
        reached = ATTEMPTS[name](c, work)
    except Exception as e:  # refused at the edge, or RESOURCE_DOES_NOT_EXIST in its workspace
        return f"blocked: {type(e).__name__}"
    return "REACHED team-a's work" if reached else "nothing found"


@pytest.mark.parametrize("channel, level, username", [
    ("client", "reader", None), ("client", "contributor", None),
    ("token", "contributor", "team-b-user"),
    # a user of both teams, in team-b's workspace, where they are contributor
    ("token", "contributor", "two-teams-user")])
def test_team_b_can_neither_see_nor_change_team_as_work(sandbox, work, channel, level, username):
    outcomes = {}
    with identity(sandbox, level, channel, team=TEAM_B, username=username) as c:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        for name in ATTEMPTS:
            outcomes[name] = attempt(c, work, name)
    leaks = {name: outcome for name, outcome in outcomes.items() if "REACHED" in outcome}
    assert leaks == {}
    work.unchanged()


READS = ["get experiment", "get experiment by name", "search experiments", "get run",
         "search runs", "metric history", "get logged model", "search logged models",
         "get registered model", "search registered models", "version by alias", "load prompt",
         "search prompts", "get trace", "search traces by span name", "get evaluation dataset",
         "search evaluation datasets", "get-artifact through the server"]


@pytest.mark.parametrize("channel", ["client", "token"])
def test_the_same_attempts_reach_team_as_work_from_team_a(sandbox, work, channel):
    """The control: each read above does reach team-a's work from team-a's own reader, so a
    refusal to team-b is the boundary's doing, not a broken attempt. (Browsers download
    through the server; SDKs from S3, too.)"""
    reads = READS + (["download artifact"] if channel == "client" else [])
    with identity(sandbox, "reader", channel, team=TEAM_A) as c:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        outcomes = {name: attempt(c, work, name) for name in reads}
    assert outcomes == {name: "REACHED team-a's work" for name in reads}


def s3_as(sandbox, level, team):
    c = assume_central(sandbox, level, team)
    return boto3.client("s3", region_name="us-east-1", endpoint_url=sandbox["aws"]["endpoint_url"],
                        aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"])


def bucket_and_key(uri):
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


@pytest.mark.parametrize("level", ["reader", "contributor"])
def test_team_b_cannot_read_or_write_team_as_prefix_in_s3(sandbox, work, level):
    s3 = s3_as(sandbox, level, TEAM_B)
    bucket, prefix = bucket_and_key(work.artifact_uri)
    assert prefix.startswith("artifacts/workspaces/team-a/")
    assert team_of(sandbox, TEAM_A)["artifact_prefix"] == f"s3://{bucket}/artifacts/workspaces/team-a/"
    for call in (lambda: s3.get_object(Bucket=bucket, Key=f"{prefix}/model/MLmodel"),
                 lambda: s3.put_object(Bucket=bucket, Key=f"{prefix}/model/MLmodel", Body=b"x"),
                 lambda: s3.list_objects_v2(Bucket=bucket, Prefix="artifacts/workspaces/team-a/"),
                 lambda: s3.list_objects_v2(Bucket=bucket, Prefix="artifacts/"),
                 lambda: s3.put_object(Bucket=bucket, Key="artifacts/elsewhere", Body=b"x")):
        with pytest.raises(ClientError, match="AccessDenied"):
            call()
    # its own prefix works, at its level
    own = "artifacts/workspaces/team-b/"
    s3.list_objects_v2(Bucket=bucket, Prefix=own)
    if level == "contributor":
        s3.put_object(Bucket=bucket, Key=own + "scratch/ok.txt", Body=b"ok")
    work.unchanged()


def test_no_session_brings_a_team_tag_of_its_own(sandbox):
    """The access roles' shared policies name the caller's team by `aws:PrincipalTag/team`; a
    session tag would win over the role's tag, so the roles' trust refuses sts:TagSession:
    team-b's SageMaker role cannot assume its central role as team-a (as on AWS; moto would
    let it: sandbox/emulation.py judges trust as IAM does)."""
    role = role_of(sandbox, "contributor", TEAM_B)
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=sandbox["aws"]["endpoint_url"],
                       aws_access_key_id=role["credentials"]["AccessKeyId"],
                       aws_secret_access_key=role["credentials"]["SecretAccessKey"],
                       aws_session_token=role["credentials"]["SessionToken"])
    with pytest.raises(ClientError, match="AccessDenied"):
        sts.assume_role(RoleArn=role["central_role_arn"], RoleSessionName="as-team-a",
                        Tags=[{"Key": "team", "Value": TEAM_A}])
    # without tags, as the client assumes it: admitted
    assert sts.assume_role(RoleArn=role["central_role_arn"],
                           RoleSessionName="as-itself")["Credentials"]["AccessKeyId"]


def test_a_shared_workspace_is_readable_and_not_writable(sandbox, work, tmp_path):
    """team-b shares its workspace with team-a: team-a's contributor reads, never writes."""
    with identity(sandbox, "contributor", "client", team=TEAM_B) as c:
        shared_exp = c.create_experiment(unique("team-b-shared"))
        run = c.create_run(shared_exp).info.run_id
        f = tmp_path / "notes.txt"
        f.write_text("team-b's")
        c.log_artifact(run, str(f))
        artifact_uri = c.get_run(run).info.artifact_uri
    for channel, username in (("client", None), ("token", "contributor-user")):
        with identity(sandbox, "contributor", channel, team=TEAM_A, workspace=TEAM_B,
                      username=username) as c:
            assert c.get_experiment(shared_exp).experiment_id == shared_exp
            assert c.get_run(run).info.run_id == run
            for write in (lambda: c.create_experiment(unique("into-team-b")),
                          lambda: c.log_metric(run, "x", 1.0),
                          lambda: c.set_experiment_tag(shared_exp, "k", "v"),
                          lambda: c.delete_run(run)):
                with pytest.raises(Exception, match="PERMISSION_DENIED|403"):
                    write()
    s3 = s3_as(sandbox, "contributor", TEAM_A)
    bucket, prefix = bucket_and_key(artifact_uri)
    assert s3.get_object(Bucket=bucket, Key=f"{prefix}/notes.txt")["Body"].read() == b"team-b's"
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/notes.txt", Body=b"team-a's now")
    # and sharing is one way: team-b does not read team-a's workspace (the test above)


def test_a_platform_admin_sees_every_workspace(sandbox, work):
    for workspace in (TEAM_A, TEAM_B, "default"):
        with identity(sandbox, "admin", "token", workspace=workspace) as c:
            names = {e.name for e in c.search_experiments()}
            if workspace == TEAM_A:
                assert work.exp_name in names
            else:
                assert work.exp_name not in names
    # team roles, even team-a's admin, never reach MLflow's default workspace: there is no
    # /default resource, so the signed call lands on the browsers' route, whose authorizer
    # takes no SigV4 signature (401; the resource policy leaves browser paths to it)
    with identity(sandbox, "admin", "client", team=TEAM_A, workspace="default") as c:
        with pytest.raises(Exception, match="PERMISSION_DENIED|403|UNAUTHENTICATED: Unauthorized"):
            c.search_experiments()


# --- what a client claims -----------------------------------------------------------------------

FORGED = ["team-a", "default", "", "TEAM-A", "Team-A", "team-a/../team-b", "../team-a", "team-a/",
          "team-b,team-a"]


def raw_get(url, headers):
    """Headers sent exactly as given, repeated names included."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest("GET", parts.path + ("?" + parts.query if parts.query else ""))
        for k, v in headers:
            connection.putheader(k, v)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("forged", FORGED + ["two headers"])
def test_a_forged_workspace_header_never_moves_a_caller_out_of_its_workspace(sandbox, work,
                                                                            forged):
    """team-b's callers naming team-a's workspace, or MLflow's default, in every spelling."""
    values = ["team-b", "team-a"] if forged == "two headers" else [forged]
    path = f"/api/2.0/mlflow/experiments/get?experiment_id={work.exp}"
    # SigV4: the header reaches the integration, which overwrites it with the base path's team
    with identity(sandbox, "contributor", "client", team=TEAM_B):
        auth = LandingZoneAuthProvider().get_auth()
        request = requests.Request("GET", team_of(sandbox, TEAM_B)["tracking_uri"] + path,
                                   auth=auth).prepare()
        headers = list(request.headers.items()) + [("X-MLFLOW-WORKSPACE", v) for v in values]
        status, body = raw_get(request.url, headers)
        assert status == 404 and b"RESOURCE_DOES_NOT_EXIST" in body, (status, body[:200])
    # A token: the authorizer refuses a workspace the user holds no level in, or a header that
    # names none exactly; the one it accepts is the one MLflow gets
    token = id_token(sandbox, "team-b-user")
    status, body = raw_get(sandbox["gateway_url"] + "/ajax-api" + path.removeprefix("/api"),
                           [("Authorization", f"Bearer {token}")]
                           + [("X-MLFLOW-WORKSPACE", v) for v in values])
    assert status in (401, 403), (status, body[:200])


# --- what a SageMaker job of a team calls outside /api ------------------------------------------


def test_a_job_logs_a_trace_whose_spans_are_searchable_and_reaches_version(sandbox):
    """MLflow's span exporter calls `GET /version` and `POST /v1/traces` under the tracking URI:
    at the team's base URL both are SigV4 routes of the team's workspace."""
    span = unique("job-span")
    with identity(sandbox, "contributor", "client", team=TEAM_A):
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        mlflow.set_experiment(unique("traced-job"))

        @mlflow.trace(name=span)
        def step(x):
            return x * 2

        step(21)
        mlflow.flush_trace_async_logging()
        found = mlflow.search_traces(filter_string=f"span.name = '{span}'", return_type="list")
        assert len(found) == 1 and found[0].data.spans[0].name == span
        auth = LandingZoneAuthProvider().get_auth()
        version = requests.get(os.environ["MLFLOW_TRACKING_URI"] + "/version", auth=auth,
                               timeout=30)
        assert (version.status_code, version.text) == (200, mlflow.__version__)
    spans = [line for line in log_lines(sandbox, "access.log")
             if line["path"] == "/team-a/v1/traces" and line["status"] == 200]
    assert spans and spans[-1]["caller"].startswith(
        "arn:aws:sts::111111111111:assumed-role/mlflow-team-a-contributor/")


# --- a team's admin: everything in its workspace, nothing of the platform's ---------------------

PLATFORM_ROUTES = [("DELETE", "/api/3.0/mlflow/workspaces/team-b", None),
                   ("POST", "/api/3.0/mlflow/workspaces", {"name": "made-by-a-team"}),
                   ("PATCH", "/api/3.0/mlflow/workspaces/team-b", {"description": "ours now"}),
                   ("GET", "/api/2.0/mlflow/webhooks", None),
                   ("GET", "/api/3.0/mlflow/gateway/secrets/list", None)]


@pytest.mark.parametrize("channel, username", [("client", None), ("token", "team-admin-user")])
def test_a_teams_admin_deletes_in_its_workspace_but_never_reaches_the_platforms_routes(
        sandbox, channel, username):
    with identity(sandbox, "admin", channel, team=TEAM_A, username=username) as c:
        experiment = c.create_experiment(unique("team-admin"))
        c.delete_run(c.create_run(experiment).info.run_id)  # admin's delete, at home
        c.delete_experiment(experiment)
        creds = get_default_host_creds(os.environ["MLFLOW_TRACKING_URI"])
        for method, path, body in PLATFORM_ROUTES:
            response = http_request(creds, path, method, json=body)
            assert response.status_code == 403, (method, path, response.text[:200])
    # team-b's workspace is still there, as it was
    answer = requests.get(sandbox["mlflow_url"] + "/api/3.0/mlflow/workspaces/team-b", timeout=30)
    assert answer.status_code == 200 and answer.json()["workspace"].get("description") != "ours now"
    # while the platform's admin holds those routes (a GET is enough to show it)
    with identity(sandbox, "admin", "token") as c:
        creds = get_default_host_creds(os.environ["MLFLOW_TRACKING_URI"])
        assert http_request(creds, "/api/2.0/mlflow/webhooks", "GET").status_code == 200
