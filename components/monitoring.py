"""What a platform engineer watches: CloudWatch alarms on the edge, the authorizer, the tracking
server and the database, sent to one SNS topic, and the dashboard to open first.

The topic is the stack's own (encrypted with a key CloudWatch may use) unless the config names
an existing one (`alarmTopicArn`: the organisation's on-call topic, in the stack's region).
Thresholds are set for the default sizes; every alarm is in the table below, one line each.
"""

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ._util import child, customer_managed_key, policy_json, type_token

PERIOD = 300  # seconds per datapoint
# Aurora PostgreSQL's default max_connections: LEAST(DBInstanceClassMemory / 9531392, 5000);
# Serverless v2 sets it from the cluster's maximum capacity, 2 GiB per ACU.
GIB_PER_ACU = 2
CONNECTIONS_ALARM_SHARE = 0.8


def max_connections(max_acu: float) -> int:
    return min(int(max_acu * GIB_PER_ACU * 2**30 / 9531392), 5000)


@dataclass(frozen=True)
class Alarm:
    """One alarm: `metric` in `namespace` over the dimensions of `on` (a key of the component's
    dimensions; "" for none, and `namespace` "" for the stack's own metrics), `statistic`
    compared with `threshold` for `periods` of PERIOD seconds.

    A rate (`floor` set): `metric`'s Sum over `floor_metric`'s Sum, counted only in a period
    with at least `floor` requests, so a quiet night's handful of 404s pages nobody."""
    name: str
    on: str
    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    periods: int
    description: str
    floor: int = 0
    floor_metric: str = "Count"


# The authorizer's own failures, from its log lines (authorizer/handler.py, authorizer/tokens.py:
# `failure` is set only for configuration, JWKS and internal errors, never for a bad token).
AUTHORIZER_FAILURE_PATTERN = '{ $.failure = "*" }'
AUTHORIZER_FAILURE_METRIC = "AuthorizerFailures"
# Requests in 5 minutes below which a rate alarm does not judge.
RATE_FLOOR_4XX = 200
RATE_FLOOR_5XX = 50


def alarms(max_acu: float) -> tuple:
    """Every alarm of the central stack (the running-task alarm, a comparison of two metrics,
    is `tasks-below-desired` in the component)."""
    connections = int(max_connections(max_acu) * CONNECTIONS_ALARM_SHARE)
    return (
        Alarm("api-5xx-rate", "api", "AWS/ApiGateway", "5XXError", "Average",
              "GreaterThanThreshold", 0.05, 3,
              f"More than 5% of API requests failed with 5xx for 15 minutes (counted when "
              f"{RATE_FLOOR_5XX} or more came in 5 minutes): MLflow, the VPC link or the "
              f"authorizer is failing. Open the dashboard, then the server's logs "
              f"(docs/operations.md, Alarms).", floor=RATE_FLOOR_5XX),
        Alarm("api-4xx-rate", "api", "AWS/ApiGateway", "4XXError", "Average",
              "GreaterThanThreshold", 0.25, 3,
              f"More than a quarter of API requests refused (4xx) for 15 minutes (counted when "
              f"{RATE_FLOOR_4XX} or more came in 5 minutes): look at the access log's callers "
              f"and statuses (dashboard) - one client with expired credentials, a team's "
              f"misconfigured job (tell the team), or probing (the web ACL's sampled "
              f"requests).", floor=RATE_FLOOR_4XX),
        Alarm("api-p99-latency", "api", "AWS/ApiGateway", "Latency", "p99",
              "GreaterThanThreshold", 5000, 3,
              "The slowest 1% of API requests took over 5 s for 15 minutes: the tracking "
              "server or the database is saturated. Check the dashboard's CPU and ACU, then "
              "raise trackingServer.maxCount or database.maxCapacity."),
        # no dimensions, in the stack's own namespace: a metric of the authorizer's log lines
        Alarm("authorizer-failures", "", "", AUTHORIZER_FAILURE_METRIC, "Sum",
              "GreaterThanThreshold", 0, 1,
              "The authorizer could not judge tokens (its configuration, the user pool's "
              "signing keys unreachable, or an internal error): browser users are refused. "
              "Read the `failure` lines in its log group; a refused token (expired, forged) "
              "is not counted here."),
        Alarm("authorizer-throttles", "authorizer", "AWS/Lambda", "Throttles", "Sum",
              "GreaterThanThreshold", 0, 1,
              "The authorizer Lambda was throttled: raise the account's Lambda concurrency."),
        Alarm("server-cpu", "service", "AWS/ECS", "CPUUtilization", "Average",
              "GreaterThanThreshold", 85, 3,
              "The tracking server's CPU above 85% for 15 minutes although autoscaling "
              "adds tasks: it is at trackingServer.maxCount, or scaling cannot keep up."),
        Alarm("server-memory", "service", "AWS/ECS", "MemoryUtilization", "Average",
              "GreaterThanThreshold", 85, 3,
              "The tracking server's memory above 85% for 15 minutes: tasks may be killed "
              "out of memory. Raise trackingServer.memory."),
        Alarm("database-acu-at-max", "database", "AWS/RDS", "ACUUtilization", "Average",
              "GreaterThanOrEqualToThreshold", 95, 3,
              "Aurora at its maximum capacity for 15 minutes: raise database.maxCapacity."),
        Alarm("database-connections", "database", "AWS/RDS", "DatabaseConnections", "Maximum",
              "GreaterThanThreshold", connections, 2,
              f"Database connections above {connections}, 80% of what {max_acu} ACU allow: "
              f"new connections will be refused. Raise database.maxCapacity."),
    )


