"""MLflow 3.18's additions attacked through the gateway, on both channels: the skill registry
(admin publishes, every level reads, one team's skills are invisible to another), the issue
schedule's state (invoke-genai, browser path), and a trace's storage tags on every path a client
has (refused with a 400 by the plugin where MLflow 3.18 would drop them, or by MLflow itself).

test_sandbox_operations proves the everyday operations level by level; here: the spellings of a
path (percent-encoded letters, `@` and `/`, case, trailing slashes, dot segments), the bodies
(uploads, sources, OTLP JSON and protobuf, gzip and deflate), and the other team."""

import gzip
import http.client
import io
import json
import os
import time
import uuid
import zipfile
import zlib

import pytest
import requests
from mlflow.tracking.request_auth.registry import _request_auth_provider_registry

from tests.sandbox_clients import audit_lines, id_token, identity

CHANNELS = ["client", "token"]
BELOW_ADMIN = ["reader", "contributor", "model-approver"]
SKILLS = "/api/3.0/mlflow/skills"  # the token channel's auth spells it /ajax-api/...
GIT = "https://github.com/example/skills.git"
STORAGE_TAGS = ("mlflow.artifactLocation", "mlflow.trace.spansLocation",
                "mlflow.trace.archiveLocation")
SERVERS_ONLY = "only the tracking server sets it"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def raw(method, path, **kwargs):
    """A request the identity in force signs (SigV4) or carries (its token, on the browser's
    /ajax-api spelling), to its tracking URI."""
    name = os.environ["MLFLOW_TRACKING_AUTH"]
    provider = next(p for p in _request_auth_provider_registry if p.get_name() == name)
    return requests.request(method, os.environ["MLFLOW_TRACKING_URI"] + path,
                            auth=provider.get_auth(), timeout=30, **kwargs)


def team_b(sandbox, channel, level="contributor"):
    return identity(sandbox, level, channel, team="team-b", username="team-b-user",
                    workspace="team-b")


def make_skill(sandbox, name):
    """A team-a skill as its admin publishes it: a version from git, an alias, tags; and the
    same name under the organization `acme`, with a version and an alias."""
    with identity(sandbox, "admin", "client"):
        for method, path, body in [
                ("POST", SKILLS, {"name": name, "description": "team-a's"}),
                ("POST", f"{SKILLS}/{name}/versions", {"source": GIT, "ref": "main"}),
                ("POST", f"{SKILLS}/{name}/tags", {"key": "k", "value": "team-a"}),
                ("POST", f"{SKILLS}/{name}/versions/1/tags", {"key": "k", "value": "team-a"}),
                ("POST", f"{SKILLS}/{name}/aliases", {"alias": "prod", "version": 1}),
                ("POST", SKILLS, {"name": name, "organization": "acme"}),
                ("POST", f"{SKILLS}/@acme/{name}/versions", {"source": GIT}),
                ("POST", f"{SKILLS}/@acme/{name}/aliases", {"alias": "prod", "version": 1})]:
            response = raw(method, path, json=body)
            assert response.status_code == 200, (path, response.text)
    return name


def skill_state(sandbox, name):
    """What team-a's admin reads of the skill and its `@acme` twin: everything a write changes."""
    with identity(sandbox, "admin", "client"):
        state = {}
        for prefix in (f"{SKILLS}/{name}", f"{SKILLS}/@acme/{name}"):
            skill = raw("GET", prefix)
            versions = raw("GET", f"{prefix}/versions")
            assert skill.status_code == versions.status_code == 200, (skill.text, versions.text)
            body = skill.json()
            state[prefix] = (body["description"], body["tags"], body["aliases"],
                             [(v["version"], v["status"], v["source"], v["tags"])
                              for v in versions.json()["skill_versions"]])
    return state


@pytest.fixture(scope="module")
def skill(sandbox):
    return make_skill(sandbox, unique("skill"))


