"""Concrete requests for catalogued routes: each template with its parameters filled in.

Single-segment parameters take plain ids and the literal names of sibling routes ("get",
"search", "tags", ...), which is where a wildcard could reach a neighbour; `:path` parameters
also take values with slashes.
"""

import itertools
import re

from roles import CATALOGUE

_PARAM = re.compile(r"\{([^{}:]+)(:path)?\}")
# The literal path segments of the catalogue, for generators of hostile paths.
SEGMENTS = sorted({seg for r in CATALOGUE for seg in r.path.split("/") if seg and "{" not in seg})
SEGMENT_VALUES = ("x1", "get", "search", "tags", "delete", "versions")
PATH_VALUES = ("x1", "dir/file.txt", "a/tags/b", "1/artifacts/model/MLmodel")


def sample_paths(template: str, limit: int = 12):
    params = _PARAM.findall(template)
    if not params:
        return [template]
    choices = [PATH_VALUES if is_path else SEGMENT_VALUES for _, is_path in params]
    out = []
    for values in itertools.islice(itertools.product(*choices), limit):
        it = iter(values)
        out.append(_PARAM.sub(lambda m: next(it), template))
    # Always include the plain-id sample, whatever the limit cut.
    plain = _PARAM.sub("x1", template)
    return out if plain in out else [plain] + out


def samples(catalogue):
    """(route, concrete path) for every route of `catalogue`."""
    for route in catalogue:
        for path in sample_paths(route.path):
            yield route, path
