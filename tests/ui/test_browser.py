"""The sign-in shell and MLflow's own UI in a real browser (Debian's headless Chromium), against
a sandbox of its own whose tokens live 40 seconds and whose authorizer caches nothing: a
request that left the browser with an expired token would be refused, and show.

Each scenario keeps a screenshot in test-results/browser/.
"""

import json
import re
import time
import uuid

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from sandbox import example
from sandbox.aws import totp_code
from sandbox.ui_server import loopback_url
from spec.stack_file import CENTRAL_FILE, read_stack

from tests.browser import Session, log_lines, logged_at, mlflow_api, run_route
from tests.sandbox_clients import identity

# whom the sandbox's refusals name: the central stack config's platformContact
CONTACT = read_stack(CENTRAL_FILE).platform_contact


def type_new_experiment(session, name, sign_in_as=None):
    """MLflow's Create Experiment dialog, with a name typed and not yet submitted (first
    signing in at the experiments page, if `sign_in_as`)."""
    if sign_in_as:
        session.open("#/experiments")
        session.sign_in(sign_in_as)
    ui = session.mlflow
    ui.get_by_role("button", name="Create", exact=True).first.click()
    ui.locator("#experimentName").fill(name)
    return ui


def test_the_sign_in_page_and_a_wrong_password(session):
    session.open()
    assert session.page.title() == "MLflow"
    session.screenshot("sign-in")
    session.sign_in("reader-user", "not-the-password", wait=False)
    message = session.page.locator("#message")
    message.wait_for(state="visible")
    assert message.inner_text() == "Incorrect user name or password."
    assert session.session() is None
    assert session.page.locator("#mlflow").is_hidden()
    session.screenshot("wrong-password")


def test_a_reader_browses_previews_downloads_and_is_refused_a_write(session, ui_sandbox):
    ex = ui_sandbox["example"]
    before = len(log_lines(ui_sandbox, "ui-access.log"))
    session.open()
    session.sign_in("reader-user")
    assert session.page.locator("#who").inner_text() == "reader-user · team-a: reader · team-b: reader"
    ui = session.mlflow
    # The home page lists the seeded experiment; its run is one click further.
    ui.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    session.close_mlflow_assistant()
    session.screenshot("mlflow-ui")

    session.mlflow_frame().evaluate(f"location.hash = {run_route(ui_sandbox)!r}")
    ui.get_by_role("heading", name=example.RUN_NAME).wait_for()
    ui.get_by_text("learning_rate").first.wait_for()
    assert session.page.url.endswith(run_route(ui_sandbox))  # the address bar follows MLflow

    ui.get_by_text("Model metrics", exact=True).click()
    chart = ui.locator(".js-plotly-plot, canvas, svg.main-svg").first
    chart.wait_for()
    ui.get_by_text(example.METRIC, exact=True).first.wait_for()
    session.screenshot("reader-metric-chart")

    ui.get_by_text("Artifacts", exact=True).click()
    ui.get_by_text("notes.txt").click()
    first_line = example.ARTIFACTS["notes.txt"].decode().splitlines()[0]
    ui.get_by_text(first_line).wait_for()  # the preview
    session.screenshot("reader-artifact-preview")

    # MLflow's Download button: an icon without a label next to the file name, found by the
    # component id MLflow 3.17.2 and 3.18.0 give it.
    with session.page.expect_download() as download:
        ui.locator("button[data-component-id$='artifactview.tsx_337']").click()
    assert download.value.suggested_filename == "notes.txt"
    assert open(download.value.path(), "rb").read() == example.ARTIFACTS["notes.txt"]

    # An artifact opened in a new tab from MLflow's page is a navigation the UI started: it
    # carries the token too.
    artifact = f"/get-artifact?path=config/params.json&run_uuid={ex['run_id']}"
    with session.page.expect_download() as opened:  # Chromium gives the opener the download
        session.mlflow_frame().evaluate(f"window.open({artifact!r})")
    assert open(opened.value.path(), "rb").read() == example.ARTIFACTS["config/params.json"]
    # The same address opened from outside (typed, or a link in a chat) waits for the user's
    # click on a page of the UI's own, then downloads.
    tab = session.context.new_page()
    tab.goto(ui_sandbox["ui_url"] + artifact)
    assert tab.locator("h1").inner_text() == "Open in MLflow?"
    with tab.expect_download() as confirmed:
        tab.click("#open")
    assert open(confirmed.value.path(), "rb").read() == example.ARTIFACTS["config/params.json"]
    tab.close()

    # A write the reader's level does not allow: refused at the edge, said in the page in
    # plain words (the level it needs, the reader's, the team, whom to ask).
    session.mlflow_frame().evaluate("location.hash = '#/experiments'")
    type_new_experiment(session, "made-by-a-reader")
    ui.get_by_role("dialog").get_by_role("button", name="Create").click()
    ui.get_by_role("dialog").get_by_text(
        "Refused: POST /ajax-api/2.0/mlflow/experiments/create needs the contributor level in "
        f"team-a; you hold reader in team-a. To be granted contributor in team-a, ask "
        f"{CONTACT}.").wait_for()
    session.screenshot("reader-refused-in-plain-words")
    session.screenshot("reader-refused-a-write")
    assert mlflow_api(ui_sandbox, "experiments/search",
                      {"filter": "name = 'made-by-a-reader'", "max_results": 5}).get(
        "experiments") is None

    # Where the token went: on every API request of the scenario (previews, the chart's data,
    # /graphql, the downloads, the refused write), and nowhere else (not to the bundle's
    # files, not to Cognito).
    requests = log_lines(ui_sandbox, "ui-access.log")[before:]
    api = [r for r in requests if r["kind"] == "api"]
    assert len(api) > 20 and {r["path"] for r in api} >= {
        "/graphql", "/get-artifact", "/ajax-api/2.0/mlflow/experiments/create"}
    assert [r for r in api if not r["authorization"]] == []
    assert [r for r in requests if r["kind"] != "api" and r["authorization"]] == []