# Every write of the skill registry, in the spellings a caller might try to slip past the edge:
# the templates (plain and `@organization`), a percent-encoded letter, `@` and `/`, other case,
# a trailing slash. `{n}` is the skill's name.
WRITES = [
    ("POST", SKILLS, {"name": "{n}-new"}),
    ("POST", SKILLS + "/", {"name": "{n}-new"}),
    ("POST", "/api/3.0/mlflow/%73kills", {"name": "{n}-new"}),
    ("POST", "/api/3.0/mlflow/Skills", {"name": "{n}-new"}),
    ("POST", "/api/3.0/mlflow%2Fskills", {"name": "{n}-new"}),
    ("POST", SKILLS + "/bulk-register",
     {"skills": [{"name": "{n}-bulk", "source": GIT, "digest": "a" * 64}]}),
    ("PATCH", SKILLS + "/{n}", {"description": "changed"}),
    ("PATCH", SKILLS + "/{n}/", {"description": "changed"}),
    ("PATCH", SKILLS + "/@acme/{n}", {"description": "changed"}),
    ("PATCH", SKILLS + "/%40acme/{n}", {"description": "changed"}),
    ("PATCH", SKILLS + "/%40acme%2F{n}", {"description": "changed"}),
    ("POST", SKILLS + "/{n}/versions", {"source": "https://evil.example/skills.git"}),
    ("POST", SKILLS + "/@acme/{n}/versions", {"source": "https://evil.example/skills.git"}),
    ("PATCH", SKILLS + "/{n}/versions/1", {"status": "deprecated"}),
    ("PATCH", SKILLS + "/@acme/{n}/versions/1", {"status": "deprecated"}),
    ("POST", SKILLS + "/{n}/tags", {"key": "k", "value": "changed"}),
    ("POST", SKILLS + "/{n}/%74ags", {"key": "k", "value": "changed"}),
    ("POST", SKILLS + "/@acme/{n}/tags", {"key": "k", "value": "changed"}),
    ("POST", SKILLS + "/{n}/versions/1/tags", {"key": "k", "value": "changed"}),
    ("POST", SKILLS + "/{n}/aliases", {"alias": "prod", "version": 1}),
    ("POST", SKILLS + "/@acme/{n}/aliases", {"alias": "other", "version": 1}),
    ("DELETE", SKILLS + "/{n}/tags/k", None),
    ("DELETE", SKILLS + "/{n}/versions/1/tags/k", None),
    ("DELETE", SKILLS + "/{n}/aliases/prod", None),
    ("DELETE", SKILLS + "/@acme/{n}/aliases/prod", None),
    ("DELETE", SKILLS + "/%40acme/{n}/aliases/prod", None),
    ("DELETE", SKILLS + "/{n}/versions/1", None),
    ("DELETE", SKILLS + "/@acme/{n}/versions/1", None),
    ("DELETE", SKILLS + "/@acme/{n}", None),
    ("DELETE", SKILLS + "/{n}/", None),
    ("DELETE", SKILLS + "/{n}", None),
]
# Reads: every level's, in the team's workspace.
READS = [SKILLS, SKILLS + "?filter_string=name%3D%27{n}%27", SKILLS + "/{n}",
         SKILLS + "/{n}/versions", SKILLS + "/{n}/versions/1", SKILLS + "/{n}/aliases/prod",
         SKILLS + "/@acme/{n}", SKILLS + "/@acme/{n}/versions",
         SKILLS + "/@acme/{n}/versions/1", SKILLS + "/@acme/{n}/aliases/prod"]


def fill(template, name):
    return json.loads(json.dumps(template).replace("{n}", name))


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("level", BELOW_ADMIN)
def test_no_level_below_admin_changes_a_skill_in_any_spelling(sandbox, skill, level, channel):
    before = skill_state(sandbox, skill)
    with identity(sandbox, level, channel):
        passed = [(m, p, r.status_code) for m, p, body in WRITES
                  if (r := raw(m, fill(p, skill), json=fill(body, skill))).status_code != 403]
        read = [(p, r.status_code) for p in READS
                if (r := raw("GET", fill(p, skill))).status_code != 200]
    assert passed == []
    assert read == []
    assert skill_state(sandbox, skill) == before