def _measure(alarm: Alarm, namespace: str, dimensions) -> dict:
    """What an alarm watches: one metric, or for a rate the metric over the request count in
    periods with at least `alarm.floor` requests (below it the rate counts as 0)."""
    if not alarm.floor:
        percentile = alarm.statistic.startswith("p")
        return {"namespace": namespace, "metric_name": alarm.metric, "dimensions": dimensions,
                "period": PERIOD, "statistic": None if percentile else alarm.statistic,
                "extended_statistic": alarm.statistic if percentile else None}

    def metric(metric_id, metric_name):
        return {"id": metric_id, "metric": {"namespace": namespace, "metric_name": metric_name,
                                            "stat": "Sum", "period": PERIOD,
                                            "dimensions": dimensions}}

    return {"metric_queries": [
        {"id": "rate", "return_data": True, "label": f"{alarm.metric} share of requests",
         "expression": f"IF(requests >= {alarm.floor}, errors / requests, 0)"},
        metric("errors", alarm.metric), metric("requests", alarm.floor_metric)]}


@dataclass
class MonitoringArgs:
    region: str
    api_name: pulumi.Input[str]
    stage: str
    authorizer_function_name: pulumi.Input[str]
    authorizer_log_group_name: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    database_cluster_id: pulumi.Input[str]
    web_acl_name: pulumi.Input[str]
    max_acu: float
    account_id: str
    protect: bool
    topic_arn: str = None  # an existing topic; None: the stack creates one


class Monitoring(pulumi.ComponentResource):
    topic_arn: pulumi.Output
    dashboard_url: pulumi.Output

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("monitoring", "Monitoring"), name, None, opts)
        if args.topic_arn:
            self.topic_arn = pulumi.Output.from_input(args.topic_arn)
        else:
            self.topic_arn = self._topic(name, args).arn
        dimensions = {
            "api": {"ApiName": args.api_name, "Stage": args.stage},
            "authorizer": {"FunctionName": args.authorizer_function_name},
            "service": {"ClusterName": args.cluster_name, "ServiceName": args.service_name},
            "database": {"DBClusterIdentifier": args.database_cluster_id},
        }
        # The authorizer's failures, counted from its log lines into a metric of this stack.
        namespace = f"MLflowLandingZone/{name}"
        aws.cloudwatch.LogMetricFilter(
            f"{name}-authorizer-failures", log_group_name=args.authorizer_log_group_name,
            pattern=AUTHORIZER_FAILURE_PATTERN,
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=AUTHORIZER_FAILURE_METRIC, namespace=namespace, value="1",
                default_value="0"),
            opts=child(self))
        self.alarms = []
        for alarm in alarms(args.max_acu):
            self.alarms.append(aws.cloudwatch.MetricAlarm(
                f"{name}-{alarm.name}", alarm_description=alarm.description,
                comparison_operator=alarm.comparison, threshold=alarm.threshold,
                evaluation_periods=alarm.periods, treat_missing_data="notBreaching",
                alarm_actions=[self.topic_arn], ok_actions=[self.topic_arn],
                **_measure(alarm, alarm.namespace or namespace, dimensions.get(alarm.on)),
                opts=child(self)))
        # ECS's Container Insights (on for the cluster) counts running and desired tasks.
        insights = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}
        self.alarms.append(aws.cloudwatch.MetricAlarm(
            f"{name}-tasks-below-desired",
            alarm_description="Fewer tracking server tasks running than ECS wants for 15 "
                              "minutes: tasks fail to start or their health check fails. See "
                              "the service's events and the server's logs.",
            metric_queries=[
                {"id": "missing", "expression": "desired - running", "return_data": True,
                 "label": "tasks missing"},
                {"id": "desired", "metric": {"namespace": "ECS/ContainerInsights",
                                             "metric_name": "DesiredTaskCount", "stat": "Minimum",
                                             "period": PERIOD, "dimensions": insights}},
                {"id": "running", "metric": {"namespace": "ECS/ContainerInsights",
                                             "metric_name": "RunningTaskCount", "stat": "Minimum",
                                             "period": PERIOD, "dimensions": insights}},
            ],
            comparison_operator="GreaterThanThreshold", threshold=0, evaluation_periods=3,
            treat_missing_data="breaching",  # no tasks report nothing
            alarm_actions=[self.topic_arn], ok_actions=[self.topic_arn], opts=child(self)))
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=f"{name}-mlflow",
            dashboard_body=pulumi.Output.all(
                dimensions=dimensions, waf=args.web_acl_name,
                alarm_arns=[a.arn for a in self.alarms]).apply(
                lambda v: json.dumps(dashboard_body(args.region, v["dimensions"], v["waf"],
                                                    v["alarm_arns"]))),
            opts=child(self))
        self.dashboard_url = pulumi.Output.concat(
            f"https://{args.region}.console.aws.amazon.com/cloudwatch/home?region={args.region}"
            "#dashboards/dashboard/", self.dashboard.dashboard_name)
        self.register_outputs({"topic_arn": self.topic_arn, "dashboard_url": self.dashboard_url})

    def _topic(self, name, args):
        """A topic encrypted with a key whose policy lets CloudWatch publish (AWS's own SNS key
        does not: alarms to a topic under it are dropped)."""
        root = f"arn:aws:iam::{args.account_id}:root"
        self.key = customer_managed_key(
            f"{name}-alarms-key", self, "MLflow landing zone alarm notifications", args.protect,
            policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": root},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "CloudWatchAlarms", "Effect": "Allow",
                 "Principal": {"Service": "cloudwatch.amazonaws.com"},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}}}]}))
        self.topic = aws.sns.Topic(f"{name}-alarms", kms_master_key_id=self.key.arn,
                                   opts=child(self))
        self.topic_policy = aws.sns.TopicPolicy(
            f"{name}-alarms", arn=self.topic.arn,
            policy=policy_json([{
                "Sid": "CloudWatchAlarmsOfThisAccount", "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish", "Resource": self.topic.arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}}}]),
            opts=child(self))
        return self.topic


