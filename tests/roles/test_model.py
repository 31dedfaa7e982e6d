"""The model's decisions, route by route, against MLflow's own router."""

import itertools

import pytest

from roles import CATALOGUE, GRANTS, LEVELS, UNCLASSIFIED, allows, allows_any
from roles.mlflow_routes import resolve

from tests.route_samples import samples

CAPABILITY = {(r.method, r.path): r.capability for r in CATALOGUE}
SAMPLES = list(samples(CATALOGUE))


def expected_capability(route, path):
    # The capability of the handler MLflow would really run for this concrete path.
    resolved = resolve(route.method, path)
    return CAPABILITY[(route.method, resolved)] if resolved else route.capability


@pytest.mark.parametrize("level", LEVELS)
def test_every_catalogued_route_is_decided_by_its_capability(level):
    wrong = [
        (route.method, path, expected_capability(route, path))
        for route, path in SAMPLES
        if allows(level, route.method, path) != (expected_capability(route, path) in GRANTS[level])
    ]
    assert wrong == []


def test_samples_cover_every_route():
    assert {(r.method, r.path) for r, _ in SAMPLES} == set(CAPABILITY)
    assert len(SAMPLES) > 2 * len(CATALOGUE)


@pytest.mark.parametrize(
    "level, method, path, expected",
    [
        ("reader", "GET", "/api/2.0/mlflow/experiments/get", True),
        ("reader", "POST", "/api/2.0/mlflow/runs/search", True),
        ("reader", "POST", "/graphql", True),
        ("reader", "POST", "/api/2.0/mlflow/registered-models/get-latest-versions", True),
        ("reader", "POST", "/api/2.0/mlflow/runs/create", False),
        ("reader", "GET", "/api/3.0/mlflow/gateway/secrets/list", False),
        ("contributor", "POST", "/api/2.0/mlflow/runs/log-metric", True),
        ("contributor", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/a/model.pkl", True),
        ("contributor", "DELETE", "/api/2.0/mlflow-artifacts/artifacts/1/a/model.pkl", False),
        ("contributor", "POST", "/api/2.0/mlflow/registered-models/create", True),
        ("contributor", "POST", "/api/2.0/mlflow/model-versions/create", True),
        ("contributor", "POST", "/api/2.0/mlflow/registered-models/alias", False),
        ("contributor", "POST", "/api/2.0/mlflow/model-versions/transition-stage", False),
        ("contributor", "POST", "/api/2.0/mlflow/registered-models/rename", False),
        ("model-approver", "PATCH", "/api/2.0/mlflow/logged-models/m-1/tags", True),
        ("model-approver", "POST", "/api/2.0/mlflow/logged-models", False),
        ("contributor", "POST", "/gateway/proxy/chat/v1/chat", True),
        ("model-approver", "POST", "/api/2.0/mlflow/model-versions/transition-stage", True),
        ("model-approver", "POST", "/api/2.0/mlflow/registered-models/alias", True),
        ("model-approver", "POST", "/api/2.0/mlflow/runs/log-metric", False),
        ("model-approver", "DELETE", "/api/2.0/mlflow/registered-models/delete", False),
        ("admin", "DELETE", "/api/2.0/mlflow/registered-models/delete", True),
        ("admin", "GET", "/ajax-api/2.0/mlflow/webhooks", True),
        ("contributor", "POST", "/ajax-api/3.0/mlflow/assistant/message", False),
        ("admin", "POST", "/ajax-api/3.0/mlflow/assistant/message", True),
    ],
)
def test_decisions_a_reader_of_the_table_expects(level, method, path, expected):
    assert allows(level, method, path) is expected


@pytest.mark.parametrize("level", LEVELS[:-1])
def test_an_unknown_route_is_denied_to_all_but_admin(level):
    assert not allows(level, "GET", "/api/2.0/mlflow/brand-new-route")
    assert not allows(level, "POST", "/ajax-api/4.0/mlflow/anything")
    assert UNCLASSIFIED not in GRANTS[level]


def test_admin_holds_unclassified_routes():
    assert allows("admin", "GET", "/api/2.0/mlflow/brand-new-route")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    "path",
    [
        "/api/2.0/mlflow//experiments/get",
        "//api/2.0/mlflow/experiments/get",
        "/api/2.0/mlflow/./experiments/get",
        "/api/2.0/mlflow/x/../experiments/get",
        "/api/2.0/mlflow-artifacts/artifacts/a/..",
        "/api/2.0/mlflow-artifacts/artifacts/a%2F..%2Fb",
        "/api/2.0/mlflow-artifacts/artifacts/a%2e%2e/b",
        "/api/2.0/mlflow-artifacts/artifacts/a\\b",
    ],
)
def test_hostile_shapes_are_denied_to_every_level(level, path):
    method = "GET"
    assert not allows(level, method, path)