@pytest.mark.parametrize("channel, username", [("client", None), ("token", None),
                                               ("token", "team-admin-user")])
def test_the_teams_admin_publishes_changes_and_deletes_skills(sandbox, channel, username):
    """The same writes as team-a's admin (its role; the platform's admin and the team's on the
    browser path): publishing is no platform capability, the team's admin holds it in its
    workspace. Every template works, and the deletes leave nothing."""
    name = make_skill(sandbox, unique("admins"))
    with identity(sandbox, "admin", channel, username=username):
        answers = {(m, p): raw(m, fill(p, name), json=fill(body, name)).status_code
                   for m, p, body in WRITES}
        left = [raw("GET", f"{SKILLS}/{name}").status_code,
                raw("GET", f"{SKILLS}/@acme/{name}").status_code]
    # A percent-encoded slash is a path shape nobody may call (the edge's 403, whatever the
    # level). Encoded letters and `@` reach the same handler as the plain spelling (the
    # second create of a name already exists; the alias was deleted by the line before); case
    # and trailing slashes reach no handler.
    assert {k: v for k, v in answers.items() if v != 200} == {
        ("POST", SKILLS + "/"): 404,
        ("POST", "/api/3.0/mlflow/%73kills"): 400,
        ("POST", "/api/3.0/mlflow/Skills"): 404,
        ("POST", "/api/3.0/mlflow%2Fskills"): 403,
        ("PATCH", SKILLS + "/{n}/"): 404,
        ("PATCH", SKILLS + "/%40acme%2F{n}"): 403,
        ("DELETE", SKILLS + "/%40acme/{n}/aliases/prod"): 404,
        ("DELETE", SKILLS + "/{n}/"): 404}
    assert left == [404, 404]


@pytest.mark.parametrize("channel", CHANNELS)
def test_deleting_a_skill_or_its_version_is_an_audit_line_naming_who_and_what(sandbox, channel):
    """As deleting a registered model or version (test_approved_bytes.py): the workspace, the
    skill, each deleted version's recorded source and aliases, and the caller's identity."""
    name = make_skill(sandbox, unique("audited"))
    with identity(sandbox, "admin", channel):
        for ref in ("v2", "v3"):
            assert raw("POST", f"{SKILLS}/{name}/versions",
                       json={"source": GIT, "ref": ref}).status_code == 200
        # MLflow deletes a deprecated or draft version: by DELETE, or by its status (PATCH)
        for version, status in ((2, "deprecated"), (3, "draft")):
            response = raw("PATCH", f"{SKILLS}/{name}/versions/{version}",
                           json={"status": status})
            assert response.status_code == 200, response.text
        response = raw("DELETE", f"{SKILLS}/{name}/versions/2")
        assert response.status_code == 200, response.text
        response = raw("PATCH", f"{SKILLS}/{name}/versions/3", json={"status": "deleted"})
        assert response.status_code == 200, response.text
        assert raw("DELETE", f"{SKILLS}/{name}").status_code == 200
    *version_lines, = audit_lines(sandbox, name, kind="skill_version_deleted")
    assert len(version_lines) == 2
    version_line, patched_line = sorted(version_lines,
                                        key=lambda line: line["versions"][0]["version"])
    skill_line, = audit_lines(sandbox, name, kind="skill_deleted")
    assert [(v["version"], v["status"]) for v in patched_line["versions"]] == [(3, "draft")]
    for line in (version_line, patched_line, skill_line):
        assert (line["workspace"], line["name"], line["organization"]) == ("team-a", name, "")
        caller = line["caller"]
        if channel == "client":  # the role's session names team and level
            assert ":assumed-role/mlflow-team-a-admin/" in caller["X-MLflow-Caller-Arn"]
            assert caller["X-MLflow-User"] == "-"
        else:
            assert (caller["X-MLflow-Caller-Arn"], caller["X-MLflow-User"]) == ("-", "admin-user")
    assert [(v["version"], v["aliases"], v["status"]) for v in version_line["versions"]] == [
        (2, [], "deprecated")]
    assert GIT in json.dumps(version_line["versions"][0]["source"])
    # the skill's delete lists the version left, with the alias that named it
    assert [(v["version"], v["aliases"]) for v in skill_line["versions"]] == [(1, ["prod"])]
    # the `@acme` skill of the same name is another skill: still there, and no line names it
    assert not [line for line in audit_lines(sandbox, name, wait=0)
                if line.get("organization") == "acme"]


