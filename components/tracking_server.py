"""The tracking server: MLflow on ECS Fargate, two or more tasks across AZs behind an internal
NLB, scaling on CPU, logging to CloudWatch."""

import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from spec.accounts import (
    ARTIFACT_ROOT_PREFIX,
    REGISTRY_ROOT_PREFIX,
    SESSION_SECONDS,
    role_arn,
    tracking_server_statements,
    workspace_role_statements,
    workspace_role_trust_policy,
)
from spec.registry_events import STATUS_WRITER_ROLE_NAME, put_events_statement
from spec.server import (
    APPROVAL_ENV,
    DB_LOGIN_ARN_ENV,
    EVENT_BUS_ARN_ENV,
    PLATFORM_WRITER_ENV,
    LOCAL_HOST,
    PORT,
    REGISTRY_ROOT_ENV,
    WORKERS_ENV,
    WORKSPACE_ROLE_ENV,
    WORKSPACES_ENV,
)
from spec.sizing import JOB_CONCURRENCY_ENV, workers_for
from ui.build import pinned_mlflow_version

from ._util import assume_role_policy, child, policy_json, type_token
from .database import DATABASE_NAME, MASTER_USERNAME, PORT as DB_PORT
from .schema_migration import SchemaMigration, SchemaMigrationArgs

IMAGE_DIR = Path(__file__).resolve().parent / "mlflow_image"
CONTAINER = "mlflow"
MIGRATE_COMMAND = ["migrate"]  # the image's entrypoint's migrate mode
MIGRATION_CONTAINER = "migrate"  # serves nothing (the policy pack judges the "mlflow" ones)
# What the migration task reads of the service's environment (entrypoint.py); nothing that
# changes with the teams or the edge, so its task definition changes with the image
MIGRATION_ENV = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", DB_LOGIN_ARN_ENV,
                 "MLFLOW_DEFAULT_ARTIFACT_ROOT", REGISTRY_ROOT_ENV, "AWS_STS_REGIONAL_ENDPOINTS",
                 "MLFLOW_DISABLE_TELEMETRY", "HOME", "TMPDIR", "DO_NOT_TRACK")
MIGRATION_CPU, MIGRATION_MEMORY = 512, 1024  # one Python process with MLflow loaded
CONTAINER_PORT = PORT
SCRATCH_VOLUME = "scratch"
LISTENER_PORT = 80


@dataclass
class TrackingServerArgs:
    account_id: str
    region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[list]
    task_role_name: str  # fixed, so the bucket and key policies can name it up front
    # The role the server reaches one workspace's storage with (tagged per workspace): fixed
    # too, for the same reason; the task role itself touches no team's objects
    workspace_role_name: str
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    artifact_key_arn: pulumi.Input[str]
    database_endpoint: pulumi.Input[str]
    database_secret_arn: pulumi.Input[str]
    database_key_arn: pulumi.Input[str]
    database_security_group_id: pulumi.Input[str]
    cpu: int
    memory: int
    desired_count: int
    max_count: int
    log_retention_days: int
    protect: bool  # false (a test landing zone): the image repository goes, images too
    # The image's build context and its tag (components.builds.stage_image_context: built on
    # the deploying machine before any resource)
    image_context: str
    image_tag: str
    # the Aurora cluster the migration snapshots first
    database_cluster_arn: pulumi.Input[str] = None
    database_cluster_identifier: pulumi.Input[str] = None
    images_kept: int = 10  # the repository's newest images kept (trackingServer.imagesKept)
    target_cpu_percent: float = 60.0
    workspaces: tuple = ()  # the teams' MLflow workspaces
    # The UI's address: MLflow refuses browser writes from any other origin (its CORS check)
    ui_url: pulumi.Input[str] = None
    logs_key_arn: pulumi.Input[str] = None  # the stack's logs key (components/logs_key.py)
    # The central bus the registry's events go to (spec.registry_events); None: audit lines only
    event_bus_arn: pulumi.Input[str] = None
    # The teams whose approval rule is not the default (spec.config.approval_rules)
    approval: dict = None


def build_output(relative: Path) -> bool:
    """Files a local install or a test leaves in the image's folder (git ignores them, and so
    does the image: .dockerignore)."""
    folders, _ = relative.parts[:-1], relative.name
    return any(part in ("__pycache__", "build") or part.endswith(("_cache", ".egg-info"))
               for part in folders)