def test_the_address_bar_follows_mlflow_and_its_addresses_open_where_they_point(
        session, ui_sandbox, browser):
    """MLflow's router moves with history.pushState, which fires no event: the address bar
    follows clicks anyway, back and forward, a reload, a link pasted into the open tab, and an
    address shared with someone who must sign in first."""
    ex = ui_sandbox["example"]
    ui_url = ui_sandbox["ui_url"]
    page = session.page
    session.open()
    session.sign_in("reader-user")
    ui = session.mlflow
    ui.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    page.wait_for_url(re.compile(re.escape(ui_url) + "/#/"))  # MLflow's home route
    home = page.url
    # the experiment's page: MLflow routes a GenAI experiment on to its overview sub-route
    experiment = re.compile(re.escape(f"{ui_url}/#/experiments/{ex['experiment_id']}")
                            + r"(/|\?|$)")
    experiments = re.compile(re.escape(f"{ui_url}/#/experiments") + r"(\?|$)")
    # Clicks in MLflow's own page
    ui.get_by_role("link", name=example.EXPERIMENT).first.click()
    page.wait_for_url(experiment)
    # Once the experiment holds traces (earlier tests log some), MLflow opens its GenAI overview
    # with a one-time "Detect Issues" tip whose layer covers the page: dismissed as a user would
    tip = ui.get_by_role("button", name="Got it")
    try:
        tip.wait_for(timeout=5000)
        tip.click()
    except PlaywrightTimeoutError:
        pass  # no tip: an experiment without traces opens on its runs
    ui.locator("a[href^='#/experiments?']").first.click()  # the breadcrumb "Experiments"
    page.wait_for_url(experiments)
    # Back and forward (the browser's buttons walk the frame's history)
    page.evaluate("history.back()")
    page.wait_for_url(experiment)
    page.evaluate("history.back()")
    page.wait_for_url(home)
    ui.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    page.evaluate("history.forward()")
    page.wait_for_url(experiment)
    page.evaluate("history.forward()")
    page.wait_for_url(experiments)
    ui.get_by_test_id("experiment-list-item-link").first.wait_for()
    # A link pasted into the open tab opens where it points, without a reload
    page.evaluate("window.stillTheSamePage = true")
    run_address = f"{ui_url}/{run_route(ui_sandbox)}"
    page.goto(run_address)
    ui.get_by_role("heading", name=example.RUN_NAME).wait_for()
    assert session.mlflow_frame().url.endswith(run_route(ui_sandbox))
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.url == run_address
    # A reload shows the same page (the worker still holds the session: no second sign-in)
    page.reload()
    page.wait_for_selector("#bar", state="visible")
    ui.get_by_role("heading", name=example.RUN_NAME).wait_for()
    assert page.url == run_address
    session.screenshot("address-bar-follows-mlflow")
    # and back before the reload: where the pasted link was pasted
    page.evaluate("history.back()")
    page.wait_for_url(experiments)
    ui.get_by_test_id("experiment-list-item-link").first.wait_for()
    # The address shared: another browser profile signs in first, then lands on the run
    other = Session(browser, ui_sandbox)
    try:
        other.page.goto(run_address)
        other.page.wait_for_selector("#username", state="visible")
        other.sign_in("contributor-user")
        other.mlflow.get_by_role("heading", name=example.RUN_NAME).wait_for()
        assert other.page.url == run_address
        assert other.csp_violations() == []
    finally:
        other.close()


