"""The API's web ACL (AWS WAF): requests that another site made a browser send are refused
before the authorizer and before MLflow; and, unless the stack's config turns edge protection
off (`api.waf.enabled`), one caller (a SigV4 session, a browser user's token) and one address
may send only so many requests (rate-based rules) and AWS's managed rule groups refuse
known-bad addresses and inputs.

No rule names a team, so the web ACL's capacity (WCU) is the same for any number of teams:
each statement's cost is in a comment beside it, and `estimated_wcu` adds them up as AWS
documents them (the scale benchmark reads it).

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

from spec.edge import (
    CROSS_SITE_RULES,
    LITERAL_SEGMENTS,
    REFUSED_FETCH_SITES,
    cross_site_body,
)

from ._util import child, type_token
from .tracking_server import origin_of

BLOCKED_STATUS = 403
RATE_WINDOW_SECONDS = 300
# The rate-based rules, each keyed on whom it counts (spec.config WafSettings): a SigV4 caller
# by its session (an assumed role's session token: one SageMaker job, one notebook), a browser
# user by their Cognito token, and, as a ceiling over all of them, an address (a team's NAT, a
# CloudFront address of the UI, or one client). One team's jobs behind one NAT, or every user
# behind one of CloudFront's addresses, no longer share one caller's allowance.
SESSION_RULE, USER_RULE, ADDRESS_RULE = "RequestsPerSession", "RequestsPerUser", "RequestsPerAddress"
SESSION_TOKEN_HEADER = "x-amz-security-token"  # SigV4 with temporary credentials
BEARER = "Bearer "  # the UI's `Authorization: Bearer <id token>` (the authorizer's form)
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


@dataclass(frozen=True)
class RateLimits:
    """Requests per 5 minutes (then 429 for a while) of the rate-based rules."""
    address: int  # one source address, all requests (api.waf.rateLimit)
    caller: int  # one SigV4 session, or one browser user's token (api.waf.callerRateLimit)


@dataclass
class WebAclArgs:
    stage_arn: pulumi.Input[str]  # arn:aws:apigateway:REGION::/restapis/ID/stages/STAGE
    stage: str
    ui_url: pulumi.Input[str]  # https://main.<app>.amplifyapp.com: the one Origin allowed
    # None: no rate-based rules and no managed rule groups (config api.waf.enabled false)
    rate_limits: RateLimits = None
    # The web ACL's log: every request WAF judged (what it blocked, and why), kept as long as
    # the stack's other logs; WAF's sampled requests last only 3 hours
    account_id: str = None
    region: str = None
    log_retention_days: int = 90
    logs_key_arn: pulumi.Input[str] = None  # the stack's logs key (components/logs_key.py)


def _visibility(metric: str) -> dict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric,
            "sampled_requests_enabled": True}


# WAF's log group must be named so (AWS WAF's rule for a logging destination)
WAF_LOG_PREFIX = "aws-waf-logs-"
# Credentials never reach the log: the browser's token (`Authorization: Bearer ...`; a SigV4
# Authorization header holds only a signature), cookies, and an assumed role's session token
REDACTED_HEADERS = ("authorization", "cookie", SESSION_TOKEN_HEADER)


def redacted_fields() -> list:
    return [{"single_header": {"name": header}} for header in REDACTED_HEADERS]


def log_delivery_policy(log_group_arn, account_id: str, region: str) -> dict:
    """The log group's resource policy: AWS's log delivery service writes WAF's log for this
    account's web ACLs only (else WAF adds a broader one of its own at the first delivery)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "WafLogDeliveryOfThisAccount", "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": f"{log_group_arn}:*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{region}:{account_id}:*"}}}]}


def _header(name: str) -> dict:
    return {"single_header": {"name": name}}


_NONE = [{"priority": 0, "type": "NONE"}]


def _path_regex(regex: str) -> dict:
    return {"regex_match_statement": {"regex_string": regex, "field_to_match": {"uri_path": {}},
                                      "text_transformations": _NONE}}


