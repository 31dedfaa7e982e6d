"""Every IAM document the program emits (both stacks under mocks: identity, trust, key, bucket,
topic, API and log-delivery policies) and every policy the Lambda authorizer returns, linted
with parliament (issue 29, item 5): no malformed policy, unknown action or service, resource
that matches none of the action's resource types, or condition key the action lacks, but for
the documented exceptions below (docs/security.md, "IAM documents, linted").

A trust policy names no Resource (the role is it, as IAM reads it): it is linted with the
role's ARN as its Resource. parliament's action data is its release's (pinned in
requirements.txt): an action newer than it would be an exception here, named, not a weaker
test; none is needed today.
"""

import copy
import itertools
import json

import pytest
from parliament import analyze_policy_string

from authorizer.handler import render_policy
from roles import LEVELS, authorizer_rules
from roles.policies import level_set_key

from tests.pulumi_program import run_program, stack_config

# What the lint refuses (parliament's issue names)
REFUSED = {"MALFORMED", "MALFORMED_JSON", "UNKNOWN_ACTION", "UNKNOWN_PREFIX",
           "UNKNOWN_PRINCIPAL", "UNKNOWN_FEDERATION_SOURCE", "RESOURCE_MISMATCH",
           "UNKNOWN_CONDITION_FOR_ACTION", "INVALID_ARN", "UNKNOWN_OPERATOR"}
GITHUB = "token.actions.githubusercontent.com"
# (whose documents, issue, what the finding's detail holds, why it is not a defect). Each must
# still be found, so an exception that no longer applies fails the test and leaves this list.
EXCEPTIONS = [
    ("", "UNKNOWN_CONDITION_FOR_ACTION", f"Unknown condition {GITHUB}:aud for action "
     "sts:AssumeRoleWithWebIdentity",
     "an OIDC provider's own keys (<host>:aud, <host>:sub) are IAM's for "
     "AssumeRoleWithWebIdentity; parliament knows only services' and global keys"),
    ("", "UNKNOWN_CONDITION_FOR_ACTION", f"Unknown condition {GITHUB}:sub for action "
     "sts:AssumeRoleWithWebIdentity", "the same, for the token's subject"),
    ("", "UNKNOWN_FEDERATION_SOURCE", f":oidc-provider/{GITHUB}",
     "IAM's OIDC providers (arn:aws:iam::<account>:oidc-provider/<host>) are newer than "
     "parliament's check, which knows the four web-identity providers and SAML"),
    ("authorizer ", "INVALID_ARN", "Does not have 6 parts in *",
     "the authorizer's resources that start with `*`: the hostile shapes refused anywhere in "
     "a path (`*%2F*`, `*//*`) and the compacted families (`*/GET/ajax-api/...`, each "
     "anchored by an explicit Deny: docs/architecture.md); a Resource may be any wildcard "
     "pattern, and API Gateway matches it against the whole execute-api ARN"),
    ("central BucketPolicy", "RESOURCE_MISMATCH", "'action': 's3:GetObject'",
     "the serving roles' read of `registry/workspaces/${aws:PrincipalTag/mlflow-team}/*`: "
     "parliament cuts the policy variable at its `/` and no longer sees an object ARN "
     "(`${aws:username}` in the same place passes); IAM resolves the variable whole"),
    ("datascience ", "RESOURCE_MISMATCH", "ec2:CreateNetworkInterface",
     "CreateNetworkInterface is authorised on the subnet, the new interface and the security "
     "group, each against every statement: the team's roles allow the subnets in one "
     "statement and the interface and group, under ec2:Vpc, in another; parliament judges "
     "each statement alone"),
]
STUDIO = {"enabled": True, "vpcId": "vpc-0123456789abcdef0",
          "subnetIds": ["subnet-0123456789abcdef0"]}
API_ARN = "arn:aws:execute-api:us-east-1:111111111111:abcde12345/prod"


def _with_ci(config, stack):
    config[f"mlflow-landing-zone:{stack}"]["ci"] = {"githubRepository": "my-org/mlz"}
    return config