@pytest.mark.parametrize("channel", CHANNELS)
def test_dot_segments_and_encodings_reach_no_skill_write_below_admin(sandbox, skill, channel):
    """Paths that another route's grant might cover, naming the skills' once normalised or
    decoded, sent as written (http.client normalises nothing). The token channel sends its
    /ajax-api spelling, SigV4 its /api one; a signed path with dot segments is signed as the
    client library normalises it, so the SigV4 channel sends the encoded forms."""
    before = skill_state(sandbox, skill)
    host = sandbox["gateway_url"].removeprefix("http://")
    body = json.dumps({"name": f"{skill}-dots"})
    paths = ["/ajax-api/3.0/mlflow/runs/../skills", "/ajax-api/3.0/mlflow/traces/../skills",
             "/ajax-api/3.0/mlflow/issues/schedule/../../skills",
             "/ajax-api/3.0/mlflow/datasets/x/records/../../../skills",
             "/ajax-api/3.0/mlflow/traces/%2e%2e/skills",
             f"/ajax-api/3.0/mlflow/mcp-servers/x/..%2F..%2Fskills%2F{skill}/tags",
             f"/ajax-api/3.0/mlflow/skills/./{skill}/tags"]
    answers = []
    for level in ("contributor", "model-approver"):
        if channel == "token":
            token = id_token(sandbox, f"{level}-user")
            for path in paths:
                connection = http.client.HTTPConnection(host, timeout=30)
                connection.request("POST", path, body=body, headers={
                    "Authorization": f"Bearer {token}", "X-MLFLOW-WORKSPACE": "team-a",
                    "Content-Type": "application/json"})
                answers.append((level, path, connection.getresponse().status))
                connection.close()
        else:
            with identity(sandbox, level, "client"):
                for path in paths:
                    path = path.replace("/ajax-api/", "/api/").replace("/../", "/%2e%2e/")
                    answers.append((level, path, raw("POST", path, data=body, headers={
                        "Content-Type": "application/json"}).status_code))
    assert [a for a in answers if a[2] != 403] == []
    assert skill_state(sandbox, skill) == before


