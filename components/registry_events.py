"""The registry's events (spec.registry_events): the central account's bus, which the tracking
server puts one event on for every registry act, forwarded to each team's account by a rule of
its own, and written whole into the audit log group; and in a team's account, the bus that
receives them.

Least privilege both ways: each team's forward rule puts with a role of its own that may put
on that team's bus alone, and the team's bus admits only that role. The audit trail is the
central log group; forwarding it to a security account is a rule more (docs/operations.md,
"Registry events").
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from spec.registry_events import (
    AUDIT_LOG_GROUP,
    AUDIT_RULE_NAME,
    EVENT_BUS_NAME,
    audit_event_pattern,
    central_bus_policy,
    event_bus_arn,
    forward_role_name,
    forward_role_statements,
    forward_role_trust_policy,
    log_delivery_policy,
    log_group_arn,
    rule_arn,
    team_bus_policy,
    team_event_pattern,
    team_rule_name,
)

from ._util import child, type_token

# A team account keeps its record of the registry's events for a year.
TEAM_LOG_RETENTION_DAYS = 365


def _audit_trail(owner, name: str, bus, region: str, account_id: str, retention_days: int,
                 protect: bool, logs_key_arn=None):
    """Every event of `bus` written into the account's AUDIT_LOG_GROUP: the log group, the
    rule, its target and the Logs resource policy that lets EventBridge write there."""
    logs = aws.cloudwatch.LogGroup(
        f"{name}-audit", name=AUDIT_LOG_GROUP, retention_in_days=retention_days,
        kms_key_id=logs_key_arn, opts=child(owner, protect=protect, retain_on_delete=protect))
    rule = aws.cloudwatch.EventRule(
        f"{name}-audit", name=AUDIT_RULE_NAME, event_bus_name=bus.name,
        description="Every registry event into the audit log group",
        event_pattern=json.dumps(audit_event_pattern()), opts=child(owner))
    delivery = aws.cloudwatch.LogResourcePolicy(
        f"{name}-audit", policy_name=f"{EVENT_BUS_NAME}-audit",
        policy_document=json.dumps(log_delivery_policy(
            log_group_arn(region, account_id), rule_arn(region, account_id, AUDIT_RULE_NAME))),
        opts=child(owner))
    aws.cloudwatch.EventTarget(
        f"{name}-audit", rule=rule.name, event_bus_name=bus.name, target_id="audit-log",
        arn=logs.arn, opts=child(owner, depends_on=[delivery]))
    return logs


@dataclass
class RegistryEventsArgs:
    account_id: str
    region: str
    teams: tuple  # spec.config.Team: each team's name and account
    log_retention_days: int
    protect: bool
    logs_key_arn: pulumi.Input[str] = None  # the account's logs key (components/logs_key.py)


class RegistryEvents(pulumi.ComponentResource):
    """The central account's bus, its forward rule per team and its audit trail."""

    bus_arn: pulumi.Output
    audit_log_group_name: pulumi.Output

    def __init__(self, name: str, args: RegistryEventsArgs,
                 opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("registry_events", "RegistryEvents"), name, None, opts)
        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", name=EVENT_BUS_NAME,
                                           opts=child(self))
        self.audit_logs = _audit_trail(self, name, self.bus, args.region, args.account_id,
                                       args.log_retention_days, args.protect, args.logs_key_arn)
        # The team accounts' deployers report their endpoints' status here (and only that)
        aws.cloudwatch.EventBusPolicy(
            f"{name}-bus", event_bus_name=self.bus.name,
            policy=self.bus.arn.apply(lambda arn: json.dumps(central_bus_policy(
                arn, [team.account_id for team in args.teams]))),
            opts=child(self))
        self.forward_roles = {}
        for team in args.teams:
            team_bus = event_bus_arn(args.region, team.account_id)
            role = aws.iam.Role(
                f"{name}-to-{team.name}", name=forward_role_name(team.name),
                description=f"EventBridge forwards team {team.name}'s registry events to its "
                            "account's bus",
                assume_role_policy=json.dumps(forward_role_trust_policy(
                    args.region, args.account_id, team.name)),
                opts=child(self))
            aws.iam.RolePolicy(
                f"{name}-to-{team.name}", role=role.id,
                policy=json.dumps({"Version": "2012-10-17",
                                   "Statement": forward_role_statements(team_bus)}),
                opts=child(self))
            rule = aws.cloudwatch.EventRule(
                f"{name}-to-{team.name}", name=team_rule_name(team.name),
                event_bus_name=self.bus.name,
                description=f"Team {team.name}'s registry events to its account's bus",
                event_pattern=json.dumps(team_event_pattern(team.name)), opts=child(self))
            aws.cloudwatch.EventTarget(
                f"{name}-to-{team.name}", rule=rule.name, event_bus_name=self.bus.name,
                target_id="team-bus", arn=team_bus, role_arn=role.arn, opts=child(self))
            self.forward_roles[team.name] = role
        self.bus_arn = self.bus.arn
        self.audit_log_group_name = self.audit_logs.name
        self.register_outputs({"bus_arn": self.bus_arn,
                               "audit_log_group_name": self.audit_log_group_name})


@dataclass
class TeamEventBusArgs:
    team: str
    account_id: str
    central_account_id: str
    region: str
    logs_key_arn: pulumi.Input[str] = None  # the account's logs key (components/logs_key.py)


class TeamEventBus(pulumi.ComponentResource):
    """A team account's bus: the central account's forward role of this team alone puts on
    it; every event also lands in the account's own log group (the team's record). The team's
    deployer listens here."""

    bus_arn: pulumi.Output
    bus_name: pulumi.Output

    def __init__(self, name: str, args: TeamEventBusArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("registry_events", "TeamEventBus"), name, None, opts)
        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", name=EVENT_BUS_NAME,
                                           opts=child(self))
        aws.cloudwatch.EventBusPolicy(
            f"{name}-bus", event_bus_name=self.bus.name,
            policy=json.dumps(team_bus_policy(event_bus_arn(args.region, args.account_id),
                                              args.central_account_id, args.team)),
            opts=child(self))
        self.logs = _audit_trail(self, name, self.bus, args.region, args.account_id,
                                 TEAM_LOG_RETENTION_DAYS, protect=False,
                                 logs_key_arn=args.logs_key_arn)
        self.bus_arn = self.bus.arn
        self.bus_name = self.bus.name
        self.register_outputs({"bus_arn": self.bus_arn})
