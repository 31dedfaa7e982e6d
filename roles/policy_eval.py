"""Evaluate IAM policy documents for `execute-api:Invoke`, the way IAM does.

Written apart from the model's own matcher on purpose: the tests prove the compiled policies
by evaluating them here, not by trusting the code that wrote them. The sandbox gateway uses it
to enforce identity, resource and authorizer policies on each request.

Covers what execute-api policies use: Allow and Deny, Action/NotAction, Resource/NotResource,
`*` (any run of characters, `/` included) and `?` (one character), explicit Deny winning.
A statement with a Condition is evaluated only for the condition operators implemented below;
anything else raises, so an unsupported policy is never silently read as allow or deny.
"""

ALLOW, DENY, IMPLICIT_DENY = "allow", "deny", "implicit-deny"


def wildcard_match(pattern: str, text: str) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` exactly one. Case-sensitive."""
    p = t = 0
    star_p, star_t = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]) and pattern[p] != "*":
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star_p, star_t = p, t
            p += 1
        elif star_p >= 0:
            star_t += 1
            p, t = star_p + 1, star_t
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _as_list(value):
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _action_matches(pattern: str, action: str) -> bool:
    # Action names are case-insensitive in IAM.
    return wildcard_match(pattern.lower(), action.lower())


def _condition_holds(condition: dict, context: dict) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            actual = context.get(key)
            expected = _as_list(expected)
            if operator == "StringEquals":
                ok = actual is not None and actual in expected
            elif operator == "StringNotEquals":
                ok = actual is None or actual not in expected
            elif operator == "StringLike":
                ok = actual is not None and any(wildcard_match(e, actual) for e in expected)
            elif operator == "StringNotLike":
                ok = actual is None or not any(wildcard_match(e, actual) for e in expected)
            elif operator == "ArnLike":
                ok = actual is not None and any(wildcard_match(e, actual) for e in expected)
            elif operator == "ArnNotLike":
                ok = actual is None or not any(wildcard_match(e, actual) for e in expected)
            else:
                raise ValueError(f"condition operator {operator!r} is not supported")
            if not ok:
                return False
    return True


def statement_applies(statement: dict, action: str, resource: str, context=None) -> bool:
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
    if resources is not None:
        if not any(wildcard_match(r, resource) for r in resources):
            return False
    elif not_resources is not None:
        if any(wildcard_match(r, resource) for r in not_resources):
            return False
    else:
        raise ValueError("a statement needs Resource or NotResource")
    if "Condition" in statement:
        return _condition_holds(statement["Condition"], context or {})
    return True


def evaluate(policies, action: str, resource: str, context=None) -> str:
    """ALLOW, DENY (an explicit Deny matched) or IMPLICIT_DENY, over all `policies` together."""
    allowed = False
    for policy in policies:
        statements = policy["Statement"]
        for statement in [statements] if isinstance(statements, dict) else statements:
            if statement["Effect"] not in ("Allow", "Deny"):
                raise ValueError(f"unknown Effect {statement['Effect']!r}")
            if statement_applies(statement, action, resource, context):
                if statement["Effect"] == "Deny":
                    return DENY
                allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def invoke_allowed(policies, resource: str, context=None) -> bool:
    return evaluate(policies, "execute-api:Invoke", resource, context) == ALLOW