def test_a_contributor_creates_an_experiment(session, ui_sandbox):
    ui = type_new_experiment(session, "made-in-the-ui", sign_in_as="contributor-user")
    ui.get_by_role("dialog").get_by_role("button", name="Create").click()
    ui.locator("#experimentName").wait_for(state="hidden")  # the dialog closed: created
    found = mlflow_api(ui_sandbox, "experiments/search",
                       {"filter": "name = 'made-in-the-ui'", "max_results": 5})["experiments"]
    assert [e["name"] for e in found] == ["made-in-the-ui"]
    session.mlflow_frame().evaluate("location.hash = '#/experiments'")
    ui.get_by_test_id("experiment-list-item-link").filter(has_text="made-in-the-ui").wait_for()
    session.close_mlflow_assistant()
    session.screenshot("contributor-created-an-experiment")


def test_a_model_approver_registers_a_version_and_sets_an_alias(session, ui_sandbox):
    """An alias that is not the team's deploy alias: its registrant may set it (the deploy
    alias takes a second person: tests/end_to_end/test_registry_events.py)."""
    session.open(run_route(ui_sandbox, "/artifacts"))
    session.sign_in("model-approver-user")
    ui = session.mlflow
    ui.get_by_text("model", exact=True).first.click()
    ui.get_by_role("button", name="Register model").click()
    dialog = ui.get_by_role("dialog")
    dialog.locator("#selectedModel").click()
    ui.get_by_text("Create New Model", exact=True).click()
    dialog.locator("#modelName").fill("approved-in-the-ui")
    dialog.get_by_role("button", name="Register").click()
    dialog.wait_for(state="hidden")

    session.mlflow_frame().evaluate("location.hash = '#/models/approved-in-the-ui/versions/1'")
    # the first "Add" is the aliases' (the version's tags, which now hold
    # landing_zone.frozen_from, have one too)
    ui.get_by_role("button", name="Add", exact=True).first.click()
    dialog.get_by_role("combobox").fill("candidate")
    session.page.keyboard.press("Enter")
    dialog.get_by_role("button", name="Save aliases").click()
    dialog.wait_for(state="hidden")
    ui.get_by_text("candidate").first.wait_for()
    session.close_mlflow_assistant()
    session.screenshot("model-approver-set-an-alias")

    version = mlflow_api(ui_sandbox, "model-versions/get?name=approved-in-the-ui&version=1")
    assert version["model_version"]["run_id"] == ui_sandbox["example"]["run_id"]
    assert version["model_version"]["aliases"] == ["candidate"]


