// The signed-in session's arithmetic, shared by shell.js (window) and sw.js (importScripts);
// defines self.LZSession. The session itself lives only in the service worker's memory.
// Reads self.LZSpec (spec.js, generated from spec/ by python -m spec.generate): load it first.
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
  // refreshMarginSeconds, from spec.edge: longer than the authorizer's cache TTL), and never
  // later than halfway through its life.
  function refreshDueAt(session, marginSeconds) {
    const margin = Math.min(marginSeconds || session.lifetime / 4, session.lifetime / 2);
    return session.expiresAt - margin * 1000;
  }

  // The workspaces a user holds a level in, and the levels in each ({workspace: [levels]}), as
  // the authorizer decides them (authorizer/handler.py: levels_of), for display and for the
  // workspace the UI starts in. `groupLevels`: groups that hold a level everywhere (the
  // platform team's); `workspaces`: {team: [teams it is shared with]}; every other group is
  // `<team>:<level>`. The authorizer enforces; this only chooses what to show.
  const { levels: LEVELS, teamGroupSeparator: SEPARATOR, defaultWorkspace, sharedLevel } =
    scope.LZSpec;
  function workspacesOf(groups, groupLevels, workspaces) {
    const everywhere = new Set(groups.map((g) => groupLevels[g]).filter(Boolean));
    const own = {};
    for (const group of groups) {
      const at = group.indexOf(SEPARATOR);
      const team = group.slice(0, at);
      const level = group.slice(at + SEPARATOR.length);
      if (at > 0 && LEVELS.includes(level) && team in workspaces) {
        (own[team] = own[team] || new Set()).add(level);
      }
    }
    const found = {};
    for (const team of Object.keys(workspaces)) {
      const held = new Set([...everywhere, ...(own[team] || [])]);
      if (workspaces[team].some((other) => other in own)) held.add(sharedLevel);
      if (held.size) found[team] = LEVELS.filter((l) => held.has(l));
    }
    if (everywhere.size) found[defaultWorkspace] = LEVELS.filter((l) => everywhere.has(l));
    return found;
  }

  scope.LZSession = { claims, fromTokens, refreshDueAt, workspacesOf };
})(self);