def redirect_path_regexes(stage: str) -> tuple:
    """(the redirects' shape, the API's literal segments): a path is a redirect's
    (spec.edge.is_ui_redirect_path) when it matches the first and not the second. WAF sees the
    path with or without the stage. Non-capturing groups: WAF refuses capturing ones."""
    literals = "|".join(re.escape(s) for s in sorted(LITERAL_SEGMENTS))
    stage = re.escape(stage)
    return (f"^(?:/{stage})?(?:/[^/]+)?/?$", f"^(?:/{stage})?/(?:{literals})/?$")


# The paths whose `GET` sends a browser to the UI (the API's root and a team's base path,
# `spec.edge.is_ui_redirect_path`) are labelled by a first rule that only counts, and the
# cross-site rules spare what carries the label: a link to one from anywhere (a chat, an
# email) must work. Matched by shape, so no rule names a team: one path segment that is not
# one of the API's literal resources (every such path reaches no authorizer and no MLflow:
# its one method is the redirect). A label keeps each rule within the two levels of nested
# statements Pulumi's WAF rules allow (three at most, pulumi/pulumi-aws#4868).
REDIRECT_RULE = "RedirectPath"
REDIRECT_LABEL = "landing-zone:redirect-path"


def redirect_path_statement(stage: str) -> dict:
    """6 WCU: two regex statements of 3."""
    shape, literal = redirect_path_regexes(stage)
    return {"and_statement": {"statements": [
        _path_regex(shape), {"not_statement": {"statement": _path_regex(literal)}}]}}


def not_the_redirect() -> dict:
    """1 WCU: a label match."""
    return {"not_statement": {"statement": {"label_match_statement": {
        "scope": "LABEL", "key": REDIRECT_LABEL}}}}


def label_rules(stage: str) -> list:
    """The rules that only label, before every other."""
    return [{"name": REDIRECT_RULE, "priority": 0, "statement": redirect_path_statement(stage),
             "action": {"count": {}}, "rule_labels": [{"name": REDIRECT_LABEL}],
             "visibility_config": _visibility(REDIRECT_RULE)}]


def rule_statements(stage: str, ui_origin: pulumi.Input[str]) -> dict:
    """The statement of each rule of `spec.edge.CROSS_SITE_RULES`, by name (after
    `label_rules(stage)`)."""
    del stage  # the label rule reads the path
    sites = "|".join(re.escape(s) for s in REFUSED_FETCH_SITES)
    return {
        # 14 WCU: 1 (the redirect's label), 13 (a regex with one transformation)
        "OtherSiteRequest": {"and_statement": {"statements": [
            not_the_redirect(),
            {"regex_match_statement": {
                "regex_string": f"^(?:{sites})$", "field_to_match": _header("sec-fetch-site"),
                "text_transformations": [{"priority": 0, "type": "LOWERCASE"}]}},
        ]}},
        # 4 WCU: 1 (the redirect's label), 1 (size), 2 (an exact match)
        "ForeignOrigin": {"and_statement": {"statements": [
            not_the_redirect(),
            {"size_constraint_statement": {  # present and not empty
                "comparison_operator": "GT", "size": 0, "field_to_match": _header("origin"),
                "text_transformations": _NONE}},
            {"not_statement": {"statement": {"byte_match_statement": {
                "positional_constraint": "EXACTLY", "search_string": ui_origin,
                "field_to_match": _header("origin"), "text_transformations": _NONE}}}},
        ]}},
    }


def _header_key(name: str) -> dict:
    return {"header": {"name": name, "text_transformations": _NONE}}