@pytest.mark.parametrize("channel", CHANNELS)
def test_team_b_neither_sees_nor_changes_team_as_skills(sandbox, skill, channel):
    """team-a does not share its workspace with team-b: no search, filter or identity list
    shows team-a's skill there, no read by name finds it, no write reaches it; neither does
    team-a's own admin by naming team-b's workspace (its level holds in team-a alone)."""
    before = skill_state(sandbox, skill)
    seen, found, changed = [], [], []
    with team_b(sandbox, channel):
        for query in ("", f"?filter_string=name%3D%27{skill}%27",
                      f"?include_skill_identities={skill}&include_skill_identities=@acme/{skill}",
                      "?filter_string=description%20LIKE%20%27team-a%25%27"):
            response = raw("GET", SKILLS + query)
            assert response.status_code == 200, response.text
            seen += [s["name"] for s in response.json()["skills"] if s["name"] == skill]
        for path in READS[2:]:
            response = raw("GET", fill(path, skill))
            listed = path.endswith("/versions") and response.json() == {
                "skill_versions": [], "next_page_token": None}
            if not (response.status_code == 404 or listed):
                found.append((path, response.status_code, response.text[:100]))
        changed += [(m, p, r.status_code) for m, p, body in WRITES
                    if (r := raw(m, fill(p, skill), json=fill(body, skill))).status_code != 403]
    admin = (identity(sandbox, "admin", "client", workspace="team-b") if channel == "client"
             else identity(sandbox, "admin", "token", username="team-admin-user",
                           workspace="team-b"))
    with admin:
        changed += [("team-a's admin", m, p, r.status_code) for m, p, body in WRITES
                    if (r := raw(m, fill(p, skill), json=fill(body, skill))).status_code != 403]
    # team-b's callers naming team-a's workspace (its base URL; the browser's header) are
    # refused at the edge, reads too
    with identity(sandbox, "contributor", channel, team="team-b", username="team-b-user",
                  workspace="team-a"):
        found += [(p, r.status_code) for p in READS
                  if (r := raw("GET", fill(p, skill))).status_code != 403]
        changed += [("in team-a", m, p, r.status_code) for m, p, body in WRITES
                    if (r := raw(m, fill(p, skill), json=fill(body, skill))).status_code != 403]
    assert (seen, found, changed) == ([], [], [])
    assert skill_state(sandbox, skill) == before


def _skill_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SKILL.md", "---\nname: uploaded\ndescription: x\n---\nrun me")
    return buffer.getvalue()


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_upload_is_refused_and_a_source_is_recorded_as_named_never_fetched(sandbox, channel):
    """The server keeps no skill content (no --serve-artifacts): an upload is refused and
    stores nothing; a source inside MLflow, S3 or the server's own file system is refused; a
    git, OCI or zip location is recorded exactly as named (the server fetches nothing)."""
    name = unique("sources")
    with identity(sandbox, "admin", channel):
        assert raw("POST", SKILLS, json={"name": name}).status_code == 200
        upload = raw("POST", f"{SKILLS}/{name}/versions", files={
            "metadata": (None, "{}", "application/json"),
            "content": ("skill.zip", _skill_zip(), "application/zip")})
        refused = {source: raw("POST", f"{SKILLS}/{name}/versions",
                               json={"source": source}).status_code
                   for source in ("mlflow-artifacts:/workspaces/team-b/x",
                                  "s3://mlflow-artifacts/artifacts/workspaces/team-b/x.zip",
                                  "file:///etc/passwd", "/etc", "runs:/abc/skill")}
        versions_after_refusals = raw("GET", f"{SKILLS}/{name}/versions").json()
        recorded = [raw("POST", f"{SKILLS}/{name}/versions", json=body).json()
                    for body in ({"source": GIT, "ref": "v1", "subpath": "skills/x"},
                                 {"source": "https://example.com/skill.zip", "digest": "b" * 64},
                                 {"source": "oci://ghcr.io/example/skill:1"})]
    # MLflow's 501 for what this deployment turns off, as its 503 for artifact serving
    assert upload.status_code == 501, upload.text
    assert "does not serve artifacts" in upload.json()["message"]
    assert refused == dict.fromkeys(refused, 400)
    assert versions_after_refusals == {"skill_versions": [], "next_page_token": None}
    assert [(v["source_type"], v["source"], v["ref"], v["subpath"], v["workspace"])
            for v in recorded] == [
        ("git", GIT, "v1", "skills/x", "team-a"),
        ("zip", "https://example.com/skill.zip", None, None, "team-a"),
        ("oci", "ghcr.io/example/skill:1", None, None, "team-a")]