def allowed_hosts(nlb_dns: str) -> str:
    """MLFLOW_SERVER_ALLOWED_HOSTS: the Host API Gateway's VPC link sends (the NLB's name), and
    the address MLflow's own job runner calls the server at (`http://0.0.0.0:5000`, from
    `--host 0.0.0.0`), which setting the variable would otherwise drop (403 "Invalid Host
    header" for every judge and prompt optimisation)."""
    return ",".join([nlb_dns, f"{nlb_dns}:{LISTENER_PORT}", f"{LOCAL_HOST}:{CONTAINER_PORT}"])


def origin_of(url: str) -> str:
    """`https://main.d1.amplifyapp.com/` -> `https://main.d1.amplifyapp.com`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not a web address: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def image_build_args() -> dict:
    """The image's build arguments: MLflow as requirements.txt pins it (the one place)."""
    return {"MLFLOW_VERSION": pinned_mlflow_version()}


def context_digest(folder: Path, build_args: dict = None, modes: bool = False) -> str:
    """A tag for the image built from `folder` with `build_args`: the SHA-256 of its files'
    paths and bytes (and, with `modes`, their modes, which docker-build's own context hash
    includes) and of the arguments. A change gives a new tag (pushing over an IMMUTABLE tag
    fails); no change, the same one. components.builds.stage_image_context sets the modes of
    the context it tags, so the tag is the same under any umask."""
    digest = hashlib.sha256()
    for name, value in sorted((build_args or {}).items()):
        digest.update(f"--build-arg {name}={value}".encode() + b"\0")
    for path in sorted(p for p in folder.rglob("*")
                       if p.is_file() and not build_output(p.relative_to(folder))):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        if modes:
            digest.update(f"{stat.S_IMODE(path.stat().st_mode):o}".encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return "ctx-" + digest.hexdigest()[:32]


def lifecycle_policy(images_kept: int) -> str:
    """The repository keeps the newest `images_kept` images, tagged or not: the running one,
    and the ones a rollback (the circuit breaker's, or a redeploy of an earlier commit) pulls."""
    return json.dumps({"rules": [{
        "rulePriority": 1,
        "description": f"keep the newest {images_kept} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                      "countNumber": images_kept},
        "action": {"type": "expire"}}]})


def container_definitions(image, region, log_group, bucket, db_host, secret_arn, nlb_dns,
                          workspaces, cpu: int, memory: int, ui_url, workspace_role_arn,
                          event_bus_arn=None, approval=None):
    """The task's one container; the database password comes in only as an ECS secret."""
    return [{
        "name": CONTAINER,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
        "environment": [
            {"name": "DB_HOST", "value": db_host},
            {"name": "DB_PORT", "value": str(DB_PORT)},
            {"name": "DB_NAME", "value": DATABASE_NAME},
            {"name": "DB_USER", "value": MASTER_USERNAME},
            # the ARN of the database's login secret (not the secret: the name avoids the
            # policy pack's secret-looking names)
            {"name": DB_LOGIN_ARN_ENV, "value": secret_arn},
            {"name": "MLFLOW_DEFAULT_ARTIFACT_ROOT",
             "value": f"s3://{bucket}/{ARTIFACT_ROOT_PREFIX}"},
            # Registered versions' files are frozen here (the image's plugin; spec.accounts)
            {"name": REGISTRY_ROOT_ENV, "value": f"s3://{bucket}/{REGISTRY_ROOT_PREFIX}"},
            # Every S3 access acts for one workspace, through this role (the plugin's storage.py)
            {"name": WORKSPACE_ROLE_ENV, "value": workspace_role_arn},
            # The one caller that may set `landing_zone.*` tags: the platform's status writer
            # (components/serving_status.py), which records what serves each version
            {"name": PLATFORM_WRITER_ENV,
             "value": role_arn(workspace_role_arn.split(":")[4], STATUS_WRITER_ROLE_NAME)},
            # STS through the VPC's interface endpoint (components/network.py)
            {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
            # One MLflow workspace per team, created at start when missing (entrypoint.py)
            {"name": WORKSPACES_ENV, "value": ",".join(workspaces)},
            # API Gateway's VPC link sends the NLB's name as Host; /health is exempt.
            {"name": "MLFLOW_SERVER_ALLOWED_HOSTS", "value": allowed_hosts(nlb_dns)},
            {"name": WORKERS_ENV, "value": str(workers_for(cpu, memory))},
            # How many of MLflow's jobs (judges, online scoring) run at once: each is a
            # process of its own, inside the memory the workers are sized beside (spec.sizing)
            *({"name": k, "value": str(v)} for k, v in sorted(JOB_CONCURRENCY_ENV.items())),
            # The registry's events and the teams' approval rules that differ from the default
            # (the plugin's events.py and approval.py)
            *([{"name": EVENT_BUS_ARN_ENV, "value": event_bus_arn}] if event_bus_arn else []),
            *([{"name": APPROVAL_ENV, "value": json.dumps(approval, sort_keys=True)}]
              if approval else []),
            # MLflow refuses a write on /ajax-api whose Origin is neither localhost nor listed:
            # the UI's origin exactly (the edge has already refused every other site's request)
            *([{"name": "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", "value": origin_of(ui_url)}]
              if ui_url else []),
            # MLflow's usage telemetry: off; the read-only root leaves /tmp as the home
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
            {"name": "HOME", "value": "/tmp"},
            {"name": "TMPDIR", "value": "/tmp"},
            {"name": "DO_NOT_TRACK", "value": "true"},
        ],
        # The password at start; each new connection reads the current one from the secret
        # (RDS rotates it every 7 days: plugin/mlflow_landing_zone_server/rotation.py)
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": f"{secret_arn}:password::"}],
        # MLflow answering a query that needs its database (healthcheck.py): a task whose
        # database connections fail is replaced, not kept in service by a static /health
        "healthCheck": {"command": ["CMD", "python", "/app/healthcheck.py"],
                        "interval": 30, "timeout": 10, "retries": 3, "startPeriod": 120},
        # Nothing in the image changes at run time: the root is read-only; /tmp (downloads a
        # frozen copy passes through, MLflow's temporary files; HOME and TMPDIR point there) is
        # the task's ephemeral storage, gone with the task. The job runner's queue is in
        # /dev/shm, a tmpfs of its own.
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": "/tmp",
                         "readOnly": False}],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": region,
            "awslogs-stream-prefix": CONTAINER}},
    }]


