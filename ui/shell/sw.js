// The service worker: puts the signed-in user's token on every request MLflow's UI makes to
// the API (fetch and XHR, /graphql, artifact previews, and plain navigations such as a
// Download link opened in a tab), without a line of MLflow's code changed. It also refreshes
// the token before it expires, once for all tabs.
/* eslint-env serviceworker */
"use strict";
importScripts("/shell/session.js");

let cached = null;       // the session, as last read or written
let refreshing = null;   // the one refresh in flight

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

async function session() {
  if (!cached) cached = (await LZSession.get()) || null;
  return cached;
}

async function tell(message) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) client.postMessage(message);
}

async function refresh(current) {
  let response;
  try {
    response = await fetch(current.endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify({
        AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: current.clientId,
        AuthParameters: { REFRESH_TOKEN: current.refreshToken },
      }),
    });
  } catch (error) {
    // Cognito unreachable: keep the session (the token may still be valid) and try again later.
    await tell({ type: "refresh-failed", reason: String(error) });
    return current;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    if (response.status === 400 && /NotAuthorized/.test(body.__type || "")) {
      // The refresh token expired or was revoked: the session is over.
      cached = null;
      await LZSession.clear();
      await tell({ type: "session-expired" });
      return null;
    }
    await tell({ type: "refresh-failed", reason: `${response.status} ${body.__type || ""}` });
    return current;
  }
  const result = (await response.json()).AuthenticationResult;
  const next = LZSession.fromTokens(result.IdToken, current.refreshToken, {
    clientId: current.clientId, cognitoEndpoint: current.endpoint, apiRoutes: current.apiRoutes,
  });
  cached = next;
  await LZSession.put(next);
  await tell({ type: "session", expiresAt: next.expiresAt, refreshedAt: Date.now() });
  return next;
}

// The token to send now: refreshed first when it is due (one refresh for all callers).
async function token(force = false) {
  const current = await session();
  if (!current) return null;
  if (!force && Date.now() < LZSession.refreshDueAt(current)) return current.idToken;
  if (!refreshing) {
    refreshing = refresh(current).finally(() => { refreshing = null; });
  }
  const next = await refreshing;
  return next ? next.idToken : null;
}

function isApi(path, routes) {
  return routes.some((r) => (r.prefix ? path.startsWith(r.path) : path === r.path));
}

async function send(request, body, bearer) {
  const headers = new Headers(request.headers);
  if (bearer) headers.set("Authorization", "Bearer " + bearer);
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

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return; // Cognito, presigned S3 URLs: untouched
  if (url.pathname === "/mlflow.html" && event.request.mode === "navigate") {
    event.respondWith(mlflowDocument(event.request));
    return;
  }
  event.respondWith((async () => {
    const current = await session();
    if (!current) {
      // Signed out (perhaps in another tab): a page still showing MLflow learns it at its
      // next request, which the API refuses.
      const response = await fetch(event.request);
      if (response.status === 401) await tell({ type: "session-expired" });
      return response;
    }
    if (!isApi(url.pathname, current.apiRoutes)) return fetch(event.request);
    if (DECLINED.has(url.pathname)) return declined();
    return withToken(event.request);
  })());
});

self.addEventListener("message", (event) => {
  const { type } = event.data || {};
  const reply = (value) => event.ports[0] && event.ports[0].postMessage(value);
  if (type === "signed-in" || type === "signed-out") {
    cached = null; // read again from IndexedDB, which the page has just written
    event.waitUntil(session().then((s) => reply({ ok: true, signedIn: !!s })));
  } else if (type === "refresh-if-due") {
    event.waitUntil(token().then(async () => {
      const s = await session();
      reply(s ? { ok: true, expiresAt: s.expiresAt } : { ok: false });
    }));
  }
});