def test_a_token_that_expires_mid_session_is_refreshed_without_a_reload(session, ui_sandbox):
    session.record_cognito()
    session.open()
    session.sign_in("reader-user")
    ui = session.mlflow
    ui.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    first = session.session()
    session.page.evaluate("window.stillTheSamePage = true")
    session.mlflow_frame().evaluate("window.stillTheSamePage = true")
    refreshes = []
    session.context.on("request", lambda r: refreshes.append(r) if (
        r.url.endswith("/cognito/") and "REFRESH_TOKEN_AUTH" in (r.post_data or "")) else None)
    signed_in_at = time.time()

    # Past the first token's expiry, then MLflow's UI works on as before.
    time.sleep(max(0.0, first["lifetime"] + 2 - (time.time() - signed_in_at)))
    session.mlflow_frame().evaluate(f"location.hash = {run_route(ui_sandbox)!r}")
    ui.get_by_role("heading", name=example.RUN_NAME).wait_for()
    now = session.session()
    assert now["issuedAt"] > first["issuedAt"] and now["expiresAt"] > time.time() * 1000
    assert 1 <= len(refreshes) <= 2  # once (one more if a request raced the timer), not a loop
    # The worker refreshed with the sign-in's refresh token, which only it holds.
    [signed_in_with] = session.refresh_tokens()
    assert {json.loads(r.post_data)["AuthParameters"]["REFRESH_TOKEN"]
            for r in refreshes} == {signed_in_with}
    # Neither the shell nor MLflow's page reloaded.
    assert session.page.evaluate("window.stillTheSamePage") is True
    assert session.mlflow_frame().evaluate("window.stillTheSamePage") is True
    # No request left the browser with an expired token: the authorizer (no cache here) would
    # have refused it with 401.
    mine = [r for r in log_lines(ui_sandbox, "access.log") if r["user"] in ("reader-user", "-")
            and logged_at(r) >= int(signed_in_at)]
    assert mine and [r for r in mine if r["status"] == 401] == []
    session.screenshot("refreshed-without-a-reload")


def test_sign_out_ends_the_session(session):
    session.record_cognito()
    session.open()
    session.sign_in("contributor-user")
    session.mlflow.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    status, _ = session.api("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1")
    assert status == 200
    [refresh_token] = session.refresh_tokens()

    session.page.click("#sign-out")
    message = session.page.locator("#message")
    message.wait_for(state="visible")
    assert message.inner_text() == "You are signed out."
    assert session.session() is None
    assert session.page.locator("#mlflow").get_attribute("src") == "about:blank"
    status, body = session.api("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1")
    assert (status, body) == (401, {"error_code": "UNAUTHENTICATED", "message": "Unauthorized"})
    # The refresh token was revoked at Cognito: it gets no new tokens.
    status, body = session.cognito("InitiateAuth", {
        "AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": session.sandbox["cognito"]["client_id"],
        "AuthParameters": {"REFRESH_TOKEN": refresh_token}})
    assert status == 400 and body["__type"] == "NotAuthorizedException"
    session.screenshot("signed-out")


def test_signing_out_in_one_tab_reaches_the_others(session):
    session.open()
    session.sign_in("reader-user")
    other = session.context.new_page()
    other.goto(session.sandbox["ui_url"] + "/#/experiments")
    other.wait_for_selector("#bar", state="visible")  # the same session, no second sign-in
    other.frame_locator("#mlflow").get_by_text(example.EXPERIMENT).first.wait_for()

    session.page.click("#sign-out")
    session.page.locator("#message").wait_for(state="visible")
    # The other tab learns it at its next request to the API, which is refused.
    frame = next(f for f in other.frames if f.url.split("#")[0].endswith("/mlflow.html"))
    frame.evaluate("location.hash = '#/models'")
    message = other.locator("#message")
    message.wait_for(state="visible")
    assert message.inner_text().startswith("Your session has expired.")
    other.close()