def _metric(namespace, metric, dims, stat="Average", label=None):
    line = [namespace, metric, *[x for pair in dims.items() for x in pair]]
    return line + [{"stat": stat, **({"label": label} if label else {})}]


def dashboard_body(region: str, dims: dict, web_acl: str, alarm_arns: list) -> dict:
    """The dashboard: alarms first, then one row per part, left to right as a request goes."""
    def graph(title, metrics, x, y, width=8):
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6,
                "properties": {"title": title, "region": region, "view": "timeSeries",
                               "stacked": False, "period": PERIOD, "metrics": metrics}}
    api, fn, svc, db = dims["api"], dims["authorizer"], dims["service"], dims["database"]
    waf = {"WebACL": web_acl, "Region": region, "Rule": "ALL"}
    return {"widgets": [
        {"type": "alarm", "x": 0, "y": 0, "width": 24, "height": 3,
         "properties": {"title": "Alarms", "alarms": alarm_arns}},
        graph("API requests and errors", [
            _metric("AWS/ApiGateway", "Count", api, "Sum", "requests"),
            _metric("AWS/ApiGateway", "4XXError", api, "Sum", "4xx"),
            _metric("AWS/ApiGateway", "5XXError", api, "Sum", "5xx")], 0, 3),
        graph("API latency (ms)", [
            _metric("AWS/ApiGateway", "Latency", api, "p50", "p50"),
            _metric("AWS/ApiGateway", "Latency", api, "p99", "p99"),
            _metric("AWS/ApiGateway", "IntegrationLatency", api, "p99", "MLflow p99")], 8, 3),
        graph("WAF: requests refused at the edge", [
            _metric("AWS/WAFV2", "BlockedRequests", waf, "Sum", "blocked"),
            _metric("AWS/WAFV2", "AllowedRequests", waf, "Sum", "allowed")], 16, 3),
        graph("Authorizer (browsers)", [
            _metric("AWS/Lambda", "Invocations", fn, "Sum", "invocations"),
            _metric("AWS/Lambda", "Errors", fn, "Sum", "errors"),
            _metric("AWS/Lambda", "Throttles", fn, "Sum", "throttles")], 0, 9),
        graph("Tracking server tasks", [
            _metric("ECS/ContainerInsights", "RunningTaskCount", svc, "Minimum", "running"),
            _metric("ECS/ContainerInsights", "DesiredTaskCount", svc, "Maximum", "desired")],
            8, 9),
        graph("Tracking server CPU and memory (%)", [
            _metric("AWS/ECS", "CPUUtilization", svc, "Average", "CPU"),
            _metric("AWS/ECS", "MemoryUtilization", svc, "Average", "memory")], 16, 9),
        graph("Aurora capacity", [
            _metric("AWS/RDS", "ServerlessDatabaseCapacity", db, "Average", "ACU"),
            _metric("AWS/RDS", "ACUUtilization", db, "Average", "% of max ACU")], 0, 15, 12),
        graph("Aurora connections", [
            _metric("AWS/RDS", "DatabaseConnections", db, "Maximum", "connections")], 12, 15, 12),
    ]}
