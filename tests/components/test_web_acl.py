"""The web ACL's statements say what `spec.edge.cross_site_refusal` says: evaluated here, as
WAF evaluates them, against the function the sandbox's gateway applies, request by request."""

import itertools
import re

import pytest

from components.web_acl import RateLimits, label_rules, rule_statements, web_acl_rules
from spec.edge import CROSS_SITE_RULES, cross_site_refusal, is_ui_redirect_path, match_route

UI = "https://main.d1a2b3c4d5e6f7.amplifyapp.com"
STAGE = "prod"


def _field(field_to_match, request):
    """The value WAF inspects, or None when it is absent (then no match statement matches)."""
    if "uri_path" in field_to_match:
        return request["uri"]
    name = field_to_match["single_header"]["name"].lower()
    return request["headers"].get(name)


def _transform(value, transformations):
    for t in sorted(transformations, key=lambda t: t["priority"]):
        if t["type"] == "LOWERCASE":
            value = value.lower()
        elif t["type"] != "NONE":
            raise AssertionError(f"no evaluator for {t['type']}")
    return value


def matches(statement, request) -> bool:
    """WAF's evaluation of the statements the web ACL uses (and, not, regex, byte, size)."""
    [(kind, body)] = statement.items()
    if kind == "label_match_statement":
        assert body["scope"] == "LABEL"
        return body["key"] in request.get("labels", ())
    if kind == "and_statement":
        return all(matches(s, request) for s in body["statements"])
    if kind == "or_statement":
        return any(matches(s, request) for s in body["statements"])
    if kind == "not_statement":
        return not matches(body["statement"], request)
    value = _field(body["field_to_match"], request)
    if value is None:
        return False
    value = _transform(value, body["text_transformations"])
    if kind == "regex_match_statement":
        return re.search(body["regex_string"], value) is not None
    if kind == "byte_match_statement":
        assert body["positional_constraint"] == "EXACTLY"
        return value == body["search_string"]
    if kind == "size_constraint_statement":
        assert body["comparison_operator"] == "GT"
        return len(value.encode()) > body["size"]
    raise AssertionError(f"no evaluator for {kind}")


def waf_decision(request):
    """The first rule (by priority, as listed) whose statement matches, or None: allowed. The
    rules that only count add their labels first."""
    labels = [label["name"] for rule in label_rules(STAGE) if matches(rule["statement"], request)
              for label in rule["rule_labels"]]
    request = {**request, "labels": labels}
    statements = rule_statements(STAGE, UI)
    return next((rule for rule in CROSS_SITE_RULES if matches(statements[rule], request)), None)


SITES = (None, "cross-site", "same-site", "same-origin", "none", "CROSS-SITE", "")
ORIGINS = (None, UI, "https://evil.example", "null", "", UI + "/", UI.upper(),
           "https://main.d1a2b3c4d5e6f7.amplifyapp.com.evil.example")
PATHS = ("/", "/ajax-api/2.0/mlflow/runs/get", "/api/2.0/mlflow/runs/get", "/graphql",
         "/get-artifact", "/gateway/mlflow/v1/models", "//", "/prod-x", "/team-a", "/team-b/",
         "/team-a/api/2.0/mlflow/runs/get", "/team-a/v1/traces", "/team-ab", "/team-a//",
         "/version", "/version/", "/api", "/api/", "/ajax-api/", "/health", "/x/y", "/API",
         "/graphqlx", "/xgraphql", "/prod/api")


@pytest.mark.parametrize("site, origin, path", itertools.product(SITES, ORIGINS, PATHS))
def test_the_web_acl_refuses_exactly_what_the_edge_function_refuses(site, origin, path):
    headers = {k: v for k, v in (("sec-fetch-site", site), ("origin", origin)) if v is not None}
    expected = None if is_ui_redirect_path(path) else cross_site_refusal(headers, UI)
    # WAF sees the path with the stage in front; either way it must decide the same.
    for uri in (path, f"/{STAGE}{path}" if path != "/" else f"/{STAGE}"):
        assert waf_decision({"uri": uri, "headers": headers}) == expected, uri


def test_the_redirect_is_spared_from_anywhere_and_nothing_else_is():
    """Spared: the root and one path segment that is none of the API's literal resources (a
    team's base path, matched by shape: no rule names a team). Every spared path reaches no
    authorizer and no MLflow: no proxied resource takes it, its one method is the redirect."""
    other_site = {"sec-fetch-site": "cross-site"}
    spared = ("/", "/prod", "/prod/", "/team-a", "/prod/team-a", "/prod/team-b/", "/team-c",
              "/x", "/prod/x", "/prodx", "/" + "t" * 32)
    for uri in spared:
        assert waf_decision({"uri": uri, "headers": other_site}) is None, uri
        assert match_route(uri.removeprefix("/prod") or "/") is None, uri
    for uri in ("/prod//", "/prod/team-a/version", "/prod/team-a//", "//", "/x/y",
                "/prod/x/y", "/version", "/prod/version", "/graphql/", "/prod/api",
                "/ajax-api", "/get-artifact", "/prod/v1/", "/team-a/api/2.0/mlflow/runs/get"):
        assert waf_decision({"uri": uri, "headers": other_site}) == "OtherSiteRequest", uri


def _depth(statement) -> int:
    """Nested logical statements (and, or, not) above the deepest match statement."""
    [(kind, body)] = statement.items()
    if kind in ("and_statement", "or_statement"):
        return 1 + max(_depth(s) for s in body["statements"])
    if kind == "not_statement":
        return 1 + _depth(body["statement"])
    if kind == "rate_based_statement" and "scope_down_statement" in body:
        return 1 + _depth(body["scope_down_statement"])
    return 0


def test_no_rule_nests_deeper_than_pulumis_waf_rules_allow():
    """Pulumi's (Terraform's) WAF rule schema takes three levels of nested statements at most
    (pulumi/pulumi-aws#4868); the rules keep to two."""
    rules = web_acl_rules(STAGE, UI, RateLimits(address=20_000, caller=10_000))
    assert max(_depth(rule["statement"]) for rule in rules) == 2
    # the label rule only counts, before every rule that reads its label
    [label_rule] = label_rules(STAGE)
    assert rules[0] == label_rule and label_rule["action"] == {"count": {}}
    assert [r["priority"] for r in rules] == list(range(len(rules)))
