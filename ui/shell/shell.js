// The sign-in shell: signs the user in with Cognito, and hosts MLflow's own UI (mlflow.html,
// unmodified) in a frame under a bar with the user's name, levels and a sign-out button. The
// session is the service worker's: it takes the tokens out of Cognito's answer (the refresh
// token never reaches this page), and this page only asks it who is signed in.
/* eslint-env browser */
/* global AmazonCognitoIdentity, LZSession */
"use strict";

const $ = (id) => document.getElementById(id);
const MESSAGES = {
  NotAuthorizedException: "Incorrect user name or password.",
  UserNotFoundException: "Incorrect user name or password.",
  PasswordResetRequiredException:
    "Your password must be reset before you can sign in. Ask your platform team.",
  UserNotConfirmedException: "Your account is not confirmed yet. Ask your platform team.",
  CodeMismatchException: "That code is not right. Enter the current code from your app.",
  ExpiredCodeException: "That code has expired. Enter the current code from your app.",
  InvalidPasswordException: null, // Cognito's own text names the rule that was broken
  TooManyRequestsException: "Too many attempts. Wait a minute and try again.",
  LimitExceededException: "Too many attempts. Wait a minute and try again.",
};

let config = null;
let workspaces = null;  // the signed-in user's {workspace: levels}
let cognitoUser = null;   // the user of a sign-in still waiting for a new password or a code
let refreshTimer = null;
let keepAliveTimer = null;
const KEEP_ALIVE_MS = 20_000; // browsers stop an idle service worker after 30 s
function show(view) {
  $("loading").hidden = view !== "loading";
  $("sign-in").hidden = view !== "sign-in";
  $("bar").hidden = view !== "app";
  $("mlflow").hidden = view !== "app";
}

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function step(name) {
  $("password-step").hidden = name !== "password";
  $("new-password-step").hidden = name !== "new-password";
  $("code-step").hidden = name !== "code";
  $("submit").textContent = name === "password" ? "Sign in" : "Continue";
  const focus = { password: "username", "new-password": "new-password", code: "code" }[name];
  $(focus).focus();
}

// MLflow's UI keeps the workspace it shows here (and sends it as X-MLFLOW-WORKSPACE).
const ACTIVE_WORKSPACE = "mlflow.activeWorkspace";

// The workspace MLflow's page opens in: the one a link names (`?workspace=` in MLflow's route,
// as MLflow's client prints it), else the one chosen last, if the user holds a level in it;
// else the user's first. So the UI never starts in a workspace the API would refuse.
function chooseWorkspace(workspaces) {
  const linked = new URLSearchParams(mlflowRoute().split("?")[1] || "").get("workspace");
  let stored = null;
  try { stored = localStorage.getItem(ACTIVE_WORKSPACE); } catch (e) { /* no storage */ }
  const choice = [linked, stored].find((w) => w && w in workspaces) || Object.keys(workspaces)[0];
  try { localStorage.setItem(ACTIVE_WORKSPACE, choice); } catch (e) { /* no storage */ }
  ask({ type: "workspace", workspace: choice });
  return choice;
}

// MLflow's workspace switcher writes the choice to storage in its own document (the frame):
// the worker learns it, for the navigations MLflow's page starts without a header.
window.addEventListener("storage", (event) => {
  if (event.key === ACTIVE_WORKSPACE) ask({ type: "workspace", workspace: event.newValue });
});

// Ask the service worker something and wait for its answer.
async function ask(message) {
  const registration = await navigator.serviceWorker.ready;
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    registration.active.postMessage(message, [channel.port2]);
  });
}

// The page is controlled by the service worker (it is not after a hard reload): only then
// does the worker see Cognito's answer to a sign-in, and keep its refresh token.
async function controlled() {
  if (navigator.serviceWorker.controller) return true;
  const changed = new Promise((resolve) => navigator.serviceWorker.addEventListener(
    "controllerchange", resolve, { once: true }));
  await ask({ type: "claim" });
  await Promise.race([changed, new Promise((resolve) => setTimeout(resolve, 3000))]);
  return !!navigator.serviceWorker.controller;
}

function scheduleRefresh(session) {
  clearTimeout(refreshTimer);
  const due = LZSession.refreshDueAt(session, config.refreshMarginSeconds);
  refreshTimer = setTimeout(async () => {
    const answer = await ask({ type: "refresh-if-due" });
    if (answer.ok) scheduleRefresh(answer.session);
  }, Math.max(1000, due - Date.now()));
}

