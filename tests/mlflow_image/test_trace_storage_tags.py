"""MLflow 3.18 drops a client's trace storage tags silently; the plugin refuses them, with a 400
that says why (tracking.install), as its store did on 3.17.2 where they reached it."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.server import handlers, otel_api
from mlflow.utils.mlflow_tags import MLFLOW_ARTIFACT_LOCATION

from mlflow_landing_zone_server import tracking


@pytest.fixture(scope="module", autouse=True)
def installed():
    tracking.install()
    tracking.install()  # twice is once


def test_a_storage_tag_is_refused_not_dropped():
    for key in sorted(tracking.STORAGE_TAGS):
        with pytest.raises(MlflowException, match="only the tracking server sets it") as e:
            handlers._drop_blocked_trace_tags({key: "s3://elsewhere/x", "stage": "a"})
        assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_other_tags_pass_and_mlflows_other_blocked_tags_are_still_dropped():
    others = set(handlers._HANDLER_BLOCKED_TRACE_TAGS) - tracking.STORAGE_TAGS
    assert others  # the archival failure: MLflow's bookkeeping, dropped as MLflow does
    tags = {"stage": "a", **{key: "x" for key in others}}
    assert handlers._drop_blocked_trace_tags(tags) == {"stage": "a"}


def test_otlp_root_spans_keep_storage_attributes_for_the_stores_refusal():
    assert MLFLOW_ARTIFACT_LOCATION in handlers._HANDLER_BLOCKED_TRACE_TAGS
    assert not otel_api._HANDLER_BLOCKED_TRACE_TAGS & tracking.STORAGE_TAGS
    assert otel_api._HANDLER_BLOCKED_TRACE_TAGS == (
        handlers._HANDLER_BLOCKED_TRACE_TAGS - tracking.STORAGE_TAGS)
