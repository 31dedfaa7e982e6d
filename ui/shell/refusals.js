// Refusals in plain words for the browser (the API's 403 on a call MLflow's UI makes): which
// level the call needs, which level the user holds, in which team, and whom to ask. Loaded by
// sw.js (importScripts); defines self.LZRefusals. The table (refusal-table.json, built from
// roles/ by ui/build.py) holds, per level, the Allow and Deny globs the API enforces for that
// level in a team's workspace; roles/refusals.py's browser_message is the reference this
// mirrors (a test holds them equal under Node).
/* eslint-env browser, serviceworker */
(function (scope) {
  "use strict";

  const compiled = new Map();
  function matches(glob, text) {
    let re = compiled.get(glob);
    if (!re) {
      re = new RegExp("^" + glob.split("*").map((part) =>
        part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[\\s\\S]*") + "$");
      compiled.set(glob, re);
    }
    return re.test(text);
  }

  function decide(rules, text) {
    if (rules.deny.some((g) => matches(g, text))) return false;
    return rules.allow.some((g) => matches(g, text));
  }

  // The lowest level that may make the request in a team's workspace; table.platform when only
  // the platform team may; null when nobody may.
  function neededLevel(table, method, path) {
    const text = method + "/" + path.replace(/^\/+/, "");
    if (table.hostile.some((g) => matches(g, text))) return null;
    for (const level of table.levels) {
      if (decide(table.rules[level], text)) return level;
    }
    return table.platform;
  }

  // `levels`: what the user holds in `workspace` (the API's authorizer says so in the 403).
  function message(table, { method, path, workspace, levels, contact }) {
    const held = (levels || []).filter(Boolean);
    if (!held.length) {
      return `Refused: you hold no level in workspace ${workspace}. ` +
        `To be granted one, ask ${contact}.`;
    }
    const you = `you hold ${held.join(" and ")} in ${workspace}`;
    const needed = neededLevel(table, method, path);
    if (needed === null) return `Refused: ${method} ${path} is a path shape nobody may call; ${you}.`;
    if (needed === table.platform) {
      return `Refused: ${method} ${path} is server-wide configuration, which only the ` +
        `platform team changes; ${you}. Ask ${contact}.`;
    }
    return `Refused: ${method} ${path} needs the ${needed} level in ${workspace}; ${you}. ` +
      `To be granted ${needed} in ${workspace}, ask ${contact}.`;
  }

  scope.LZRefusals = { neededLevel, message };
})(self);