// While MLflow is open, the worker (and with it the session) stays up.
function keepAlive() {
  clearInterval(keepAliveTimer);
  keepAliveTimer = setInterval(async () => {
    const answer = await ask({ type: "session" });
    if (!answer.ok && $("sign-in").hidden) {
      signInView("Your session has ended. Sign in again to continue where you were.");
    }
  }, KEEP_ALIVE_MS);
}

function mlflowRoute() {
  return location.hash && location.hash !== "#" ? location.hash : "#/";
}

// MLflow's route with the workspace MLflow's page opens in (its `?workspace=` parameter).
function inWorkspace(route, workspace) {
  const [path, query = ""] = route.split("?");
  const params = new URLSearchParams(query);
  params.set("workspace", workspace);
  return `${path}?${params}`;
}

function openApp(session) {
  const held = Object.entries(session.workspaces)
    .map(([workspace, levels]) => `${workspace}: ${levels.join(", ")}`);
  $("who").textContent = `${session.username} · ${held.join(" · ")}`;
  workspaces = session.workspaces;
  const workspace = chooseWorkspace(session.workspaces);
  const frame = $("mlflow");
  if (!frame.src || frame.src === "about:blank") {
    frame.src = "/mlflow.html" + inWorkspace(mlflowRoute(), workspace);
    show("app");
  } else {
    show("app");
    showRoute(); // signed in again: to a route pasted meanwhile, if any
  }
  scheduleRefresh(session);
  keepAlive();
}

// The address bar shows MLflow's current route, so it can be bookmarked, shared and reloaded.
// MLflow's router (a hash router) moves with history.pushState and replaceState, which fire no
// event: the shell wraps the two methods of the frame's own History object (a document of this
// origin; MLflow's code is unchanged) and follows popstate and hashchange for the browser's
// back and forward buttons and fragment changes. The frame keeps the history entries; the
// shell's page only ever replaces its address, so back and forward walk MLflow's pages.
function followFrame() {
  const inner = $("mlflow").contentWindow;
  const sync = () => {
    const route = inner.location.hash;
    if (route && route !== location.hash) history.replaceState(null, "", "/" + route);
  };
  for (const method of ["pushState", "replaceState"]) {
    const original = inner.history[method];
    inner.history[method] = function (...args) {
      const result = original.apply(this, args);
      sync();
      return result;
    };
  }
  inner.addEventListener("popstate", sync);
  inner.addEventListener("hashchange", sync);
  sync();
}

$("mlflow").addEventListener("load", () => {
  try {
    if ($("mlflow").contentWindow.location.pathname === "/mlflow.html") followFrame();
  } catch (e) { /* not ours to read: leave the address bar alone */ }
});

// A route given to this page while MLflow is open (a link pasted into the address bar, or the
// shell's own history entries walked): MLflow's page goes there, without a reload. In place:
// the address bar's change already made the history entry.
function showRoute() {
  const frame = $("mlflow");
  if (frame.hidden) return; // signed out: openApp opens the route after the sign-in
  try {
    const inner = frame.contentWindow;
    if (inner.location.pathname !== "/mlflow.html") return;
    if (inner.location.hash !== mlflowRoute()) {
      if (workspaces) chooseWorkspace(workspaces);
      inner.location.replace("/mlflow.html" + mlflowRoute());
    }
  } catch (e) { /* not ours to read */ }
}
window.addEventListener("hashchange", showRoute);

function signInView(text, kind) {
  clearTimeout(refreshTimer);
  clearInterval(keepAliveTimer);
  cognitoUser = null;
  $("password").value = $("new-password").value = $("code").value = "";
  say(text || "", kind);
  show("sign-in");
  step("password");
}

async function startSession() {
  // The worker took the tokens from Cognito's answer; it tells who signed in.
  const answer = await ask({ type: "session" });
  if (!answer.ok) {
    signInView("Sign-in worked, but this page could not hand the session to its service " +
      "worker. Reload the page and sign in again.");
    return;
  }
  const session = answer.session;
  if (Object.keys(session.workspaces).length === 0) {
    await ask({ type: "sign-out" });
    const team = Object.keys(config.workspaces || {})[0] || "team";
    signInView(`You are signed in as ${session.username}, but your account holds no level in ` +
      `any team's MLflow workspace, so MLflow would refuse every request. Ask your platform ` +
      `team to add you to your team's group, such as ${team}${LZSpec.teamGroupSeparator}reader ` +
      `or ${team}${LZSpec.teamGroupSeparator}contributor.`);
    return;
  }
  say("");
  openApp(session);
}