def test_an_ended_session_says_so_and_nothing_typed_is_lost(session, ui_sandbox):
    session.record_cognito()
    ui = type_new_experiment(session, "typed-before-the-session-ended",
                             sign_in_as="contributor-user")
    # The refresh token is revoked elsewhere (an administrator signs the user out everywhere),
    # and the id token is due: the worker's next refresh fails.
    [refresh_token] = session.refresh_tokens()
    session.cognito("RevokeToken", {"Token": refresh_token,
                                    "ClientId": ui_sandbox["cognito"]["client_id"]})
    assert session.tell_worker("refresh") == {"ok": False, "session": None}
    message = session.page.locator("#message")
    message.wait_for(state="visible")
    assert message.inner_text().startswith("Your session has expired.")
    session.screenshot("session-expired")
    # Signing in again brings back MLflow's page as it was, with the name still typed.
    session.sign_in("contributor-user")
    assert ui.locator("#experimentName").input_value() == "typed-before-the-session-ended"


def test_a_first_sign_in_sets_a_new_password(session):
    """Users created by an administrator start with a temporary password."""
    session.open()
    session.sign_in("new-user", wait=False)
    session.page.locator("#new-password").wait_for(state="visible")
    session.screenshot("new-password")
    session.page.fill("#new-password", "short")
    session.page.click("#submit")
    message = session.page.locator("#message")
    message.wait_for(state="visible")
    assert "password" in message.inner_text().lower()  # Cognito's words: which rule failed
    session.page.fill("#new-password", "Chosen-by-the-user-42!")
    session.page.click("#submit")
    session.page.wait_for_selector("#bar", state="visible")
    assert session.page.locator("#who").inner_text() == "new-user · team-a: reader · team-b: reader"
    session.mlflow.get_by_role("link", name=example.EXPERIMENT).first.wait_for()


def test_a_user_with_an_authenticator_app_enters_its_code(session):
    mfa_user = next(u for u in session.sandbox["cognito"]["users"] if "totp_secret" in u)
    session.open()
    session.sign_in(mfa_user["username"], wait=False)
    session.page.locator("#code").wait_for(state="visible")
    session.page.fill("#code", "000000")
    session.page.click("#submit")
    message = session.page.locator("#message")
    message.wait_for(state="visible")
    assert message.inner_text() == "That code is not right. Enter the current code from your app."
    session.screenshot("authenticator-code")
    if time.time() % 30 > 26:  # a code about to change: wait for the next one
        time.sleep(30 - time.time() % 30 + 0.5)
    session.page.fill("#code", totp_code(mfa_user["totp_secret"]))
    session.page.click("#submit")
    session.page.wait_for_selector("#bar", state="visible")
    session.mlflow.get_by_role("link", name=example.EXPERIMENT).first.wait_for()


def test_a_user_in_no_group_is_told_why(session):
    session.open()
    session.sign_in("no-group-user", wait=False)
    message = session.page.locator("#message")
    message.wait_for(state="visible")
    assert "holds no level in any team's MLflow workspace" in message.inner_text()
    assert "team-a:reader" in message.inner_text()  # the group to ask for, by name
    assert session.session() is None
    session.screenshot("no-group")


def test_the_srp_flow_used_on_aws_signs_in(session, ui_sandbox):
    """On AWS the shell signs in with SRP. moto does not check SRP's password proof, so this
    shows that the flow's exchange works end to end in the browser, not that a wrong password
    fails under SRP (the USER_PASSWORD_AUTH scenario above shows that)."""
    # (Playwright's own requests resolve names as Node does, which may not know *.localhost)
    config = session.context.request.get(loopback_url(ui_sandbox["ui_url"]) + "/config.json").json()
    config["authFlow"] = "USER_SRP_AUTH"
    session.page.route("**/config.json", lambda route: route.fulfill(json=config))
    calls = []
    session.context.on("request", lambda r: calls.append(r.headers.get("x-amz-target", ""))
                       if r.url.endswith("/cognito/") else None)
    session.open()
    session.sign_in("reader-user")
    session.mlflow.get_by_role("link", name=example.EXPERIMENT).first.wait_for()
    # (Each call shows twice: the page's, and the service worker's passing it on.)
    assert list(dict.fromkeys(calls))[:2] == [
        "AWSCognitoIdentityProviderService.InitiateAuth",
        "AWSCognitoIdentityProviderService.RespondToAuthChallenge"]


