"""The central account: network, artifact store, database, tracking server, identity, the API,
the browser UI and the team access roles, wired together. Reads like the architecture
diagram."""


import pulumi

from spec.accounts import role_arn
from spec.edge import STAGE, refresh_margin_seconds

from ._util import type_token
from .api import Api, ApiArgs
from .artifact_store import ArtifactStore, ArtifactStoreArgs
from .serving_status import StatusWriter, StatusWriterArgs
from .builds import CentralBuilds
from .ci_access import CiAccess, CiAccessArgs
from spec.config import CentralConfig, approval_rules, workspaces
from .database import Database, DatabaseArgs
from .identity import Identity, IdentityArgs
from .logs_key import LogsKey, LogsKeyArgs
from .monitoring import Monitoring, MonitoringArgs
from .network import Network, NetworkArgs
from .registry_events import RegistryEvents, RegistryEventsArgs
from .team_access import TeamAccess, TeamAccessArgs
from .tracking_server import TrackingServer, TrackingServerArgs
from .user_interface import UserInterface, UserInterfaceArgs
from .web_acl import RateLimits, WebAcl, WebAclArgs

class CentralAccount(pulumi.ComponentResource):
    def __init__(self, name: str, config: CentralConfig, builds: CentralBuilds,
                 opts: pulumi.ResourceOptions = None):
        """`builds`: what `components.builds.build_central` made before (the authorizer's
        archive, the UI bundle's zip, the image's build context and tag); nothing is built
        here."""
        super().__init__(type_token("central_account", "CentralAccount"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        task_role_name = f"{name}-tracking-server-task"
        workspace_role_name = f"{name}-tracking-server-workspace"
        # Only the server's workspace role touches artifact objects (its task role touches
        # none) and writes the registry's frozen copies (a `freeze` session of it)
        workspace_role_arn = role_arn(config.account_id, workspace_role_name)

        # every log group of the stack under one key of its own
        self.logs_key = LogsKey(f"{name}-logs", LogsKeyArgs(
            account_id=config.account_id, region=config.region, protect=config.protect), child)
        logs_key_arn = self.logs_key.arn
        self.network = Network(f"{name}-network", NetworkArgs(
            region=config.region, cidr=config.network.cidr,
            availability_zones=config.network.availability_zones, nat=config.network.nat,
            account_id=config.account_id, log_retention_days=config.log_retention_days,
            logs_key_arn=logs_key_arn), child)
        self.artifacts = ArtifactStore(f"{name}-store", ArtifactStoreArgs(
            account_id=config.account_id,
            server_role_arns=[workspace_role_arn],
            registry_writer_arn=workspace_role_arn, protect=config.protect,
            serving_accounts=tuple(sorted({t.account_id for t in config.teams})),
            region=config.region), child)
        self.database = Database(f"{name}-db", DatabaseArgs(
            region=config.region,
            account_id=config.account_id, vpc_id=self.network.vpc_id,
            subnet_ids=self.network.app_subnet_ids,
            min_capacity=config.database.min_capacity, max_capacity=config.database.max_capacity,
            backup_retention_days=config.database.backup_retention_days,
            protect=config.protect), child)
        # The API's `GET /` sends browsers to the UI, the UI forwards its API paths to the API,
        # and MLflow admits browser writes from the UI's origin only: the UI's address reaches
        # the API's stage and the server's task once the UI exists (no cycle between
        # resources: the UI needs only the REST API's id).
        ui_url, resolve_ui_url = pulumi.deferred_output()
        # Every registry act is an event on this bus, forwarded to its team's account
        self.registry_events = RegistryEvents(f"{name}-registry-events", RegistryEventsArgs(
            account_id=config.account_id, region=config.region, teams=config.teams,
            log_retention_days=config.log_retention_days, protect=config.protect,
            logs_key_arn=logs_key_arn), child)
        self.tracking_server = TrackingServer(f"{name}-server", TrackingServerArgs(
            account_id=config.account_id, region=config.region,
            vpc_id=self.network.vpc_id,
            subnet_ids=self.network.app_subnet_ids, task_role_name=task_role_name,
            workspace_role_name=workspace_role_name,
            artifact_bucket_name=self.artifacts.bucket_name,
            artifact_bucket_arn=self.artifacts.bucket_arn,
            artifact_key_arn=self.artifacts.key_arn,
            database_endpoint=self.database.endpoint,
            database_secret_arn=self.database.secret_arn,
            database_key_arn=self.database.key_arn,
            database_security_group_id=self.database.security_group_id,
            database_cluster_arn=self.database.cluster_arn,
            database_cluster_identifier=self.database.cluster_identifier,
            cpu=config.tracking_server.cpu, memory=config.tracking_server.memory,
            desired_count=config.tracking_server.desired_count,
            max_count=config.tracking_server.max_count,
            log_retention_days=config.log_retention_days,
            workspaces=tuple(t.name for t in config.teams), ui_url=ui_url,
            protect=config.protect, image_context=str(builds.image_context),
            image_tag=builds.image_tag, images_kept=config.tracking_server.images_kept,
            logs_key_arn=logs_key_arn,
            event_bus_arn=self.registry_events.bus_arn,
            approval=approval_rules(config.teams)), child)
        self.identity = Identity(f"{name}-identity", IdentityArgs(
            group_levels=config.group_levels, teams=tuple(t.name for t in config.teams),
            mfa=config.mfa, protect=config.protect,
            token_minutes=config.token_minutes, email=config.email), child)
        self.api = Api(f"{name}-edge", ApiArgs(
            account_id=config.account_id, region=config.region,
            nlb_arn=self.tracking_server.nlb_arn,
            nlb_dns_name=self.tracking_server.nlb_dns_name,
            authorizer_code=pulumi.FileArchive(str(builds.authorizer_archive)),
            user_pool_id=self.identity.user_pool_id,
            app_client_ids=[self.identity.client_id],
            group_levels=config.group_levels,
            workspaces=workspaces(config.teams),
            ui_url=ui_url,
            authorizer_cache_ttl=config.api.authorizer_cache_ttl,
            platform_contact=config.platform_contact,
            cloudwatch_role=config.api.cloudwatch_role,
            throttle_rate_limit=config.api.throttle_rate_limit,
            throttle_burst_limit=config.api.throttle_burst_limit,
            teams_throttle_rate_limit=config.api.teams_throttle_rate_limit,
            teams_throttle_burst_limit=config.api.teams_throttle_burst_limit,
            log_retention_days=config.log_retention_days, logs_key_arn=logs_key_arn,
            authorizer_reserved_concurrency=config.api.authorizer_reserved_concurrency or None),
            child)
        self.ui = UserInterface(f"{name}-ui", UserInterfaceArgs(
            account_id=config.account_id, region=config.region, api_url=self.api.base_url,
            user_pool_id=self.identity.user_pool_id, client_id=self.identity.client_id,
            group_levels=config.group_levels,
            workspaces=workspaces(config.teams),
            refresh_margin=refresh_margin_seconds(config.token_minutes * 60,
                                                  config.api.authorizer_cache_ttl),
            studio_origins=config.ui.studio_origins, bundle_zip=builds.ui_zip,
            bundle_zip_sha256=builds.ui_zip_sha256), child)
        resolve_ui_url(self.ui.url)
        self.firewall = WebAcl(f"{name}-firewall", WebAclArgs(
            stage_arn=self.api.stage_arn, stage=STAGE, ui_url=self.ui.url,
            rate_limits=RateLimits(address=config.api.waf.rate_limit,
                                   caller=config.api.waf.caller_rate_limit)
            if config.api.waf.enabled else None,
            account_id=config.account_id, region=config.region,
            log_retention_days=config.log_retention_days, logs_key_arn=logs_key_arn), child)
        self.monitoring = Monitoring(f"{name}-ops", MonitoringArgs(
            region=config.region, account_id=config.account_id,
            api_name=self.api.rest_api.name, stage=STAGE,
            authorizer_function_name=self.api.authorizer_function.name,
            authorizer_log_group_name=self.api.authorizer_logs.name,
            cluster_name=self.tracking_server.cluster.name,
            service_name=self.tracking_server.service.name,
            database_cluster_id=self.database.cluster.cluster_identifier,
            web_acl_name=self.firewall.web_acl.name,
            max_acu=config.database.max_capacity, topic_arn=config.alarm_topic_arn,
            protect=config.protect), child)
        self.team_access = TeamAccess(f"{name}-access", TeamAccessArgs(
            account_id=config.account_id, region=config.region, teams=config.teams,
            api_arn=self.api.api_arn, artifact_bucket_arn=self.artifacts.bucket_arn,
            artifact_key_arn=self.artifacts.key_arn), child)

        # what serves each team's versions, onto the versions (the team deployers' status)
        self.status_writer = StatusWriter(f"{name}-status", StatusWriterArgs(
            account_id=config.account_id, teams={t.name: t.account_id for t in config.teams},
            api_arn=self.api.api_arn, api_url=self.api.url,
            log_retention_days=config.log_retention_days, logs_key_arn=logs_key_arn), child)

        self.outputs = {
            "uiUrl": self.ui.url,
            "apiUrl": self.api.url,
            "apiArn": self.api.api_arn,
            "userPoolId": self.identity.user_pool_id,
            "userPoolClientId": self.identity.client_id,
            "accessRoleArns": self.team_access.role_arns,
            "artifactBucket": self.artifacts.bucket_name,
            # with artifactBucket, a team stack's serving.artifactKeyArn
            "artifactKeyArn": self.artifacts.key_arn,
            "trackingServerTaskRoleArn": self.tracking_server.task_role_arn,
            "trackingServerWorkspaceRoleArn": self.tracking_server.workspace_role.arn,
            "alarmTopicArn": self.monitoring.topic_arn,
            "dashboardUrl": self.monitoring.dashboard_url,
            "registryEventBusArn": self.registry_events.bus_arn,
            "registryAuditLogGroup": self.registry_events.audit_log_group_name,
        }
        if config.ci is not None:
            self.ci = CiAccess(f"{name}-ci", CiAccessArgs(
                repository=config.ci.repository, environment=config.ci.environment,
                account_id=config.account_id, region=config.region,
                oidc_provider_arn=config.ci.oidc_provider_arn,
                ref_in_subject=config.ci.ref_in_subject), child)
            self.outputs.update(ciPreviewRoleArn=self.ci.preview_role_arn,
                                ciDeployRoleArn=self.ci.deploy_role_arn)
        self.register_outputs(self.outputs)
