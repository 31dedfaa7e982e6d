"""The registry's rules as people use them, with the real MLflow client through the sandbox:
registering (models and prompts) is tracking work; promoting is approval."""

import os
import time
import uuid

import mlflow
import pytest

from tests.browser import log_lines
from tests.sandbox_clients import identity

DENIED = "PERMISSION_DENIED|403|not authorized"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def logged(sandbox, tmp_path_factory):
    """A contributor's run with model files, and a logged model, in team-a's workspace."""
    folder = tmp_path_factory.mktemp("model")
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    with identity(sandbox, "contributor", "client") as c:
        experiment = c.create_experiment(unique("registry"))
        run = c.create_run(experiment).info.run_id
        c.log_artifact(run, str(folder / "MLmodel"), artifact_path="model")
        model_id = c.create_logged_model(experiment, name="candidate", source_run_id=run).model_id
    return {"experiment": experiment, "run": run, "model_id": model_id}


@pytest.mark.parametrize("channel", ["client", "token"])
def test_a_contributor_registers_models_versions_and_prompts_but_promotes_nothing(
        sandbox, logged, channel):
    name = unique("contrib-model")
    with identity(sandbox, "contributor", channel) as c:
        c.create_registered_model(name, description="what it predicts")
        version = c.create_model_version(name, f"runs:/{logged['run']}/model",
                                         run_id=logged["run"])
        c.set_registered_model_tag(name, "owner", "team-a")
        c.set_model_version_tag(name, version.version, "dataset", "v3")
        c.update_model_version(name, version.version, description="first try")
        prompt = unique("contrib-prompt")
        mlflow.genai.register_prompt(name=prompt, template="Summarise {{text}}")
        mlflow.set_experiment(experiment_id=logged["experiment"])
        loaded = mlflow.genai.load_prompt(f"prompts:/{prompt}/1")
        assert loaded.template == "Summarise {{text}}"
        # load_prompt links the prompt to the active experiment in the background
        deadline = time.monotonic() + 20
        while f",{logged['experiment']}," not in (
                c.get_prompt(prompt).tags.get("_mlflow_experiment_ids", "")):
            assert time.monotonic() < deadline, "the prompt was not linked to the experiment"
            time.sleep(0.2)
        for promote in (lambda: c.set_registered_model_alias(name, "champion", version.version),
                        lambda: c.transition_model_version_stage(name, version.version,
                                                                 "Production"),
                        lambda: c.rename_registered_model(name, name + "-renamed"),
                        lambda: mlflow.genai.set_prompt_alias(prompt, "production", 1)):
            with pytest.raises(Exception, match=DENIED):
                promote()
        assert c.get_registered_model(name).aliases == {}


# Another approver than the one who registered: the builtin SigV4 channel's session
# (`test-model-approver`), or another browser user holding the model-approver level.
SECOND_APPROVER = {"client": dict(level="model-approver", channel="builtin"),
                   "token": dict(level="model-approver", channel="token",
                                 username="two-groups-user")}


@pytest.mark.parametrize("channel", ["client", "token"])
def test_a_model_approver_registers_with_the_standard_call_and_promotes(sandbox, logged,
                                                                         channel):
    """`mlflow.register_model` of a logged model ends with a PATCH of its tags: it must
    succeed, and the approver still may not log to runs. Promoting takes a second approver."""
    name = unique("approved-model")
    before = len(log_lines(sandbox, "access.log"))
    with identity(sandbox, "model-approver", channel) as c:
        version = mlflow.register_model(f"models:/{logged['model_id']}", name)
        assert version.version == "1"
        with pytest.raises(Exception, match="who cannot also promote it"):
            c.set_registered_model_alias(name, "champion", "1")
    with identity(sandbox, **SECOND_APPROVER[channel]) as second:
        second.set_registered_model_alias(name, "champion", "1")
        assert second.get_model_version_by_alias(name, "champion").version == "1"
        second.transition_model_version_stage(name, "1", "Staging")
    with identity(sandbox, "model-approver", channel) as c:
        # the client's last request of register_model, allowed at the edge
        base = "/team-a/api" if channel == "client" else "/ajax-api"
        patched = [line for line in log_lines(sandbox, "access.log")[before:]
                   if line["method"] == "PATCH" and line["path"] ==
                   f"{base}/2.0/mlflow/logged-models/{logged['model_id']}/tags"]
        assert [line["status"] for line in patched] == [200]
        if channel == "client":
            assert "/mlflow-team-a-model-approver/" in patched[0]["caller"]
        else:
            assert patched[0]["user"] == "model-approver-user"
        for write in (lambda: c.log_metric(logged["run"], "loss", 1.0),
                      lambda: c.create_run(logged["experiment"]),
                      lambda: c.create_experiment(unique("approver-exp"))):
            with pytest.raises(Exception, match=DENIED):
                write()
    assert os.environ.get("MLFLOW_TRACKING_AUTH") is None  # identity() left no trace