# --- teams: a user sees their own workspaces, with their level in each ------------------------


def team_b_experiment(ui_sandbox):
    """An experiment in team-b's workspace, made by team-b's contributor (once per session)."""
    name = "team-b-own-experiment"
    with identity(ui_sandbox, "contributor", "client", team="team-b") as c:
        if c.get_experiment_by_name(name) is None:
            c.create_experiment(name)
    return name


def listed_workspaces(session):
    status, body = session.api("GET", "/ajax-api/3.0/mlflow/workspaces", workspace="")
    assert status == 200, body
    return [w["name"] for w in body["workspaces"]]


def test_a_user_in_two_teams_sees_both_workspaces_with_their_level_in_each(session, ui_sandbox):
    team_b = team_b_experiment(ui_sandbox)
    session.open()
    session.sign_in("two-teams-user")
    assert session.page.locator("#who").inner_text() == (
        "two-teams-user · team-a: reader · team-b: reader, contributor")
    assert listed_workspaces(session) == ["team-a", "team-b"]  # never `default`
    ui = session.mlflow
    ui.get_by_role("link", name=example.EXPERIMENT).first.wait_for()  # opens in team-a
    assert ui.get_by_role("link", name=team_b).count() == 0
    # Switching with MLflow's own workspace switcher: team-b's work, not team-a's
    session.close_mlflow_assistant()
    switcher = ui.get_by_role("combobox").first
    switcher.click()
    options = ui.get_by_role("option")
    options.first.wait_for()
    assert sorted(options.all_inner_texts()) == ["team-a", "team-b"]
    ui.get_by_role("option", name="team-b").click()
    ui.get_by_role("link", name=team_b).first.wait_for()
    assert ui.get_by_role("link", name=example.EXPERIMENT).count() == 0
    session.close_mlflow_assistant()
    session.screenshot("two-teams-in-team-b")
    # The level is the one held in the workspace named: contributor in team-b, reader in team-a
    create = "/ajax-api/2.0/mlflow/experiments/create"
    assert session.api("POST", create, {"name": f"by-two-teams-{uuid.uuid4().hex[:6]}"},
                       workspace="team-b")[0] == 200
    status, refused = session.api("POST", create, {"name": "refused-in-team-a"},
                                  workspace="team-a")
    assert (status, refused["error_code"]) == (403, "PERMISSION_DENIED")
    assert "needs the contributor level in team-a; you hold reader in team-a" in refused["message"]
    # A request of the page naming no workspace (a navigation MLflow's page starts, such as an
    # artifact opened in a tab) goes to the one the switcher shows: team-b, contributor there
    assert session.api("POST", create, {"name": f"by-switch-{uuid.uuid4().hex[:6]}"})[0] == 200
    status, refused = session.api("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=5",
                                  workspace="default")
    assert status == 403 and refused["message"] == (
        f"Refused: you hold no level in workspace default. To be granted one, ask {CONTACT}.")


def test_a_user_in_one_team_sees_only_that_one(session, ui_sandbox):
    team_b = team_b_experiment(ui_sandbox)
    session.open(run_route(ui_sandbox))  # even a link into team-a's workspace
    session.sign_in("team-b-user")
    assert session.page.locator("#who").inner_text() == "team-b-user · team-b: contributor"
    assert listed_workspaces(session) == ["team-b"]
    ui = session.mlflow
    session.mlflow_frame().evaluate("location.hash = '#/?workspace=team-b'")
    ui.get_by_role("link", name=team_b).first.wait_for()
    # team-a's run, asked for by the page in team-a's workspace: refused at the edge
    ex = ui_sandbox["example"]
    status, _ = session.api("GET", f"/ajax-api/2.0/mlflow/runs/get?run_id={ex['run_id']}",
                            workspace="team-a")
    assert status == 403
    # and in its own workspace, team-a's run does not exist
    status, body = session.api("GET", f"/ajax-api/2.0/mlflow/runs/get?run_id={ex['run_id']}",
                               workspace="team-b")
    assert status == 404 and body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