def migration_container_definitions(service: list, log_group: str) -> list:
    """The migration task's one container: the service's image, secrets and database settings,
    the `migrate` command, its own log group; no port, no health check (it exits)."""
    container = dict(service[0], name=MIGRATION_CONTAINER)
    for key in ("portMappings", "healthCheck"):
        container.pop(key)
    container["command"] = list(MIGRATE_COMMAND)
    container["environment"] = [e for e in container["environment"]
                                if e["name"] in MIGRATION_ENV]
    container["logConfiguration"] = {**container["logConfiguration"], "options": {
        **container["logConfiguration"]["options"], "awslogs-group": log_group,
        "awslogs-stream-prefix": "migrate"}}
    return [container]


class TrackingServer(pulumi.ComponentResource):
    nlb_arn: pulumi.Output
    nlb_dns_name: pulumi.Output
    task_role_arn: pulumi.Output
    security_group_id: pulumi.Output

    def __init__(self, name: str, args: TrackingServerArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("tracking_server", "TrackingServer"), name, None, opts)
        self._image(name, args)
        self._security_groups(name, args)
        self._roles(name, args)
        self._load_balancer(name, args)
        self._migration(name, args)
        self._service(name, args)
        self._autoscaling(name, args)

        self.nlb_arn = self.nlb.arn
        self.nlb_dns_name = self.nlb.dns_name
        self.task_role_arn = self.task_role.arn
        self.security_group_id = self.security_group.id
        self.register_outputs({"nlb_arn": self.nlb_arn, "nlb_dns_name": self.nlb_dns_name,
                               "task_role_arn": self.task_role_arn})

    def _image(self, name: str, args: TrackingServerArgs):
        """The image, built from components/mlflow_image by `pulumi up`, its repository and logs."""
        self.repository = aws.ecr.Repository(
            f"{name}-image",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS")],
            force_delete=not args.protect,
            opts=child(self))
        # Earlier images stay pullable: a rollback (the circuit breaker's, or an earlier
        # commit's `pulumi up`) needs the previous image. The lifecycle policy, not Pulumi,
        # removes old ones: the newest `images_kept`, tagged or not, stay.
        self.lifecycle_policy = aws.ecr.LifecyclePolicy(
            f"{name}-image-lifecycle", repository=self.repository.name,
            policy=lifecycle_policy(args.images_kept), opts=child(self))
        registry = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self))
        # One image resource under one name, whatever its tag: a new image updates it (pushes
        # the new tag) and never deletes the previous one from the repository (docker-build's
        # delete removes the pushed manifest; retained, it is left to the lifecycle policy).
        self.image = docker_build.Image(
            f"{name}-image",
            context=docker_build.BuildContextArgs(location=args.image_context),
            dockerfile=docker_build.DockerfileArgs(
                location=str(Path(args.image_context) / "Dockerfile")),
            build_args=image_build_args(),
            # The repository's tags are IMMUTABLE: each image content gets a tag of its own.
            tags=[pulumi.Output.concat(self.repository.repository_url, ":", args.image_tag)],
            platforms=[docker_build.Platform.LINUX_AMD64],
            push=True,
            registries=[docker_build.RegistryArgs(
                # the registry's host (docker login's), not the repository's path
                address=self.repository.repository_url.apply(lambda url: url.split("/")[0]),
                username=registry.user_name,
                password=registry.password)],
            opts=child(self, retain_on_delete=True, depends_on=[self.lifecycle_policy]))
        # Tasks run the pushed image by its digest: exactly what was built
        self.image_uri = pulumi.Output.concat(self.repository.repository_url, "@",
                                              self.image.digest)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn, opts=child(self))

    def _security_groups(self, name: str, args: TrackingServerArgs):
        """Who may reach the tasks, the database and the endpoints."""
        # Only the NLB reaches the tasks: API Gateway's VPC link arrives at the NLB through
        # PrivateLink (whose traffic the NLB's group does not judge, `enforce_..._private_link
        # _traffic = off`), and the tasks admit the NLB's group alone (its forwarded requests
        # and health checks), never the VPC's address range.
        self.nlb_security_group = aws.ec2.SecurityGroup(
            f"{name}-nlb-sg", vpc_id=args.vpc_id,
            description="MLflow NLB: API Gateway's VPC link (PrivateLink) in, the tasks out",
            opts=child(self))
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id,
            description="MLflow tasks: the NLB on the container port, nothing else",
            opts=child(self))
        # Out: HTTPS, and PostgreSQL to the database's group; nothing else. HTTPS reaches the
        # AWS APIs (S3 through its gateway endpoint, ECR, logs, Secrets Manager and STS through
        # interface endpoints) and, through the NAT, the model providers MLflow's AI gateway
        # calls: by address these are anywhere. DNS (the VPC's resolver) and the task's
        # credentials (169.254.170.2) are not judged by security groups.
        for rule, kwargs in (
                ("https-out", {"cidr_ipv4": "0.0.0.0/0", "from_port": 443, "to_port": 443,
                               "description": "HTTPS: AWS APIs through the VPC endpoints, "
                                              "model providers through the NAT"}),
                ("database-out", {"referenced_security_group_id":
                                  args.database_security_group_id, "from_port": DB_PORT,
                                  "to_port": DB_PORT,
                                  "description": "PostgreSQL: the MLflow database"})):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{rule}", security_group_id=self.security_group.id, ip_protocol="tcp",
                opts=child(self), **kwargs)
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-nlb",
            security_group_id=self.security_group.id,
            referenced_security_group_id=self.nlb_security_group.id,
            ip_protocol="tcp", from_port=CONTAINER_PORT, to_port=CONTAINER_PORT,
            description="the NLB: API Gateway's requests and health checks",
            opts=child(self))
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-nlb-to-tasks",
            security_group_id=self.nlb_security_group.id,
            referenced_security_group_id=self.security_group.id,
            ip_protocol="tcp", from_port=CONTAINER_PORT, to_port=CONTAINER_PORT,
            description="the NLB to the tasks",
            opts=child(self))
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-to-database",
            security_group_id=args.database_security_group_id,
            referenced_security_group_id=self.security_group.id,
            ip_protocol="tcp", from_port=DB_PORT, to_port=DB_PORT,
            description="MLflow tasks to PostgreSQL",
            opts=child(self))

    def _roles(self, name: str, args: TrackingServerArgs):
        """The task's roles: ECS's (image, logs, the database secret) and MLflow's own."""
        self.execution_role = aws.iam.Role(
            f"{name}-execution",
            # ECS acting for this account's tasks only (aws:SourceAccount, as the task role)
            assume_role_policy=assume_role_policy("ecs-tasks.amazonaws.com", args.account_id),
            opts=child(self))
        aws.iam.RolePolicyAttachment(
            f"{name}-execution", role=self.execution_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-execution-secret", role=self.execution_role.id,
            policy=policy_json([
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": args.database_secret_arn},
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": args.database_key_arn},
            ]),
            opts=child(self))

        self.task_role = aws.iam.Role(
            f"{name}-task", name=args.task_role_name,
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                # ECS's task role: this account's tasks, of ECS in this region (both keys, as
                # ECS documents for task roles)
                "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id},
                              "ArnLike": {"aws:SourceArn":
                                          f"arn:aws:ecs:{args.region}:{args.account_id}:*"}}}]}),
            opts=child(self))
        # The task role reads and writes no team's objects: it acts for one workspace at a
        # time through the workspace role, whose session tag names the workspace's prefixes
        # (spec.accounts). A request that names another team's files is refused by IAM.
        self.workspace_role_arn = role_arn(args.account_id, args.workspace_role_name)
        self.workspace_role = aws.iam.Role(
            f"{name}-workspace", name=args.workspace_role_name,
            max_session_duration=SESSION_SECONDS,
            assume_role_policy=json.dumps(workspace_role_trust_policy(
                args.account_id, role_arn(args.account_id, args.task_role_name))),
            opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-workspace-artifacts", role=self.workspace_role.id,
            policy=policy_json(workspace_role_statements(
                args.artifact_bucket_arn, args.artifact_key_arn, concat=pulumi.Output.concat)),
            opts=child(self))
        aws.iam.RolePolicy(
            f"{name}-task-workspaces", role=self.task_role.id,
            policy=policy_json(tracking_server_statements(self.workspace_role_arn)),
            opts=child(self))
        if args.event_bus_arn is not None:
            # One EventBridge right: put the registry's events on the central bus
            aws.iam.RolePolicy(
                f"{name}-task-registry-events", role=self.task_role.id,
                policy=policy_json([put_events_statement(args.event_bus_arn)]),
                opts=child(self))
        # The current database password, read by the tasks themselves after a rotation
        aws.iam.RolePolicy(
            f"{name}-task-database-secret", role=self.task_role.id,
            policy=policy_json([
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": args.database_secret_arn},
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": args.database_key_arn},
            ]),
            opts=child(self))

    def _load_balancer(self, name: str, args: TrackingServerArgs):
        """The internal NLB that API Gateway's VPC link reaches, and its health check."""
        self.nlb = aws.lb.LoadBalancer(
            f"{name}-nlb", internal=True, load_balancer_type="network",
            subnets=args.subnet_ids, enable_cross_zone_load_balancing=True,
            # the API's VPC link names it: deleting it by hand breaks every request
            enable_deletion_protection=args.protect,
            security_groups=[self.nlb_security_group.id],
            enforce_security_group_inbound_rules_on_private_link_traffic="off",
            opts=child(self))
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg", port=CONTAINER_PORT, protocol="TCP", target_type="ip",
            vpc_id=args.vpc_id, deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                protocol="HTTP", path="/health", port="traffic-port", matcher="200",
                healthy_threshold=2, unhealthy_threshold=3, interval=15),
            opts=child(self))
        self.listener = aws.lb.Listener(
            f"{name}-listener", load_balancer_arn=self.nlb.arn, port=LISTENER_PORT, protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(
                type="forward", target_group_arn=self.target_group.arn)],
            opts=child(self))

    def _container_definitions(self, args: TrackingServerArgs) -> pulumi.Output:
        return pulumi.Output.all(
            self.image_uri, self.log_group.name, args.artifact_bucket_name,
            args.database_endpoint, args.database_secret_arn, self.nlb.dns_name, args.ui_url,
            args.event_bus_arn,
        ).apply(lambda v: container_definitions(
            v[0], args.region, v[1], v[2], v[3], v[4], v[5], args.workspaces,
            args.cpu, args.memory, v[6], self.workspace_role_arn, event_bus_arn=v[7],
            approval=args.approval))

    def _migration(self, name: str, args: TrackingServerArgs):
        """The cluster, and the one-off task that brings MLflow's schema to the image's
        version (after a snapshot) before the service changes: components/schema_migration."""
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            opts=child(self))
        self.migration_logs = aws.cloudwatch.LogGroup(
            f"{name}-migration-logs", retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn, opts=child(self))
        family = f"{name}-migrate"
        self.migration_task_definition = aws.ecs.TaskDefinition(
            f"{name}-migrate",
            family=family,
            cpu=str(MIGRATION_CPU), memory=str(MIGRATION_MEMORY),
            network_mode="awsvpc", requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=pulumi.Output.all(
                self._container_definitions(args), self.migration_logs.name).apply(
                lambda v: json.dumps(migration_container_definitions(v[0], v[1]))),
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=SCRATCH_VOLUME)],
            opts=child(self))
        self.migration = SchemaMigration(f"{name}-migration", SchemaMigrationArgs(
            account_id=args.account_id, region=args.region,
            ecs_cluster_arn=self.cluster.arn, ecs_cluster_name=self.cluster.name,
            task_definition_arn=self.migration_task_definition.arn,
            task_definition_family=family, container=MIGRATION_CONTAINER,
            subnet_ids=args.subnet_ids, security_group_id=self.security_group.id,
            execution_role_arn=self.execution_role.arn, task_role_arn=self.task_role.arn,
            db_cluster_arn=args.database_cluster_arn,
            db_cluster_identifier=args.database_cluster_identifier,
            logs_key_arn=args.logs_key_arn,
            image_tag=args.image_tag, log_retention_days=args.log_retention_days),
            opts=child(self))

    def _service(self, name: str, args: TrackingServerArgs):
        """The task definition and the service, which changes only after the migration."""
        definitions = self._container_definitions(args).apply(json.dumps)
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"{name}-mlflow",
            cpu=str(args.cpu), memory=str(args.memory),
            network_mode="awsvpc", requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=definitions,
            # a bind mount without a host path: Fargate's ephemeral storage (/tmp)
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=SCRATCH_VOLUME)],
            opts=child(self))
        self.service = aws.ecs.Service(
            f"{name}-service",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.desired_count,
            launch_type="FARGATE",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids, security_groups=[self.security_group.id],
                assign_public_ip=False),
            load_balancers=[aws.ecs.ServiceLoadBalancerArgs(
                target_group_arn=self.target_group.arn, container_name=CONTAINER,
                container_port=CONTAINER_PORT)],
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            health_check_grace_period_seconds=90,
            propagate_tags="SERVICE",
            # Autoscaling owns the running count: a refresh or an update must not set it back
            # to the configured minimum while load holds it higher.
            # The schema is migrated (after a snapshot) before the service's task definition
            # changes: its tasks only verify it (entrypoint.py)
            opts=child(self, depends_on=[self.listener, self.migration.invocation],
                       ignore_changes=["desiredCount"]))

    def _autoscaling(self, name: str, args: TrackingServerArgs):
        """Autoscaling on CPU, between desiredCount and maxCount."""
        self.scaling_target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", self.cluster.name, "/", self.service.name),
            min_capacity=args.desired_count,
            max_capacity=args.max_count,
            opts=child(self))
        aws.appautoscaling.Policy(
            f"{name}-cpu",
            policy_type="TargetTrackingScaling",
            service_namespace=self.scaling_target.service_namespace,
            scalable_dimension=self.scaling_target.scalable_dimension,
            resource_id=self.scaling_target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.
            PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=args.target_cpu_percent,
                predefined_metric_specification=aws.appautoscaling.
                PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"),
                scale_in_cooldown=300, scale_out_cooldown=60),
            opts=child(self))