def rate_statements(limits: RateLimits) -> dict:
    """The rate-based statement of each rate rule, by name. A request lacking a custom key's
    header is not counted by that rule (WAF's rule for custom keys)."""
    def statement(limit, **keys):
        return {"rate_based_statement": {"limit": limit,
                                         "evaluation_window_sec": RATE_WINDOW_SECONDS, **keys}}

    return {
        # 32 WCU: 2, and 30 for the custom key. The session token is the same for every call
        # of one assumed-role session and differs between sessions (each job assumes its own);
        # SigV4's Authorization header would not do: its signature differs on every request.
        SESSION_RULE: statement(limits.caller, aggregate_key_type="CUSTOM_KEYS",
                                custom_keys=[_header_key(SESSION_TOKEN_HEADER)]),
        # 34 WCU: 2, 30 for the key, 2 for the scope-down (a STARTS_WITH match): only a
        # browser's token is a key, not a SigV4 Authorization header
        USER_RULE: statement(limits.caller, aggregate_key_type="CUSTOM_KEYS",
                             custom_keys=[_header_key("authorization")],
                             scope_down_statement={"byte_match_statement": {
                                 "positional_constraint": "STARTS_WITH", "search_string": BEARER,
                                 "field_to_match": _header("authorization"),
                                 "text_transformations": _NONE}}),
        # 2 WCU. Every request, so that inventing credential headers (each a key of its own
        # above) does not escape a limit.
        ADDRESS_RULE: statement(limits.address, aggregate_key_type="IP"),
    }


def edge_protection_rules(first_priority: int, limits: RateLimits) -> list:
    """The rate-based rules and the managed rule groups, from `first_priority` on: after the
    cross-site rules, so a forged request is refused as such whatever its rate."""
    rules = [{
        "name": rule, "priority": first_priority + offset, "statement": statement,
        "action": {"block": {"custom_response": {
            "response_code": 429, "custom_response_body_key": _body_key(rule)}}},
        "visibility_config": _visibility(rule),
    } for offset, (rule, statement) in enumerate(rate_statements(limits).items())]
    for offset, (group, counted) in enumerate(MANAGED_RULE_GROUPS, start=len(rules)):
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


_WHOM = {SESSION_RULE: "your session (one set of assumed-role credentials)",
         USER_RULE: "your signed-in session", ADDRESS_RULE: "your address"}


def rate_limited_body(rule: str, limit: int) -> dict:
    return {"error_code": "REQUEST_LIMIT_EXCEEDED",
            "message": f"Refused: more than {limit} requests from {_WHOM[rule]} in "
                       f"{RATE_WINDOW_SECONDS // 60} minutes. Wait a minute and retry (MLflow's "
                       f"client retries by itself)."}


