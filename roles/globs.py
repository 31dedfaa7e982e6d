"""IAM-style globs over "METHOD/path" subjects, the form execute-api ARNs end with.

A request `GET /api/2.0/mlflow/runs/get` is the subject `GET/api/2.0/mlflow/runs/get`, and an
execute-api ARN is `<api arn>/<subject>`. A route template becomes a glob by turning each path
parameter into `*`, which (as in IAM) matches any text, empty or with slashes in it. That is
deliberate: the edge can only enforce what IAM can express, so the model speaks IAM's language.
"""

import re
from functools import lru_cache

_PARAM = re.compile(r"\{[^{}]+\}")


def subject(method: str, path: str) -> str:
    """The ARN tail of one request: `METHOD/path-without-its-leading-slash`."""
    return f"{method}/{path[1:] if path.startswith('/') else path}"


def template_glob(method: str, template: str) -> str:
    """`GET /api/2.0/mlflow/logged-models/{model_id}` -> `GET/api/2.0/mlflow/logged-models/*`."""
    return subject(method, _PARAM.sub("*", template))


@lru_cache(maxsize=4096)
def _compiled(glob: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in glob), re.DOTALL)


def glob_match(glob: str, text: str) -> bool:
    """Whether `text` matches `glob`, where `*` matches any run of characters."""
    return _compiled(glob).fullmatch(text) is not None


def globs_overlap(a: str, b: str) -> bool:
    """Whether some text matches both globs (`*` only)."""

    @lru_cache(maxsize=None)
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            if meet(i + 1, j) or (j < len(b) and meet(i, j + 1)):
                return True
            return False
        if j < len(b) and b[j] == "*":
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        return i < len(a) and j < len(b) and a[i] == b[j] and meet(i + 1, j + 1)

    return meet(0, 0)


def glob_contains(outer: str, inner: str) -> bool:
    """Whether every text `inner` matches also matches `outer`."""
    # Each `*` of `inner` stands for any text, so stand in a character `outer` can only
    # cover with a `*` of its own.
    return glob_match(outer, inner.replace("*", "\x00"))


# Path shapes that no MLflow client sends and that exist only to confuse a router or a
# policy: empty segments, dot segments, and encoded slashes, dots or backslashes. They are
# denied to every level, in the model and (as Deny statements) in every compiled policy.
HOSTILE_GLOBS = (
    "*//*",
    "*/./*",
    "*/../*",
    "*/.",
    "*/..",
    "*%2F*",
    "*%2f*",
    "*%2E*",
    "*%2e*",
    "*%5C*",
    "*%5c*",
    "*\\*",
)