function failed(error) {
  $("submit").disabled = false;
  const known = MESSAGES[error.code];
  if (known === null && error.message) say(error.message);
  else if (known) say(known);
  else if (/failed to fetch|network/i.test(error.message || "")) {
    say("The sign-in service cannot be reached. Check your connection and try again.");
  } else {
    console.error("sign-in failed", error);
    say(`Sign-in failed: ${error.message || error.code || error}`);
  }
}

const callbacks = {
  onSuccess: () => { $("submit").disabled = false; startSession(); },
  onFailure: failed,
  newPasswordRequired: () => { $("submit").disabled = false; say(""); step("new-password"); },
  totpRequired: () => { $("submit").disabled = false; say(""); step("code"); },
  mfaSetup: () => cognitoUser.associateSoftwareToken({
    associateSecretCode: (secret) => {
      $("submit").disabled = false;
      $("code-hint").textContent = "Add this key to your authenticator app, then enter the " +
        `code it shows: ${secret}`;
      cognitoUser.pendingTotpSetup = true;
      step("code");
    },
    onFailure: failed,
  }),
};

function userPool() {
  return new AmazonCognitoIdentity.CognitoUserPool({
    UserPoolId: config.userPoolId, ClientId: config.clientId,
    endpoint: config.cognitoEndpoint,
    Storage: memoryStorage(),
  });
}

// The library's own storage stays in memory: the session is the service worker's.
function memoryStorage() {
  const data = new Map();
  return {
    setItem: (k, v) => data.set(k, v), getItem: (k) => (data.has(k) ? data.get(k) : null),
    removeItem: (k) => data.delete(k), clear: () => data.clear(),
  };
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("");
  $("submit").disabled = true;
  if (!(await controlled())) {
    $("submit").disabled = false;
    say("MLflow's service worker does not control this page yet. Reload the page, then sign in.");
    return;
  }
  if (!$("new-password-step").hidden) {
    cognitoUser.completeNewPasswordChallenge($("new-password").value, {}, callbacks);
  } else if (!$("code-step").hidden) {
    const code = $("code").value.trim();
    if (cognitoUser.pendingTotpSetup) {
      cognitoUser.verifySoftwareToken(code, "MLflow", {
        onSuccess: () => { $("submit").disabled = false; startSession(); }, onFailure: failed,
      });
    } else {
      cognitoUser.sendMFACode(code, callbacks, "SOFTWARE_TOKEN_MFA");
    }
  } else {
    const username = $("username").value.trim(), password = $("password").value;
    if (!username || !password) {
      $("submit").disabled = false;
      say("Enter your user name and password.");
      return;
    }
    cognitoUser = new AmazonCognitoIdentity.CognitoUser({
      Username: username, Pool: userPool(), Storage: memoryStorage(),
    });
    cognitoUser.setAuthenticationFlowType(config.authFlow);
    cognitoUser.authenticateUser(new AmazonCognitoIdentity.AuthenticationDetails({
      Username: username, Password: password,
    }), callbacks);
  }
});

// The worker forgets the session and revokes its refresh token at Cognito.
async function signOut(text = "You are signed out.") {
  await ask({ type: "sign-out" });
  const frame = $("mlflow");
  frame.removeAttribute("src");
  frame.src = "about:blank"; // stop MLflow's page: no more requests from it
  history.replaceState(null, "", "/" + location.hash);
  signInView(text, "info");
}

$("sign-out").addEventListener("click", () => signOut());

navigator.serviceWorker && navigator.serviceWorker.addEventListener("message", (event) => {
  const { type } = event.data || {};
  if (type === "session" && event.data.session) scheduleRefresh(event.data.session);
  // MLflow's page stays as it was under the sign-in form: after signing in again, nothing
  // typed there is lost.
  if (type === "session-expired" && $("sign-in").hidden) {
    signInView("Your session has expired. Sign in again to continue where you were.");
  }
});

async function start() {
  if (!("serviceWorker" in navigator)) {
    show("sign-in");
    say("This browser does not let the page use a service worker (a private window in some " +
      "browsers blocks it), which MLflow needs to send your sign-in with each request.");
    $("submit").disabled = true;
    return;
  }
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`config.json: ${response.status}`);
    config = await response.json();
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    await navigator.serviceWorker.ready;
  } catch (error) {
    show("sign-in");
    say(`MLflow's sign-in could not start (${error.message}). Reload the page; if this ` +
      "persists, tell your platform team.");
    $("submit").disabled = true;
    return;
  }
  const answer = await ask({ type: "refresh-if-due" });
  if (!answer.ok) return signInView();
  openApp(answer.session);
}

start();
