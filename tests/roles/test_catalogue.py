"""The catalogue names exactly the routes of the installed MLflow, each once."""

from collections import Counter

import mlflow
import pytest

from roles import CAPABILITIES, CATALOGUE, UNCLASSIFIED
from roles.mlflow_routes import installed_routes


def test_mlflow_is_the_pinned_version():
    # The catalogue is exact for the release requirements.txt pins (the tests below compare it
    # with the installed MLflow's routes); the image installs that pin too.
    from ui.build import pinned_mlflow_version

    assert mlflow.__version__ == pinned_mlflow_version()


def test_every_mlflow_route_is_classified():
    catalogued = {(r.method, r.path) for r in CATALOGUE}
    unclassified = sorted(installed_routes() - catalogued)
    assert not unclassified, "routes of MLflow missing from roles/catalogue.py:\n" + "\n".join(
        f"  {m} {p}" for m, p in unclassified
    )


def test_catalogue_names_no_route_mlflow_lacks():
    stale = sorted({(r.method, r.path) for r in CATALOGUE} - installed_routes())
    assert not stale, "routes in roles/catalogue.py that MLflow no longer has:\n" + "\n".join(
        f"  {m} {p}" for m, p in stale
    )


def test_each_route_has_exactly_one_capability():
    counts = Counter((r.method, r.path) for r in CATALOGUE)
    assert [k for k, n in counts.items() if n > 1] == []


def test_capabilities_are_known_and_used():
    used = {r.capability for r in CATALOGUE}
    assert used <= set(CAPABILITIES)
    assert set(CAPABILITIES) - used == {UNCLASSIFIED}


@pytest.mark.parametrize("prefix", ["/api/", "/ajax-api/"])
def test_both_forms_are_covered(prefix):
    assert any(r.path.startswith(prefix) for r in CATALOGUE)


def test_the_fastapi_routes_are_in_the_catalogue():
    # The routes `mlflow server` adds outside Flask, named in the product brief.
    paths = {r.path for r in CATALOGUE}
    for path in [
        "/v1/traces",
        "/gateway/{endpoint_name}/mlflow/invocations",
        "/api/3.0/mlflow/mcp-servers/{name:path}",
        "/ajax-api/3.0/mlflow/assistant/skills/install",
        "/api/3.0/mlflow/server-info",
        "/api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}",
    ]:
        assert path in paths
