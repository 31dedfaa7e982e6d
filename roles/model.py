"""The permission model's decision: which level may make which request.

For a set of capabilities the model is a list of Allow globs (the routes of the capabilities
held) and Deny globs (hostile path shapes, and the routes of capabilities not held wherever an
Allow glob would also reach them). Deny wins, as in IAM. The compilers in `policies.py` emit
exactly these globs as ARNs, and the tests check both against the catalogue route by route.
"""

from dataclasses import dataclass
from functools import lru_cache

from .catalogue import CATALOGUE
from .globs import HOSTILE_GLOBS, glob_contains, glob_match, globs_overlap, subject, template_glob
from .levels import GRANTS, LEVELS, PLATFORM_CAPABILITIES, UNCLASSIFIED, capabilities_of

EVERYTHING = "*"


@dataclass(frozen=True)
class Rules:
    allow: tuple[str, ...]
    deny: tuple[str, ...]

    def decide(self, subject_text: str) -> bool:
        if any(glob_match(g, subject_text) for g in self.deny):
            return False
        return any(glob_match(g, subject_text) for g in self.allow)


def route_glob(route) -> str:
    return template_glob(route.method, route.path)


@lru_cache(maxsize=64)
def rules_for(held: frozenset, in_team: bool = False) -> Rules:
    """The Allow and Deny globs that give exactly the capabilities in `held`; `in_team`: held
    through a level in a team's workspace, which never includes PLATFORM_CAPABILITIES."""
    if in_team:
        held = held - PLATFORM_CAPABILITIES
    if UNCLASSIFIED in held:
        # Only admin holds the routes nobody has classified: it gets everything but the
        # hostile shapes, so the next MLflow's new routes still work for the platform team
        # (and a team's admin, everything but the platform's routes).
        platform = tuple(dict.fromkeys(route_glob(r) for r in CATALOGUE
                                       if r.capability not in held))
        return Rules(allow=(EVERYTHING,), deny=HOSTILE_GLOBS + platform)
    allow, refused = [], []
    for route in CATALOGUE:
        (allow if route.capability in held else refused).append(route_glob(route))
    allow = tuple(dict.fromkeys(allow))
    # Drop the globs another one already covers (`logged-models/*` covers its `/tags`).
    allow = tuple(g for g in allow if not any(o != g and glob_contains(o, g) for o in allow))
    # A route of a capability not held needs an explicit Deny only where one of the Allow
    # globs reaches it (a `*` parameter of a sibling route can span its literal segments).
    deny = tuple(
        dict.fromkeys(g for g in refused if g not in allow and any(globs_overlap(g, a) for a in allow))
    )
    return Rules(allow=allow, deny=HOSTILE_GLOBS + deny)


def allows_any(levels, method: str, path: str, in_team: bool = False) -> bool:
    """The model's decision for a caller holding the union of `levels` (`in_team`: through a
    level in a team's workspace, not a platform group)."""
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        return False
    return rules_for(capabilities_of(levels), in_team).decide(subject(method, path))


def allows(level: str, method: str, path: str) -> bool:
    """The model's decision for one concrete request (path parameters filled in)."""
    if level not in LEVELS:
        raise ValueError(f"unknown access level {level!r}; expected one of {', '.join(LEVELS)}")
    return allows_any((level,), method, path)


__all__ = ["GRANTS", "Rules", "allows", "allows_any", "route_glob", "rules_for"]
