// The signed-in session's arithmetic, shared by shell.js (window) and sw.js (importScripts);
// defines self.LZSession. The session itself lives only in the service worker's memory.
/* eslint-env browser, serviceworker */
(function (scope) {
  "use strict";

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
  function fromTokens(idToken, refreshToken) {
    const c = claims(idToken);
    const lifetime = Math.max(1, c.exp - c.iat);
    return {
      idToken, refreshToken,
      username: c["cognito:username"] || c.email || c.sub,
      groups: c["cognito:groups"] || [],
      lifetime, issuedAt: c.iat, expiresAt: Date.now() + lifetime * 1000,
    };
  }

  // When to replace the token: `marginSeconds` before it expires (config.json's
  // refreshMarginSeconds, from roles.edge: longer than the authorizer's cache TTL), and never
  // later than halfway through its life.
  function refreshDueAt(session, marginSeconds) {
    const margin = Math.min(marginSeconds || session.lifetime / 4, session.lifetime / 2);
    return session.expiresAt - margin * 1000;
  }

  scope.LZSession = { claims, fromTokens, refreshDueAt };
})(self);