@pytest.mark.parametrize("bad", [None, "", "api/2.0/mlflow/runs/get", 7])
def test_malformed_paths_are_denied(bad):
    assert not allows("admin", "GET", bad)


def test_unknown_level_is_an_error_not_a_decision():
    with pytest.raises(ValueError, match="unknown access level 'owner'"):
        allows("owner", "GET", "/health")


def test_several_levels_get_the_union():
    for combo in itertools.combinations(LEVELS, 2):
        for route, path in SAMPLES[::7]:
            assert allows_any(combo, route.method, path) == any(
                allows(level, route.method, path) for level in combo
            ), (combo, route.method, path)



def test_whoever_writes_experiment_tags_may_spend_on_genai():
    """MLflow 3.18's scheduled issue detection runs judges on an experiment's traces at every
    occurrence (a standing spend), and its dispatcher picks a schedule up from the experiment's
    cadence tag alone: set-experiment-tag (write-tracking) arms it. The issues/schedule/state
    route only re-anchors the timing, so refusing it to a level would stop nothing; what keeps
    the spend with invoke-genai is that no level writes tracking data without it."""
    assert allows_any(["contributor"], "POST", "/api/2.0/mlflow/experiments/set-experiment-tag")
    for level in LEVELS:
        if "write-tracking" in GRANTS[level]:
            assert "invoke-genai" in GRANTS[level], level


# --- a level held in a team's workspace ------------------------------------------------------


def test_a_teams_admin_may_do_everything_in_its_workspace_but_the_platforms_routes():
    from roles.levels import PLATFORM_CAPABILITIES

    from tests.route_samples import samples

    checked = 0
    for route, path in samples(CATALOGUE):
        expected = route.capability not in PLATFORM_CAPABILITIES
        assert allows_any(("admin",), route.method, path, in_team=True) == expected, (
            route.method, path, route.capability)
        # every other level: as on the platform, since none holds a platform capability
        for level in LEVELS[:-1]:
            assert allows_any((level,), route.method, path, in_team=True) == allows(
                level, route.method, path)
        checked += 1
    assert checked > 500
    # Creating, changing or deleting a workspace is the platform's; listing them is reading.
    assert not allows_any(("admin",), "DELETE", "/api/3.0/mlflow/workspaces/team-b", in_team=True)
    assert not allows_any(("admin",), "POST", "/api/3.0/mlflow/workspaces", in_team=True)
    assert allows("admin", "DELETE", "/api/3.0/mlflow/workspaces/team-b")
    assert allows("reader", "GET", "/ajax-api/3.0/mlflow/workspaces")


def test_each_levels_s3_actions_follow_its_grant():
    """ARTIFACT_ACTIONS is derived from GRANTS: widening a level's grant widens its S3 rights
    with it, and nothing else does."""
    from roles.levels import ARTIFACT_ACTIONS, GRANTS, S3_ACTIONS_OF_CAPABILITY

    for level in LEVELS:
        for capability, actions in S3_ACTIONS_OF_CAPABILITY.items():
            assert set(actions) <= set(ARTIFACT_ACTIONS[level]) or capability not in GRANTS[level]
            assert not set(actions) & set(ARTIFACT_ACTIONS[level]) or capability in GRANTS[level]
    writes = {level for level in LEVELS if "s3:PutObject" in ARTIFACT_ACTIONS[level]}
    deletes = {level for level in LEVELS if "s3:DeleteObject" in ARTIFACT_ACTIONS[level]}
    assert (writes, deletes) == ({"contributor", "admin"}, {"admin"})
    assert ARTIFACT_ACTIONS["model-approver"] == ARTIFACT_ACTIONS["reader"]  # registers, reads
