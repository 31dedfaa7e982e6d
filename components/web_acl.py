"""The API's web ACL (AWS WAF): requests that another site made a browser send are refused
before the authorizer and before MLflow; and, unless the stack's config turns edge protection
off (`api.waf.enabled`), one address may send only so many requests (a rate-based rule) and
AWS's managed rule groups refuse known-bad addresses and inputs.

The rules are `spec.edge.cross_site_refusal`, the function the sandbox's gateway applies, said
in WAF's statements (`tests/components/test_web_acl.py` evaluates them against it, case by case). They sit
in WAF rather than in the authorizer because API Gateway caches the authorizer's answer per
token: a decision on other headers there would be reused for requests it never saw.
"""

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from spec.edge import CROSS_SITE_RULES, REFUSED_FETCH_SITES, cross_site_body, ui_redirect_paths

from ._util import child, type_token
from .tracking_server import origin_of

BLOCKED_STATUS = 403
RATE_RULE = "RequestsPerAddress"
RATE_WINDOW_SECONDS = 300
# AWS managed rule groups, in evaluation order, each with the rules it only counts. Counted are
# the rules that read what data scientists send as a matter of course: bodies of logged
# metrics, traces and prompts over 8 KB or holding HTML, paths and URLs; long search filters;
# artifacts named *.log or *.ini fetched by name in the query. Blocking those would refuse
# their work; WAF's metrics still show every match.
MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesAmazonIpReputationList", ()),
    ("AWSManagedRulesKnownBadInputsRuleSet", ()),
    ("AWSManagedRulesCommonRuleSet", (
        "SizeRestrictions_BODY", "SizeRestrictions_QUERYSTRING", "CrossSiteScripting_BODY",
        "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY",
        "RestrictedExtensions_QUERYARGUMENTS")),
)


@dataclass
class WebAclArgs:
    stage_arn: pulumi.Input[str]  # arn:aws:apigateway:REGION::/restapis/ID/stages/STAGE
    stage: str
    ui_url: pulumi.Input[str]  # https://main.<app>.amplifyapp.com: the one Origin allowed
    teams: tuple = ()  # whose base paths redirect to the UI too
    # requests one address may send in 5 minutes, then refused for a while (429);
    # None: no rate-based rule and no managed rule groups (config api.waf.enabled false)
    rate_limit: int = None


def _visibility(metric: str) -> dict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric,
            "sampled_requests_enabled": True}


def _header(name: str) -> dict:
    return {"single_header": {"name": name}}


def not_the_redirect(stage: str, teams=()) -> dict:
    """Every path but those whose `GET` sends a browser to the UI (the API's root and each
    team's base path, `spec.edge.ui_redirect_paths`): a link to one from anywhere (a chat, an
    email) must work. WAF sees the path with or without the stage. One exact match per path
    (a regex over every team name would outgrow WAF's 200 characters)."""
    paths = {p for path in ui_redirect_paths(teams) for p in (path, f"/{stage}{path}")}
    paths.add(f"/{stage}")
    exact = [{"byte_match_statement": {
        "positional_constraint": "EXACTLY", "search_string": path,
        "field_to_match": {"uri_path": {}},
        "text_transformations": [{"priority": 0, "type": "NONE"}]}} for path in sorted(paths)]
    return {"not_statement": {"statement": {"or_statement": {"statements": exact}}}}


def rule_statements(stage: str, ui_origin: pulumi.Input[str], teams=()) -> dict:
    """The statement of each rule of `spec.edge.CROSS_SITE_RULES`, by name."""
    sites = "|".join(re.escape(s) for s in REFUSED_FETCH_SITES)
    return {
        "OtherSiteRequest": {"and_statement": {"statements": [
            not_the_redirect(stage, teams),
            {"regex_match_statement": {
                "regex_string": f"^({sites})$", "field_to_match": _header("sec-fetch-site"),
                "text_transformations": [{"priority": 0, "type": "LOWERCASE"}]}},
        ]}},
        "ForeignOrigin": {"and_statement": {"statements": [
            not_the_redirect(stage, teams),
            {"size_constraint_statement": {  # present and not empty
                "comparison_operator": "GT", "size": 0, "field_to_match": _header("origin"),
                "text_transformations": [{"priority": 0, "type": "NONE"}]}},
            {"not_statement": {"statement": {"byte_match_statement": {
                "positional_constraint": "EXACTLY", "search_string": ui_origin,
                "field_to_match": _header("origin"),
                "text_transformations": [{"priority": 0, "type": "NONE"}]}}}},
        ]}},
    }


