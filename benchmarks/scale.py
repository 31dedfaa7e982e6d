"""How the central program scales with teams: evaluation time and every AWS limit's fill.

    python -m benchmarks.scale [--teams 10 50 150 300] [--smoke]

For each team count it generates a stack config (32-character names, each team's workspace
shared with 5 others, the first shared with every team, every team with all four levels), runs
the central program under Pulumi mocks (no AWS) and reads from what it registered how full each
AWS limit is. The team count at which a limit would be reached is extrapolated linearly from
the two largest runs ("never" when the fill does not grow). tests/components/test_scale.py
asserts the fills at 300 teams (under 80 % each); docs/operations.md keeps the table.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = {"teams": [3, 6]}  # --smoke: two small runs, for the test suite
NAME_LENGTH = 32
SHARED_WITH = 5
IAM_ROLE_QUOTA = 2_000  # what the generated config declares (iamQuotas): 300 x 4 roles need it
# what it declares of EventBridge's rules per bus (eventBridgeQuotas; 300 by default): 300
# forward rules and 2 others need more
EVENT_RULES_QUOTA = 500

# Published WCUs of the AWS managed rule groups the web ACL uses (AWS WAF developer guide,
# "AWS Managed Rules rule groups list"), and of the statements it is written with.
MANAGED_GROUP_WCU = {"AWSManagedRulesCommonRuleSet": 700,
                     "AWSManagedRulesKnownBadInputsRuleSet": 200,
                     "AWSManagedRulesAmazonIpReputationList": 25,
                     "AWSManagedRulesAnonymousIpList": 50,
                     "AWSManagedRulesSQLiRuleSet": 200}
BYTE_MATCH_WCU = {"EXACTLY": 2, "STARTS_WITH": 2, "ENDS_WITH": 2, "CONTAINS": 10,
                  "CONTAINS_WORD": 10}
TRANSFORMATION_WCU = 10  # each text transformation but NONE

# limit -> (AWS's value, what it is, adjustable)
LIMITS = {
    "API resource policy (chars)": (8_192, "API Gateway resource policy size", False),
    "Lambda environment (bytes)": (4_096, "Lambda environment variables, all together", False),
    "API resources": (300, "API Gateway resources per REST API", True),
    "WAF WCU (estimate)": (1_500, "WCUs of a web ACL before extra charges (5,000 max)", False),
    "managed policies per role": (10, "IAM managed policies per role", True),
    "managed policies per account": (1_500, "IAM customer managed policies per account", True),
    "Cognito groups": (10_000, "Cognito groups per user pool", False),
    "IAM roles": (IAM_ROLE_QUOTA, "IAM roles per account (1,000 by default: raised)", True),
    "bucket policy (bytes)": (20_480, "S3 bucket policy size", False),
    "key policy (bytes)": (32_768, "KMS key policy size", False),
    "largest authorizer policy (chars)": (10_240, "IAM inline policy size (no smaller "
                                                  "published bound for an authorizer's)", False),
    "central bus policy (chars)": (10_240, "EventBridge event bus policy size", True),
    "central bus rules": (EVENT_RULES_QUOTA, "EventBridge rules per event bus (300 by "
                                             "default: raised)", True),
}


def team_names(count: int) -> list:
    return [f"team-{i:0{NAME_LENGTH - 5}d}" for i in range(count)]


def scale_config(teams: int) -> dict:
    """The central stack config with `teams` teams: 32-character names, every level, each
    shared with the next 5 teams, the first with every other."""
    sys.path.insert(0, str(ROOT))
    from roles import LEVELS
    from tests.pulumi_program import stack_config

    config = stack_config("central")
    central = dict(config["mlflow-landing-zone:central"])
    names = team_names(teams)
    rows = []
    for i, name in enumerate(names):
        others = [n for n in names if n != name]
        shared = others if i == 0 else [names[(i + k) % teams] for k in range(1, SHARED_WITH + 1)
                                        if names[(i + k) % teams] != name]
        rows.append({"name": name, "accountId": f"{200000000000 + i:012d}",
                     "levels": list(LEVELS), "sharedWith": sorted(set(shared))})
    central["teams"] = rows
    central["iamQuotas"] = {"rolesPerAccount": IAM_ROLE_QUOTA}
    central["eventBridgeQuotas"] = {"rulesPerBus": EVENT_RULES_QUOTA}
    config["mlflow-landing-zone:central"] = central
    return config


def _policy(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


def _compact(document) -> int:
    """A policy's size as AWS counts it: its JSON without whitespace."""
    from roles import policy_size

    return policy_size(_policy(document))


