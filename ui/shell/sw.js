// The service worker: puts the signed-in user's token on the requests MLflow's UI makes to the
// API (fetch and XHR, /graphql, artifact previews, and the navigations the UI itself starts,
// such as an artifact opened in a tab), without a line of MLflow's code changed. It holds the
// session, refreshes the token before it expires (once for all tabs), and keeps the refresh
// token to itself.
//
// Two rules keep other sites and other scripts out:
// - A token goes only on a request the UI's own pages started. A navigation is another site's
//   unless the document that started it, or the referrer the browser sets (a page can remove
//   it, never forge it), is the UI's; a navigation other than GET (a form) never gets one.
// - The session lives in this worker's memory and nowhere else: not in IndexedDB, not in
//   storage a page can read. The refresh token (a 12-hour credential) is taken out of Cognito's
//   answer before the page sees it, so a script in MLflow's page cannot read it. The shell keeps
//   this worker running while a tab is open; when the browser stops it, the user signs in again.
/* eslint-env serviceworker */
"use strict";
importScripts("/shell/spec.js", "/shell/session.js", "/shell/refusals.js");

const HELD = "held-by-the-service-worker"; // what the page gets in place of the refresh token
let config = null;       // /config.json, read once per worker
let current = null;      // the session (tokens included): in this worker's memory only
let refreshing = null;   // the one refresh in flight

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function settings() {
  if (!config) {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`config.json: ${response.status}`);
    config = await response.json();
  }
  return config;
}

// What a page may know of the session: who, which groups and workspaces, until when. No token.
function summary(session) {
  if (!session) return null;
  const { username, groups, lifetime, expiresAt, issuedAt } = session;
  return { username, groups, lifetime, expiresAt, issuedAt, workspaces: usersWorkspaces(session) };
}

async function tell(message) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) client.postMessage(message);
}

function cognitoCall(target, body) {
  return fetch(config.cognitoEndpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AWSCognitoIdentityProviderService." + target,
    },
    body: JSON.stringify(body),
  });
}

async function refresh(session) {
  let response;
  try {
    response = await cognitoCall("InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: config.clientId,
      AuthParameters: { REFRESH_TOKEN: session.refreshToken },
    });
  } catch (error) {
    // Cognito unreachable: keep the session (the token may still be valid) and try again later.
    await tell({ type: "refresh-failed", reason: String(error) });
    return session;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    if (response.status === 400 && /NotAuthorized/.test(body.__type || "")) {
      // The refresh token expired or was revoked: the session is over.
      if (current === session) current = null;
      await tell({ type: "session-expired" });
      return null;
    }
    await tell({ type: "refresh-failed", reason: `${response.status} ${body.__type || ""}` });
    return session;
  }
  const result = (await response.json()).AuthenticationResult;
  if (current !== session) return current; // signed out or in again meanwhile
  current = LZSession.fromTokens(result.IdToken, session.refreshToken);
  await tell({ type: "session", session: summary(current) });
  return current;
}

// The token to send now: refreshed first when it is due (one refresh for all callers).
async function token(force = false) {
  const session = current;
  if (!session) return null;
  if (!force && Date.now() < LZSession.refreshDueAt(session, config.refreshMarginSeconds)) {
    return session.idToken;
  }
  if (!refreshing) refreshing = refresh(session).finally(() => { refreshing = null; });
  const next = await refreshing;
  return next ? next.idToken : null;
}

function signOut() {
  const session = current;
  current = null;
  if (!session) return Promise.resolve();
  // Revoke the refresh token at Cognito (best effort: signing out never waits on it long).
  return cognitoCall("RevokeToken", { Token: session.refreshToken, ClientId: config.clientId })
    .catch(() => undefined);
}

// --- Cognito's answers to the shell's sign-in: the refresh token stays here ----------------

function isCognito(url) {
  return !!config && url.href === new URL(config.cognitoEndpoint).href;
}

async function fromCognito(request) {
  const target = request.headers.get("X-Amz-Target") || "";
  const response = await fetch(request);
  if (!response.ok || !/\.(InitiateAuth|RespondToAuthChallenge)$/.test(target)) return response;
  const body = await response.clone().json().catch(() => null);
  const result = body && body.AuthenticationResult;
  if (!result || !result.RefreshToken || !result.IdToken) return response;
  const previous = current;
  current = LZSession.fromTokens(result.IdToken, result.RefreshToken);
  if (previous && previous.refreshToken !== current.refreshToken) {
    // Signed in again over a session: the old sign-in ends at Cognito too.
    cognitoCall("RevokeToken", { Token: previous.refreshToken, ClientId: config.clientId })
      .catch(() => undefined);
  }
  result.RefreshToken = HELD;
  const headers = new Headers(response.headers);
  headers.delete("Content-Length");
  return new Response(JSON.stringify(body), {
    status: response.status, statusText: response.statusText, headers,
  });
}