def edge_protection_rules(first_priority: int, rate_limit: int) -> list:
    """The rate-based rule and the managed rule groups, from `first_priority` on: after the
    cross-site rules, so a forged request is refused as such whatever its rate."""
    rules = [{
        "name": RATE_RULE, "priority": first_priority,
        "statement": {"rate_based_statement": {
            "limit": rate_limit, "aggregate_key_type": "IP",
            "evaluation_window_sec": RATE_WINDOW_SECONDS}},
        "action": {"block": {"custom_response": {
            "response_code": 429, "custom_response_body_key": _body_key(RATE_RULE)}}},
        "visibility_config": _visibility(RATE_RULE),
    }]
    for offset, (group, counted) in enumerate(MANAGED_RULE_GROUPS, start=1):
        statement = {"vendor_name": "AWS", "name": group}
        if counted:
            statement["rule_action_overrides"] = [
                {"name": rule, "action_to_use": {"count": {}}} for rule in counted]
        rules.append({
            "name": group, "priority": first_priority + offset,
            "statement": {"managed_rule_group_statement": statement},
            "override_action": {"none": {}},
            "visibility_config": _visibility(group),
        })
    return rules


def rate_limited_body(rate_limit: int) -> dict:
    return {"error_code": "REQUEST_LIMIT_EXCEEDED",
            "message": f"Refused: more than {rate_limit} requests from your address in "
                       f"{RATE_WINDOW_SECONDS // 60} minutes. Wait a minute and retry (MLflow's "
                       f"client retries by itself)."}


def _body_key(rule: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", rule).lower()


class WebAcl(pulumi.ComponentResource):
    arn: pulumi.Output

    def __init__(self, name: str, args: WebAclArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("web_acl", "WebAcl"), name, None, opts)
        ui_origin = pulumi.Output.from_input(args.ui_url).apply(origin_of)
        statements = rule_statements(args.stage, ui_origin, args.teams)
        rules = [{
            "name": rule, "priority": priority, "statement": statements[rule],
            "action": {"block": {"custom_response": {
                "response_code": BLOCKED_STATUS, "custom_response_body_key": _body_key(rule)}}},
            "visibility_config": _visibility(rule),
        } for priority, rule in enumerate(CROSS_SITE_RULES)]
        bodies = [{
            "key": _body_key(rule), "content_type": "APPLICATION_JSON",
            # the same body as the sandbox's gateway sends (MLflow's error shape)
            "content": ui_origin.apply(lambda origin, r=rule: json.dumps(cross_site_body(r, origin))),
        } for rule in CROSS_SITE_RULES]
        if args.rate_limit is not None:
            rules += edge_protection_rules(len(rules), args.rate_limit)
            bodies.append({"key": _body_key(RATE_RULE), "content_type": "APPLICATION_JSON",
                           "content": json.dumps(rate_limited_body(args.rate_limit))})
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-acl",
            description="MLflow API: refuse what another site makes a browser send, floods "
                        "and known-bad inputs",
            scope="REGIONAL",
            default_action={"allow": {}},
            custom_response_bodies=bodies,
            rules=rules,
            visibility_config=_visibility(f"{name}-acl"),
            opts=child(self))
        self.association = aws.wafv2.WebAclAssociation(
            f"{name}-stage", resource_arn=args.stage_arn, web_acl_arn=self.web_acl.arn,
            opts=child(self))
        self.arn = self.web_acl.arn
        self.register_outputs({"arn": self.arn})