def _documents(inventory, stack):
    """(where, document) of every property holding a policy document."""
    found = []
    for r in inventory.resources:
        if not r.custom:
            continue
        for key, value in sorted(r.inputs.items()):
            document = value
            if isinstance(value, str):
                try:
                    document = json.loads(value)
                except ValueError:
                    continue
            if not isinstance(document, dict) or "Statement" not in document:
                continue
            document = copy.deepcopy(document)
            if key == "assumeRolePolicy":
                for statement in document["Statement"]:
                    statement.setdefault("Resource", r.outputs["arn"])
            found.append((f"{stack} {r.type.split(':')[-1]} {r.name} {key}", document))
    return found


@pytest.fixture(scope="module")
def documents():
    central = run_program(_with_ci(stack_config("central"), "central"))
    team = _with_ci(stack_config("datascience"), "datascience")
    team["mlflow-landing-zone:datascience"]["studio"] = STUDIO
    found = _documents(central, "central")
    found += _documents(run_program(team, stack="datascience"), "datascience")
    rules = authorizer_rules()
    for kind in ("rules", "team_rules"):
        for n in range(1, len(LEVELS) + 1):
            for levels in itertools.combinations(LEVELS, n):
                found.append((f"authorizer {kind} {','.join(levels)}",
                              render_policy(rules[kind][level_set_key(levels)], API_ARN)))
    return found


def findings(document):
    """(issue, detail) of every refused finding; the detail with the string it is about
    (`... in <resource>`) where parliament names one."""
    out = []
    for f in analyze_policy_string(json.dumps(document)).findings:
        if f.issue in REFUSED:
            about = (f.location or {}).get("string")
            out.append((f.issue, f"{f.detail} in {about}" if about else str(f.detail)))
    return out


def _excused(where, issue, detail):
    return next((e for e in EXCEPTIONS
                 if where.startswith(e[0]) and e[1] == issue and e[2] in detail), None)


def test_every_iam_document_lints_clean_but_the_documented_exceptions(documents):
    kinds = {where.split(" ")[1] for where, _ in documents}
    # identity, trust (Role), key, bucket, topic, API and log-delivery policies, the authorizer's
    assert {"RolePolicy", "Policy", "Role", "Key", "BucketPolicy", "TopicPolicy",
            "RestApiPolicy", "LogResourcePolicy", "rules", "team_rules"} <= kinds, kinds
    assert len(documents) > 90
    defects, used = [], set()
    for where, document in documents:
        for issue, detail in findings(document):
            exception = _excused(where, issue, detail)
            if exception is None:
                defects.append((where, issue, detail))
            else:
                used.add(exception[2])
    assert defects == []
    assert used == {e[2] for e in EXCEPTIONS}, "an exception that no longer applies"


@pytest.mark.parametrize("document, issue", [
    # the central roles' old dead grant: listing uploads under a prefix the action lacks
    ({"Statement": [{"Effect": "Allow", "Action": "s3:ListBucketMultipartUploads",
                     "Resource": "arn:aws:s3:::b", "Condition": {"StringLike": {
                         "s3:prefix": "workspaces/team-a/*"}}}]}, "UNKNOWN_CONDITION_FOR_ACTION"),
    # the team roles' old List actions on ARNs they do not take
    ({"Statement": [{"Effect": "Allow", "Action": "sagemaker:ListApps",
                     "Resource": "arn:aws:sagemaker:us-east-1:222222222222:app/*"}]},
     "RESOURCE_MISMATCH"),
    ({"Statement": [{"Effect": "Allow", "Action": "execute-api:Invok", "Resource": "*"}]},
     "UNKNOWN_ACTION"),
    ({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                     "Action": "sts:AssumeRole"}]}, "MALFORMED"),
])
def test_the_lint_finds_what_it_refuses(document, issue):
    assert issue in {i for i, _ in findings({"Version": "2012-10-17", **document})}