def _statement_wcu(statement: dict) -> int:
    """WCUs of one web ACL statement (Pulumi's camelCase inputs), after AWS's published
    costs; unknown statements raise, so the estimate never silently drops one."""
    (kind, body), = statement.items()
    transformations = sum(TRANSFORMATION_WCU for t in body.get("textTransformations", [])
                          if t.get("type") != "NONE")
    if kind in ("andStatement", "orStatement"):
        return sum(_statement_wcu(s) for s in body["statements"])
    if kind == "notStatement":
        return _statement_wcu(body["statement"])
    if kind == "byteMatchStatement":
        return BYTE_MATCH_WCU[body["positionalConstraint"]] + transformations
    if kind == "regexMatchStatement":
        return 3 + transformations
    if kind == "regexPatternSetReferenceStatement":
        return 25 + transformations
    if kind in ("sizeConstraintStatement", "geoMatchStatement", "ipSetReferenceStatement",
                "labelMatchStatement"):
        return 1 + transformations
    if kind == "rateBasedStatement":
        keys = len(body.get("customKeys") or [])
        scope = body.get("scopeDownStatement")
        return 2 + 30 * keys + (_statement_wcu(scope) if scope else 0)
    if kind == "managedRuleGroupStatement":
        return MANAGED_GROUP_WCU[body["name"]]
    raise ValueError(f"no WCU estimate for a {kind}")


def waf_wcu(web_acl) -> int:
    return sum(_statement_wcu(rule["statement"]) for rule in web_acl.inputs["rules"])


def _largest_authorizer_policy(api_arn: str) -> int:
    """The largest policy the Lambda authorizer may return, over every combination of levels,
    for the platform's groups and in a team's workspace (its own renderer, on its data)."""
    from authorizer.handler import render_policy
    from roles import authorizer_rules, policy_size

    data = authorizer_rules()
    return max(policy_size(render_policy(rules, api_arn))
               for table in ("rules", "team_rules") for rules in data[table].values())