// --- who started a request ----------------------------------------------------------------

function sameOrigin(url) {
  try {
    return !!url && new URL(url).origin === self.location.origin;
  } catch (e) {
    return false;
  }
}

async function startedByTheUi(event) {
  const request = event.request;
  if (request.mode === "navigate" && request.method !== "GET") return false; // a form: never
  if (event.clientId) {
    // The page that made the request (for a navigation, the document that started it). A
    // worker controls only the UI's own pages; another site's document is not found here.
    const client = await self.clients.get(event.clientId);
    if (client) return sameOrigin(client.url);
  }
  // A navigation from a new tab of the UI (window.open, target=_blank): the browser sets the
  // referrer, which a page can remove but never forge (the UI sends it same-origin).
  return request.mode === "navigate" && sameOrigin(request.referrer);
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(status, title, html) {
  return new Response(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${title}</title></head><body style="font-family:system-ui,sans-serif;max-width:40em;
margin:4em auto;line-height:1.5">${html}</body></html>`, {
    status,
    headers: {
      "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
      "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; " +
        "frame-ancestors 'none'; form-action 'none'",
      "Referrer-Policy": "same-origin",
    },
  });
}

// Another site sent the browser here. A form (POST) is refused outright; a link (GET) waits
// for the user to confirm on a page of the UI's own, so a bookmark or a link from a chat
// still opens, but only by the user's click.
function notFromTheUi(request) {
  if (request.method !== "GET") {
    return page(403, "Refused", "<h1>Refused</h1><p>A page of another site tried to send a " +
      "request to MLflow in your name. Nothing was sent.</p><p><a href=\"/\">Open MLflow</a></p>");
  }
  return page(200, "Open in MLflow", "<h1>Open in MLflow?</h1><p>This MLflow address was " +
    "opened from outside MLflow:</p><p><code>" + escapeHtml(request.url) + "</code></p>" +
    `<p><a id="open" href="${escapeHtml(request.url)}">Open it</a> · <a href="/">Go to ` +
    "MLflow</a></p>");
}

// --- the token on the UI's requests ---------------------------------------------------------

function isApi(path) {
  return config.apiRoutes.some((r) => (r.prefix ? path.startsWith(r.path) : path === r.path));
}

// The workspace a request names (MLflow's X-MLFLOW-WORKSPACE): the one MLflow's UI chose, or,
// where it names none (its list of workspaces, before one is chosen), the user's first. The
// API's authorizer decides per (token, workspace) and needs one on every request.
const WORKSPACE_HEADER = self.LZSpec.workspaceHeader;

function usersWorkspaces(session) {
  return self.LZSession.workspacesOf(session.groups, config.groupLevels, config.workspaces || {});
}

let active = null;  // the workspace MLflow's page shows (the shell tells), for navigations

function workspaceFor(request) {
  const named = (request.headers.get(WORKSPACE_HEADER) || "").trim();
  if (named) return named;
  const mine = Object.keys(usersWorkspaces(current));
  return mine.includes(active) ? active : mine[0] || self.LZSpec.defaultWorkspace;
}

async function send(request, body, bearer) {
  const headers = new Headers(request.headers);
  if (bearer) headers.set("Authorization", "Bearer " + bearer);
  headers.set(WORKSPACE_HEADER, workspaceFor(request));
  return fetch(request.url, {
    method: request.method, headers, body,
    credentials: "same-origin", cache: "no-store",
    // A navigation must see a redirect itself; everything else follows it here.
    redirect: request.mode === "navigate" ? "manual" : "follow",
    signal: request.signal,
  });
}

async function withToken(request) {
  const body = ["GET", "HEAD"].includes(request.method) ? undefined
    : await request.arrayBuffer();
  const first = await token();
  let response = await send(request, body, first);
  if (response.status === 401 && first) {
    // Revoked or expired early: one fresh token, one retry.
    const second = await token(true);
    if (second && second !== first) response = await send(request, body, second);
  }
  return response;
}

// MLflow's UI asks the server for a presigned S3 URL and sends the browser to S3 with it.
// Browsers here download through the API instead: authorized per request, logged, ended by
// signing out, and the bucket stays private (a presigned URL is a bearer credential that
// outlives the session). Declining with 501 makes MLflow's UI fall back to /get-artifact.
const DECLINED = new Set(["/ajax-api/2.0/mlflow/artifacts/presigned-download-url"]);

