"""Evaluate IAM policy documents for `execute-api:Invoke`, the way IAM does.

Written apart from the model's own matcher on purpose: the tests prove the compiled policies
by evaluating them here, not by trusting the code that wrote them. The sandbox gateway uses it
to enforce identity, resource and authorizer policies on each request.

Covers what execute-api policies use: Allow and Deny, Action/NotAction, Resource/NotResource,
`*` (any run of characters, `/` included) and `?` (one character), explicit Deny winning; and
the policy variables (`${aws:PrincipalTag/workspace}`) of the S3 policies that the sandbox's
emulated IAM judges with it.
A statement with a Condition is evaluated only for the condition operators implemented below;
anything else raises, so an unsupported policy is never silently read as allow or deny.
"""

import functools
import re

ALLOW, DENY, IMPLICIT_DENY = "allow", "deny", "implicit-deny"
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def substitute(text: str, context) -> "str | None":
    """IAM's policy variables in a Resource or a condition's value: `${key}` becomes the request
    context's value of `key`. None when a key is absent: IAM then matches the element against
    nothing. IAM's escapes (`${*}`, `${?}`, `${$}`) and defaults are not supported: they raise,
    so a policy that uses them is never read wrongly."""
    if "${" not in text:  # most patterns name no variable
        return text
    missing = []

    def value(match):
        key = match.group(1)
        if not key or key in "*?$" or "," in key:
            raise ValueError(f"policy variable ${{{key}}} is not supported")
        found = (context or {}).get(key)
        if not isinstance(found, str):
            missing.append(key)
            return ""
        return found

    result = _VARIABLE.sub(value, text)
    return None if missing else result


def _substituted(values, context) -> list:
    return [v for v in (substitute(value, context) for value in values) if v is not None]


def wildcard_match(pattern: str, text: str) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` exactly one. Case-sensitive."""
    return _wildcard_regex(pattern).fullmatch(text) is not None


@functools.lru_cache(maxsize=8192)
def _wildcard_regex(pattern: str) -> "re.Pattern":
    """`pattern` as a regular expression, compiled once: the gateway judges every request
    against the same few hundred patterns (a level's grant), and matching them one character
    at a time in Python was a quarter of its time per request."""
    parts = []
    for c in pattern:
        if c == "*":
            if parts[-1:] != [".*"]:  # a run of stars is one: no needless backtracking
                parts.append(".*")
        else:
            parts.append("." if c == "?" else re.escape(c))
    return re.compile("".join(parts), re.DOTALL)


def _as_list(value):
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _action_matches(pattern: str, action: str) -> bool:
    # Action names are case-insensitive in IAM.
    return wildcard_match(pattern.lower(), action.lower())


def _like(actual, expected):
    return any(wildcard_match(e, actual) for e in expected)


# operator -> (test on a present value, result when the key is absent)
_OPERATORS = {
    "StringEquals": (lambda a, e: a in e, False),
    "StringNotEquals": (lambda a, e: a not in e, True),
    "StringLike": (_like, False),
    "StringNotLike": (lambda a, e: not _like(a, e), True),
    # In IAM, ArnEquals and ArnLike both take wildcards.
    "ArnEquals": (_like, False),
    "ArnLike": (_like, False),
    "ArnNotEquals": (lambda a, e: not _like(a, e), True),
    "ArnNotLike": (lambda a, e: not _like(a, e), True),
    "Bool": (lambda a, e: str(a).lower() in [x.lower() for x in e], False),
    "Null": (None, None),  # judged on its own below
    # A multivalued key (aws:TagKeys): true when any of the request's values is one of these;
    # absent, false.
    "ForAnyValue:StringEquals": (lambda a, e: any(v in e for v in _as_list(a)), False),
}


def _condition_holds(condition: dict, context: dict) -> bool:
    for operator, tests in condition.items():
        if operator not in _OPERATORS:
            raise ValueError(f"condition operator {operator!r} is not supported")
        test, when_absent = _OPERATORS[operator]
        for key, expected in tests.items():
            actual = context.get(key)
            if operator == "Null":  # "true": the key is absent; "false": it is present
                ok = (actual is None) == (str(expected).lower() == "true")
            else:
                ok = when_absent if actual is None else test(
                    actual, _substituted(_as_list(expected), context))
            if not ok:
                return False
    return True


def _principal_matches(element, principal) -> bool:
    """Whether a statement's Principal names the caller.

    `principal` is the caller's ARN (for an assumed-role session, its role's ARN), or
    {"Service": "sagemaker.amazonaws.com"} for a service. An account (`arn:...:root` or the bare
    id) names every principal of that account, as in IAM.
    """
    if element == "*":
        return True
    if isinstance(principal, dict):
        return principal.get("Service") in (_as_list(element.get("Service")) or [])
    account = principal.split(":")[4] if principal.count(":") >= 5 else None
    for named in _as_list(element.get("AWS")) or []:
        if named == "*" or named == principal:
            return True
        if named in (account, f"arn:aws:iam::{account}:root"):
            return True
    return False


def statement_applies(statement: dict, action: str, resource: str, context=None,
                      principal=None) -> bool:
    if "Principal" in statement:
        if principal is None:
            raise ValueError("a statement with a Principal needs the caller's principal")
        if not _principal_matches(statement["Principal"], principal):
            return False
    actions, not_actions = _as_list(statement.get("Action")), _as_list(statement.get("NotAction"))
    if actions is not None:
        if not any(_action_matches(a, action) for a in actions):
            return False
    elif not_actions is not None:
        if any(_action_matches(a, action) for a in not_actions):
            return False
    else:
        raise ValueError("a statement needs Action or NotAction")
    resources = _as_list(statement.get("Resource"))
    not_resources = _as_list(statement.get("NotResource"))
    if resources is None and not_resources is None and "Principal" in statement:
        resources = ["*"]  # a trust policy names no resource: the role itself
    if resources is not None:
        if not any(wildcard_match(r, resource) for r in _substituted(resources, context)):
            return False
    elif not_resources is not None:
        if any(wildcard_match(r, resource) for r in _substituted(not_resources, context)):
            return False
    else:
        raise ValueError("a statement needs Resource or NotResource")
    if "Condition" in statement:
        return _condition_holds(statement["Condition"], context or {})
    return True


def evaluate(policies, action: str, resource: str, context=None, principal=None) -> str:
    """ALLOW, DENY (an explicit Deny matched) or IMPLICIT_DENY, over all `policies` together."""
    allowed = False
    for policy in policies:
        statements = policy["Statement"]
        for statement in [statements] if isinstance(statements, dict) else statements:
            if statement["Effect"] not in ("Allow", "Deny"):
                raise ValueError(f"unknown Effect {statement['Effect']!r}")
            if statement_applies(statement, action, resource, context, principal):
                if statement["Effect"] == "Deny":
                    return DENY
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def invoke_allowed(policies, resource: str, context=None) -> bool:
    return evaluate(policies, "execute-api:Invoke", resource, context) == ALLOW
