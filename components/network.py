"""The central account's network: private subnets in several AZs, and the VPC endpoints that
let the tracking server run with NAT turned off."""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from spec.sizing import SUBNET_MASKS

from ._util import assume_role_policy, child, policy_json, type_token

# What a Fargate task of the tracking server calls besides S3: pulling its image (ECR API and
# registry), writing logs, and reading the database secret at start.
# sts: the tracking server assumes its workspace role for each workspace it acts for
INTERFACE_ENDPOINT_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts")
_NAT = {
    "none": awsx.ec2.NatGatewayStrategy.NONE,
    "single": awsx.ec2.NatGatewayStrategy.SINGLE,
    "one-per-az": awsx.ec2.NatGatewayStrategy.ONE_PER_AZ,
}


@dataclass
class NetworkArgs:
    region: str
    cidr: str
    availability_zones: int
    # "single" costs one NAT gateway; "none" relies on the endpoints alone (no internet at all,
    # so MLflow cannot reach model providers); "one-per-az" survives an AZ failure.
    nat: str
    account_id: str = None  # the flow logs' role trusts the service for this account only
    log_retention_days: int = 90
    logs_key_arn: pulumi.Input[str] = None  # the stack's logs key (components/logs_key.py)


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output
    app_subnet_ids: pulumi.Output

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("network", "Network"), name, None, opts)
        if args.nat == "none":
            # No NAT: isolated subnets only, reached through the endpoints below.
            app, public = SUBNET_MASKS["none"][0], None
            specs = [awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.ISOLATED, cidr_mask=app)]
        else:
            app, public = SUBNET_MASKS[args.nat]
            specs = [awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PRIVATE, cidr_mask=app),
                     awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PUBLIC, cidr_mask=public)]
        self.vpc = awsx.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            number_of_availability_zones=args.availability_zones,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
            subnet_specs=specs,
            nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(strategy=_NAT[args.nat]),
            opts=child(self),
        )
        self.vpc_id = self.vpc.vpc_id
        self.app_subnet_ids = (self.vpc.isolated_subnet_ids if args.nat == "none"
                               else self.vpc.private_subnet_ids)
        # S3 is a gateway endpoint (free) on the subnets' route tables: artifacts, and the
        # layers of the tracking server's image, which ECR keeps in S3.
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc_id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=self.vpc.route_tables.apply(
                lambda tables: pulumi.Output.all(*[t.id for t in tables])),
            opts=child(self),
        )
        self.endpoint_security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=self.vpc_id,
            description="HTTPS from inside the VPC to the interface endpoints",
            ingress=[aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=443, to_port=443, cidr_blocks=[args.cidr],
                description="HTTPS from the VPC's tasks to the AWS APIs")],
            opts=child(self),
        )
        self.endpoints = [
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.app_subnet_ids,
                security_group_ids=[self.endpoint_security_group.id],
                opts=child(self),
            )
            for service in INTERFACE_ENDPOINT_SERVICES
        ]
        # The VPC's default security group admits nothing: whatever is launched without a group
        # of its own reaches nothing and is reached by nothing.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc_id, ingress=[],
                                     egress=[], opts=child(self))
        self._flow_logs(name, args)
        self.register_outputs({"vpc_id": self.vpc_id, "app_subnet_ids": self.app_subnet_ids})

    def _flow_logs(self, name: str, args: NetworkArgs):
        """Every accepted and rejected connection of the VPC, to CloudWatch Logs: who talked to
        the tasks, the database and the endpoints, for an investigation after the fact."""
        self.flow_log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn, opts=child(self))
        # VPC Flow Logs sends both keys when it assumes the role (only this account's flow
        # logs may use it)
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=assume_role_policy(
                "vpc-flow-logs.amazonaws.com", args.account_id,
                f"arn:aws:ec2:{args.region}:{args.account_id}:vpc-flow-log/*"
                if args.account_id else None),
            opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-flow-logs", role=role.id,
            policy=policy_json([{"Effect": "Allow",
                                 "Action": ["logs:CreateLogStream", "logs:PutLogEvents",
                                            "logs:DescribeLogStreams"],
                                 "Resource": pulumi.Output.concat(self.flow_log_group.arn,
                                                                  ":*")}]),
            opts=child(self))
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log", vpc_id=self.vpc_id, traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn, iam_role_arn=role.arn,
            max_aggregation_interval=600, opts=child(self))