@pytest.mark.parametrize("level", ["reader", "contributor", "model-approver", "admin"])
def test_the_issue_schedules_state_is_invoke_genai_on_the_browser_path_alone(sandbox, level):
    with identity(sandbox, "admin", "client") as c:
        experiment = c.create_experiment(unique("scheduled"))
    path = "/ajax-api/3.0/mlflow/issues/schedule/state"
    with identity(sandbox, level, "token"):
        browser = raw("POST", path, json={"experiment_id": experiment})
    with identity(sandbox, level, "client"):
        signed = [raw("POST", p, json={"experiment_id": experiment}).status_code
                  for p in (path, path.replace("/ajax-api/", "/api/"))]
    if level in ("contributor", "admin"):
        assert (browser.status_code, browser.json()) == (200, {"next_fire_time_ms": None})
    else:
        assert browser.status_code == 403, browser.text
    # SigV4: the browser's spelling is refused to signed calls, and MLflow has no /api one
    # (the edge refuses it below admin, as any uncatalogued path; MLflow answers admin 404)
    assert signed == [403, 404 if level == "admin" else 403]


# --- a trace's storage tags, on every path a client has ----------------------------------------

FOREIGN = "s3://mlflow-artifacts/artifacts/workspaces/team-b/1/traces/tr-stolen/artifacts"


def _otlp_protobuf(trace_id: bytes, key: str, on_child: bool = False) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    now = time.time_ns()
    tag = [KeyValue(key=f"mlflow.traceTag.{key}",
                    value=AnyValue(string_value=json.dumps(FOREIGN)))]
    spans = [Span(trace_id=trace_id, span_id=b"\x01" * 8, name="root",
                  start_time_unix_nano=now, end_time_unix_nano=now + 1000,
                  attributes=[] if on_child else tag)]
    if on_child:
        spans.append(Span(trace_id=trace_id, span_id=b"\x02" * 8, parent_span_id=b"\x01" * 8,
                          name="child", start_time_unix_nano=now, end_time_unix_nano=now + 500,
                          attributes=tag))
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        scope_spans=[ScopeSpans(spans=spans)])]).SerializeToString()