def _body_key(rule: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", rule).lower()


def web_acl_rules(stage: str, ui_origin: pulumi.Input[str], limits: RateLimits = None) -> list:
    """Every rule of the web ACL, in priority order."""
    statements = rule_statements(stage, ui_origin)
    rules = label_rules(stage)
    rules += [{
        "name": rule, "priority": priority, "statement": statements[rule],
        "action": {"block": {"custom_response": {
            "response_code": BLOCKED_STATUS, "custom_response_body_key": _body_key(rule)}}},
        "visibility_config": _visibility(rule),
    } for priority, rule in enumerate(CROSS_SITE_RULES, start=len(rules))]
    if limits is not None:
        rules += edge_protection_rules(len(rules), limits)
    return rules


# --- capacity: WCU, as AWS documents them (docs.aws.amazon.com/waf/latest/developerguide/
# waf-rule-statements-match.html, -rate-based.html, aws-managed-rule-groups-list.html) ----------
WCU_LIMIT = 1_500  # a web ACL's capacity before extra charges (5,000 at most)
MANAGED_RULE_GROUP_WCU = {"AWSManagedRulesAmazonIpReputationList": 25,
                          "AWSManagedRulesKnownBadInputsRuleSet": 200,
                          "AWSManagedRulesCommonRuleSet": 700}
_MATCH_WCU = {"regex_match_statement": 3, "size_constraint_statement": 1,
              "regex_pattern_set_reference_statement": 25, "label_match_statement": 1,
              "ip_set_reference_statement": 1, "geo_match_statement": 1}
_UNTRANSFORMED = ("label_match_statement", "ip_set_reference_statement", "geo_match_statement")
_BYTE_MATCH_WCU = {"EXACTLY": 2, "STARTS_WITH": 2, "ENDS_WITH": 2, "CONTAINS": 10,
                   "CONTAINS_WORD": 10}


def statement_wcu(statement: dict) -> int:
    """A statement's WCU: logical statements cost their nested ones; a match its base cost and
    10 for each text transformation other than NONE."""
    [(kind, body)] = statement.items()
    if kind in ("and_statement", "or_statement"):
        return sum(statement_wcu(s) for s in body["statements"])
    if kind == "not_statement":
        return statement_wcu(body["statement"])
    if kind == "managed_rule_group_statement":
        return MANAGED_RULE_GROUP_WCU[body["name"]]
    if kind == "rate_based_statement":
        scope = body.get("scope_down_statement")
        return 2 + 30 * len(body.get("custom_keys", ())) + (statement_wcu(scope) if scope else 0)
    base = (_BYTE_MATCH_WCU[body["positional_constraint"]] if kind == "byte_match_statement"
            else _MATCH_WCU[kind])
    if kind in _UNTRANSFORMED:
        return base
    return base + 10 * sum(t["type"] != "NONE" for t in body["text_transformations"])


def rule_wcu(rules: list) -> dict:
    """{rule name: WCU}."""
    return {rule["name"]: statement_wcu(rule["statement"]) for rule in rules}


def estimated_wcu(stage: str = "prod", limits: RateLimits = RateLimits(10_000, 10_000),
                  teams=()) -> int:
    """The web ACL's WCU as deployed: the same for any number of teams (`teams` is taken, and
    ignored, for the scale benchmark's sake: no rule names one). `limits` None: edge
    protection off."""
    del teams
    return sum(rule_wcu(web_acl_rules(stage, "https://ui.example", limits)).values())


class WebAcl(pulumi.ComponentResource):
    arn: pulumi.Output

    def __init__(self, name: str, args: WebAclArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("web_acl", "WebAcl"), name, None, opts)
        ui_origin = pulumi.Output.from_input(args.ui_url).apply(origin_of)
        rules = web_acl_rules(args.stage, ui_origin, args.rate_limits)
        bodies = [{
            "key": _body_key(rule), "content_type": "APPLICATION_JSON",
            # the same body as the sandbox's gateway sends (MLflow's error shape)
            "content": ui_origin.apply(lambda origin, r=rule: json.dumps(cross_site_body(r, origin))),
        } for rule in CROSS_SITE_RULES]
        if args.rate_limits is not None:
            limits = {SESSION_RULE: args.rate_limits.caller, USER_RULE: args.rate_limits.caller,
                      ADDRESS_RULE: args.rate_limits.address}
            bodies += [{"key": _body_key(rule), "content_type": "APPLICATION_JSON",
                        "content": json.dumps(rate_limited_body(rule, limit))}
                       for rule, limit in limits.items()]
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
        self._logging(name, args)
        self.arn = self.web_acl.arn
        self.register_outputs({"arn": self.arn})

    def _logging(self, name: str, args: WebAclArgs):
        """WAF's log of every request, credentials redacted, in a log group of its own."""
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"{WAF_LOG_PREFIX}{name}",
            retention_in_days=args.log_retention_days, kms_key_id=args.logs_key_arn,
            opts=child(self))
        depends = []
        if args.account_id and args.region:
            depends.append(aws.cloudwatch.LogResourcePolicy(
                f"{name}-log-delivery", policy_name=f"{WAF_LOG_PREFIX}{name}",
                policy_document=self.log_group.arn.apply(lambda arn: json.dumps(
                    log_delivery_policy(arn, args.account_id, args.region))),
                opts=child(self)))
        self.logging = aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging", resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            redacted_fields=redacted_fields(),
            opts=child(self, depends_on=depends))