function declined() {
  return new Response(JSON.stringify({
    error_code: "NOT_IMPLEMENTED",
    message: "Presigned downloads are off in the browser; artifacts download through the API.",
  }), { status: 501, headers: { "Content-Type": "application/json" } });
}

// Top-level visits to MLflow's page go through the shell, which hosts it with the user bar
// (the fragment, MLflow's route, survives the redirect).
function mlflowDocument(request) {
  if (request.destination === "document") return Response.redirect("/", 302);
  return fetch(request);
}

// MLflow's list of workspaces, cut to those the user holds a level in: MLflow's UI offers only
// those (the authorizer refuses the others anyway).
const WORKSPACE_LIST = "/ajax-api/3.0/mlflow/workspaces";

async function onlyTheUsersWorkspaces(response) {
  if (!response.ok) return response;
  const data = await response.clone().json().catch(() => null);
  if (!data || !Array.isArray(data.workspaces)) return response;
  const mine = usersWorkspaces(current);
  data.workspaces = data.workspaces.filter((w) => w && w.name in mine);
  const headers = new Headers(response.headers);
  headers.delete("Content-Length");
  return new Response(JSON.stringify(data), { status: response.status, headers });
}

// A 403 of the API in plain words: the level the call needs (from the table built from the
// permission model), the level the user holds in the workspace and whom to ask (both from the
// API's answer). MLflow's UI shows `message`; the API's own wording stays in `details`.
let refusalTable = null;

async function explained(request, response) {
  if (response.status !== 403) return response;
  const body = await response.clone().json().catch(() => null);
  if (!body || body.error_code !== "PERMISSION_DENIED" || !body.details) return response;
  try {
    if (!refusalTable) {
      const table = await fetch("/shell/refusal-table.json");
      if (!table.ok) return response;
      refusalTable = await table.json();
    }
    const path = new URL(request.url).pathname;
    body.details.edge_message = body.message;
    body.message = self.LZRefusals.message(refusalTable, {
      method: request.method, path, workspace: workspaceFor(request),
      levels: (body.details.levels || "").split(","), contact: body.details.contact,
    });
  } catch (error) {
    return response;
  }
  const headers = new Headers(response.headers);
  headers.delete("Content-Length");
  return new Response(JSON.stringify(body), { status: 403, headers });
}

async function handle(event) {
  const request = event.request;
  const url = new URL(request.url);
  await settings();
  if (isCognito(url)) return fromCognito(request);
  if (url.origin !== self.location.origin || !isApi(url.pathname)) return fetch(request);
  if (!(await startedByTheUi(event))) {
    return request.mode === "navigate" ? notFromTheUi(request) : fetch(request);
  }
  if (!current) {
    // Signed out (perhaps in another tab): a page still showing MLflow learns it at its next
    // request, which the API refuses.
    const response = await fetch(request);
    if (response.status === 401) await tell({ type: "session-expired" });
    return response;
  }
  if (DECLINED.has(url.pathname)) return declined();
  if (url.pathname === WORKSPACE_LIST && request.method === "GET") {
    return onlyTheUsersWorkspaces(await withToken(request));
  }
  return explained(request, await withToken(request));
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin === self.location.origin && url.pathname === "/mlflow.html" &&
      event.request.mode === "navigate") {
    event.respondWith(mlflowDocument(event.request));
    return;
  }
  // Other origins pass untouched (presigned S3 URLs, fonts), except Cognito's endpoint.
  if (url.origin !== self.location.origin && config && !isCognito(url)) return;
  event.respondWith(handle(event));
});

self.addEventListener("message", (event) => {
  const { type } = event.data || {};
  const reply = (value) => event.ports[0] && event.ports[0].postMessage(value);
  const answer = (promise) => event.waitUntil(promise.then(reply, (error) =>
    reply({ ok: false, error: String(error) })));
  if (type === "session") {
    // Also the shell's keep-alive: each message keeps this worker (and the session) running.
    answer(settings().then(() => ({ ok: !!current, session: summary(current) })));
  } else if (type === "refresh-if-due" || type === "refresh") {
    answer(settings().then(() => token(type === "refresh"))
      .then(() => ({ ok: !!current, session: summary(current) })));
  } else if (type === "sign-out") {
    answer(settings().then(signOut).then(() => ({ ok: true })));
  } else if (type === "workspace") {
    // What MLflow's page shows now: a navigation it starts (an artifact opened in a tab)
    // carries no header of its own and gets this one.
    active = typeof event.data.workspace === "string" ? event.data.workspace : null;
    answer(Promise.resolve({ ok: true }));
  } else if (type === "claim") {
    answer(self.clients.claim().then(() => ({ ok: true })));
  }
});
