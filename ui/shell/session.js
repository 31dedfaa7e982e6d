// The signed-in session, kept in IndexedDB so that the page and the service worker share it
// (a service worker has no localStorage, and may be stopped and restarted at any time).
// Used by shell.js (window) and sw.js (importScripts); defines self.LZSession.
/* eslint-env browser, serviceworker */
(function (scope) {
  "use strict";
  const DB = "mlflow-landing-zone", STORE = "session", KEY = "current";

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function run(mode, action) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const request = action(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  // The claims of a JWT, without verifying it (the API's authorizer verifies; this is display
  // and timing only).
  function claims(jwt) {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part),
      (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  }

  // A session from Cognito's tokens. `expiresAt` is on this machine's clock: now plus the
  // token's own lifetime, so a wrong clock cannot make a token look fresh or stale.
  function fromTokens(idToken, refreshToken, config) {
    const c = claims(idToken);
    const lifetime = Math.max(1, c.exp - c.iat);
    return {
      idToken, refreshToken,
      username: c["cognito:username"] || c.email || c.sub,
      groups: c["cognito:groups"] || [],
      lifetime, expiresAt: Date.now() + lifetime * 1000,
      clientId: config.clientId, endpoint: config.cognitoEndpoint,
      apiRoutes: config.apiRoutes,
    };
  }

  // Refresh this long before expiry: a quarter of the lifetime, at most five minutes.
  function refreshDueAt(session) {
    const margin = Math.min(300, session.lifetime / 4) * 1000;
    return session.expiresAt - margin;
  }

  scope.LZSession = {
    get: () => run("readonly", (s) => s.get(KEY)),
    put: (session) => run("readwrite", (s) => s.put(session, KEY)),
    clear: () => run("readwrite", (s) => s.delete(KEY)),
    claims, fromTokens, refreshDueAt,
  };
})(self);