def _otlp_json(trace_id: bytes, key: str = None) -> bytes:
    """OTLP/HTTP JSON (hex ids), which MLflow 3.18 takes beside protobuf; with `key`, the root
    span names that storage tag; always, the resource names one (MLflow skips `mlflow.*`
    resource attributes)."""
    now = time.time_ns()
    attributes = [] if key is None else [
        {"key": f"mlflow.traceTag.{key}", "value": {"stringValue": json.dumps(FOREIGN)}}]
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "mlflow.artifactLocation",
                                     "value": {"stringValue": FOREIGN}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace_id.hex(), "spanId": "0102030405060708", "name": "root",
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
            "attributes": attributes}]}]}]}).encode()


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_path_lets_a_client_name_a_traces_storage(sandbox, channel):
    """OTLP in JSON and protobuf, plain, gzip and deflate, on the root span or a child; the v2
    start and end; set-tag and delete-tag (v2 and v3): each refused with a 400 that says why,
    nothing of a refused export stored, and every trace keeps the server's own location."""
    wrong, refused_ids = [], []
    with identity(sandbox, "contributor", channel) as c:
        store = c._tracking_client.store
        experiment = c.create_experiment(unique("storage-tags"))
        headers = {"x-mlflow-experiment-id": experiment}
        if channel == "token":
            headers["X-MLFLOW-WORKSPACE"] = "team-a"
        for key in STORAGE_TAGS:
            exports = {
                "json": (_otlp_json, "application/json", None),
                "json, deflate": (_otlp_json, "application/json", "deflate"),
                "protobuf, gzip": (_otlp_protobuf, "application/x-protobuf", "gzip"),
                "protobuf, on a child span": (lambda t, k: _otlp_protobuf(t, k, on_child=True),
                                              "application/x-protobuf", None)}
            for how, (build, media_type, encoding) in exports.items():
                trace_id = uuid.uuid4().bytes
                body = build(trace_id, key)
                body = {"gzip": gzip.compress, "deflate": zlib.compress}.get(
                    encoding, lambda b: b)(body)
                response = raw("POST", "/v1/traces", data=body, headers={
                    **headers, "Content-Type": media_type,
                    **({"Content-Encoding": encoding} if encoding else {})})
                refused_ids.append("tr-" + trace_id.hex())
                if response.status_code != 400 or SERVERS_ONLY not in response.text:
                    wrong.append((key, how, response.status_code, response.text[:200]))
            started = raw("POST", "/api/2.0/mlflow/traces", json={
                "experiment_id": experiment, "timestamp_ms": int(time.time() * 1000),
                "tags": [{"key": key, "value": FOREIGN}]})
            if started.status_code != 400 or SERVERS_ONLY not in started.text:
                wrong.append((key, "v2 start", started.status_code, started.text[:200]))
            own = raw("POST", "/api/2.0/mlflow/traces", json={
                "experiment_id": experiment, "timestamp_ms": int(time.time() * 1000)})
            trace = own.json()["trace_info"]["request_id"]
            location = store.get_trace_info(trace).tags["mlflow.artifactLocation"]
            attempts = {
                "v2 end": (raw("PATCH", f"/api/2.0/mlflow/traces/{trace}", json={
                    "timestamp_ms": int(time.time() * 1000), "status": "OK",
                    "tags": [{"key": key, "value": FOREIGN}]}), SERVERS_ONLY)}
            for version in ("2.0", "3.0"):
                path = f"/api/{version}/mlflow/traces/{trace}/tags"
                attempts[f"v{version} set-tag"] = (
                    raw("PATCH", path, json={"key": key, "value": FOREIGN}),
                    f"Tag '{key}' is immutable and cannot be set")
                attempts[f"v{version} delete-tag"] = (
                    raw("DELETE", path, json={"key": key}),
                    f"Tag '{key}' is immutable and cannot be deleted")
            for how, (response, why) in attempts.items():
                if response.status_code != 400 or why not in response.text:
                    wrong.append((key, how, response.status_code, response.text[:200]))
            kept = store.get_trace_info(trace).tags
            if kept.get("mlflow.artifactLocation") != location or "/workspaces/team-a/" \
                    not in location or FOREIGN in kept.values():
                wrong.append((key, "kept", kept))
        # the resource's mlflow.* attributes are MLflow's to skip: the export is stored, with
        # the server's own location
        plain_id = uuid.uuid4().bytes
        plain = raw("POST", "/v1/traces", data=_otlp_json(plain_id),
                    headers={**headers, "Content-Type": "application/json"})
        plain_tags = store.get_trace_info("tr-" + plain_id.hex()).tags
        stored = {t.info.trace_id for t in c.search_traces(locations=[experiment],
                                                           include_spans=False)}
    assert wrong == []
    assert plain.status_code == 200, plain.text
    assert f"/workspaces/team-a/{experiment}/" in plain_tags["mlflow.artifactLocation"]
    assert FOREIGN not in plain_tags.values()
    assert stored.isdisjoint(refused_ids)


@pytest.mark.parametrize("channel", CHANNELS)
def test_team_b_puts_no_trace_into_team_as_experiment_by_its_id(sandbox, channel):
    """OTLP JSON and protobuf, v3 and v2 starts, from team-b, naming team-a's experiment id:
    RESOURCE_DOES_NOT_EXIST, as a read of it is, and team-a's experiment stays empty."""
    with identity(sandbox, "contributor", "client") as c:
        theirs = c.create_experiment(unique("team-a-untraced"))
    with team_b(sandbox, channel):
        headers = {"x-mlflow-experiment-id": theirs}
        if channel == "token":
            headers["X-MLFLOW-WORKSPACE"] = "team-b"
        answers = [
            raw("POST", "/v1/traces", data=_otlp_json(uuid.uuid4().bytes),
                headers={**headers, "Content-Type": "application/json"}),
            raw("POST", "/v1/traces", data=gzip.compress(_otlp_json(uuid.uuid4().bytes)),
                headers={**headers, "Content-Type": "application/json",
                         "Content-Encoding": "gzip"}),
            raw("POST", "/api/3.0/mlflow/traces", json={"trace": {"trace_info": {
                "trace_id": "tr-" + uuid.uuid4().hex, "request_time": "2026-12-04T00:00:00Z",
                "state": "OK", "trace_location": {"type": "MLFLOW_EXPERIMENT",
                                                  "mlflow_experiment": {
                                                      "experiment_id": theirs}}}}}),
            raw("POST", "/api/2.0/mlflow/traces", json={"experiment_id": theirs,
                                                         "timestamp_ms": 1})]
    with identity(sandbox, "contributor", "client") as c:
        traces = c.search_traces(locations=[theirs], include_spans=False)
    assert [(r.status_code, r.json()["error_code"]) for r in answers] == [
        (404, "RESOURCE_DOES_NOT_EXIST")] * 4
    assert list(traces) == []