def fills(inventory, config) -> dict:
    """Each limit's value in what the program registered: {limit: (value, AWS's limit)}."""
    from spec.registry_events import EVENT_BUS_NAME
    from tests.pulumi_program import API_ID

    region = config.get("aws:region", "us-east-1")
    account = config["mlflow-landing-zone:central"]["accountId"]
    api_arn = f"arn:aws:execute-api:{region}:{account}:{API_ID}/prod"
    attachments = {}  # role -> managed policies attached
    for a in inventory.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        attachments[a.inputs["role"]] = attachments.get(a.inputs["role"], 0) + 1
    for a in inventory.of_type(
            "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"):
        role = a.inputs["roleName"]
        attachments[role] = attachments.get(role, 0) + len(a.inputs["policyArns"])
    authorizer = next(f for f in inventory.of_type("aws:lambda/function:Function")
                      if "authorizer" in f.name)
    variables = (authorizer.inputs.get("environment") or {}).get("variables") or {}
    values = {
        "API resource policy (chars)": max(
            _compact(p.inputs["policy"])
            for p in inventory.of_type("aws:apigateway/restApiPolicy:RestApiPolicy")),
        "Lambda environment (bytes)": sum(len(k.encode()) + len(str(v).encode())
                                          for k, v in variables.items()),
        "API resources": len(inventory.of_type("aws:apigateway/resource:Resource")) + 1,  # root
        "WAF WCU (estimate)": waf_wcu(inventory.one("aws:wafv2/webAcl:WebAcl")),
        "managed policies per role": max(attachments.values(), default=0),
        "managed policies per account": len(inventory.of_type("aws:iam/policy:Policy")),
        "Cognito groups": len(inventory.of_type("aws:cognito/userGroup:UserGroup")),
        "IAM roles": len(inventory.of_type("aws:iam/role:Role")),
        "bucket policy (bytes)": _compact(
            inventory.one("aws:s3/bucketPolicy:BucketPolicy", "artifacts").inputs["policy"]),
        "key policy (bytes)": _compact(
            inventory.one("aws:kms/key:Key", "store-key").inputs["policy"]),
        "largest authorizer policy (chars)": _largest_authorizer_policy(api_arn),
        "central bus policy (chars)": _compact(inventory.one(
            "aws:cloudwatch/eventBusPolicy:EventBusPolicy", "registry-events").inputs["policy"]),
        "central bus rules": len([r for r in inventory.of_type("aws:cloudwatch/eventRule:EventRule")
                                  if r.inputs.get("eventBusName") == EVENT_BUS_NAME]),
    }
    return {name: (value, LIMITS[name][0]) for name, value in values.items()}


def measure(teams: int) -> dict:
    """One run of the central program under mocks with `teams` teams."""
    sys.path.insert(0, str(ROOT))
    from tests.pulumi_program import run_program

    config = scale_config(teams)
    start, cpu = time.perf_counter(), time.process_time()
    inventory = run_program(config)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"teams": teams, "seconds": seconds, "cpu": cpu, "resources": len(inventory.resources),
            "methods": len(inventory.of_type("aws:apigateway/method:Method")),
            "fills": fills(inventory, config)}


def reached_at(runs, name) -> str:
    """The team count at which `name` reaches its limit, from the two largest runs."""
    (a, b) = runs[-2:]
    (va, limit), (vb, _) = a["fills"][name], b["fills"][name]
    if vb <= va:
        return "never (constant)" if vb < limit else "reached"
    per_team = (vb - va) / (b["teams"] - a["teams"])
    return f"~{int(b['teams'] + (limit - vb) / per_team):,}"


def table(runs) -> str:
    head = ("| limit (AWS) | " + " | ".join(f"{r['teams']} teams" for r in runs)
            + " | reached at |")
    lines = [head, "|" + "---|" * (len(runs) + 2)]
    for name, (limit, what, adjustable) in LIMITS.items():
        cells = []
        for r in runs:
            value, _ = r["fills"][name]
            cells.append(f"{value:,} ({100 * value / limit:.0f} %)")
        lines.append(f"| {name}: {limit:,}, {what}{' (adjustable)' if adjustable else ''} | "
                     + " | ".join(cells) + f" | {reached_at(runs, name)} |")
    lines.append("| API methods (no quota of their own) | "
                 + " | ".join(f"{r['methods']:,}" for r in runs) + " | |")
    lines.append("| evaluation under mocks: wall (CPU) | "
                 + " | ".join(f"{r['seconds']:.1f} s ({r['cpu']:.1f} s)" for r in runs)
                 + " | |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, nargs="+", default=[10, 50, 150, 300])
    parser.add_argument("--smoke", action="store_true",
                        help=f"two small runs ({SMOKE}), for the test suite; figures meaningless")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    runs = []
    for teams in sorted(args.teams):
        run = measure(teams)
        runs.append(run)
        print(f"{teams} teams: central program under mocks in {run['seconds']:.1f} s "
              f"({run['cpu']:.1f} s CPU), {run['resources']:,} resources", flush=True)
    print(table(runs))


if __name__ == "__main__":
    main()