# OTLP/HTTP JSON bodies whose shape MLflow 3.18 trusts: it walks resourceSpans, scopeSpans,
# spans and links and converts their hex ids before protobuf's parser sees the body, so a list
# that is null or a string, an item that is not an object, or an id that is not a string
# escaped as a TypeError or AttributeError (500; 502 at the edge).
_SPAN = {"spanId": "0102030405060708", "name": "s", "startTimeUnixNano": "1",
         "endTimeUnixNano": "2"}


def _spans(*spans):
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}


MISSHAPEN_OTLP_JSON = {
    "resourceSpans null": {"resourceSpans": None},
    "resourceSpans a string": {"resourceSpans": "x"},
    "a resource span not an object": {"resourceSpans": [1]},
    "scopeSpans null": {"resourceSpans": [{"scopeSpans": None}]},
    "a scope span a string": {"resourceSpans": [{"scopeSpans": ["x"]}]},
    "spans an object": {"resourceSpans": [{"scopeSpans": [{"spans": {"a": 1}}]}]},
    "a span a list": _spans([]),
    "traceId a number": _spans({**_SPAN, "traceId": 5}),
    "spanId a list": _spans({**_SPAN, "traceId": "ab" * 16, "spanId": ["01"]}),
    "parentSpanId an object": _spans({**_SPAN, "traceId": "ab" * 16, "parentSpanId": {"a": 1}}),
    "links a string": _spans({**_SPAN, "traceId": "ab" * 16, "links": "xy"}),
    "a link a number": _spans({**_SPAN, "traceId": "ab" * 16, "links": [7]}),
    "a link's traceId a number": _spans({**_SPAN, "traceId": "ab" * 16,
                                         "links": [{"traceId": 1, "spanId": "01" * 8}]}),
    "traceId not hex": _spans({**_SPAN, "traceId": "zz" * 16}),
    "a JSON string of a body": json.dumps(_spans({**_SPAN, "traceId": "ab" * 16})),
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_otlp_json_body_of_the_wrong_shape_is_400_never_5xx(sandbox, channel):
    with identity(sandbox, "contributor", channel) as c:
        headers = {"x-mlflow-experiment-id": c.create_experiment(unique("otlp-json")),
                   "Content-Type": "application/json"}
        if channel == "token":
            headers["X-MLFLOW-WORKSPACE"] = "team-a"
        answers = {name: raw("POST", "/v1/traces", data=json.dumps(body), headers=headers)
                   for name, body in MISSHAPEN_OTLP_JSON.items()}
        gzipped = raw("POST", "/v1/traces", data=gzip.compress(json.dumps(
            MISSHAPEN_OTLP_JSON["traceId a number"]).encode()),
            headers={**headers, "Content-Encoding": "gzip"})
        wellformed = raw("POST", "/v1/traces", data=json.dumps(_spans(
            {**_SPAN, "traceId": uuid.uuid4().hex, "links": None})), headers=headers)
    assert {name: r.status_code for name, r in answers.items() if r.status_code != 400} == {}
    assert gzipped.status_code == 400, gzipped.text
    assert wellformed.status_code == 200, wellformed.text
