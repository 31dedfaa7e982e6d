"""The browser UI: an Amplify app and branch serving the sign-in shell around MLflow's own UI
(ui/), deployed by `pulumi up` alone.

The page stays same-origin: Amplify forwards the API paths to the REST API (`ui.hosting`
derives them from the route catalogue), so the service worker can put the user's token on
every request MLflow's UI makes. The security headers (CSP, HSTS, frame-ancestors with the
teams' SageMaker Studio domains) come from `ui.hosting`, as the sandbox serves them too. The
Cognito settings are written into the bundle's `config.json` at deploy time.
"""

from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from ui.hosting import (
    API_ROUTES,
    amplify_custom_headers,
    cognito_origin,
    rewrite_rule,
    shell_config,
)

from ._util import child, type_token
from .amplify_deployment import AmplifyDeployment

BRANCH = "main"
AUTH_FLOW = "USER_SRP_AUTH"  # the password never leaves the browser


@dataclass
class UserInterfaceArgs:
    account_id: str
    region: str
    api_url: pulumi.Input[str]
    user_pool_id: pulumi.Input[str]
    client_id: pulumi.Input[str]
    group_levels: dict
    refresh_margin: float  # seconds before expiry the shell replaces a token
    # the UI bundle's zip and its digest (components.builds.build_central made them)
    bundle_zip: Path
    bundle_zip_sha256: str
    workspaces: dict = field(default_factory=dict)  # {team: [teams it is shared with]}
    studio_origins: tuple = ()


class UserInterface(pulumi.ComponentResource):
    url: pulumi.Output
    app_id: pulumi.Output

    def __init__(self, name: str, args: UserInterfaceArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("user_interface", "UserInterface"), name, None, opts)
        origin = cognito_origin(args.region)
        api_url = pulumi.Output.from_input(args.api_url)
        self.app = aws.amplify.App(
            f"{name}-app",
            description="MLflow behind Cognito sign-in (the landing zone's UI bundle)",
            platform="WEB",
            enable_branch_auto_build=False,  # no repository: deployments come from `pulumi up`
            custom_rules=[aws.amplify.AppCustomRuleArgs(
                source=route.source, status="200",
                target=api_url.apply(lambda url, r=route: rewrite_rule(url, r)["target"]))
                for route in API_ROUTES],
            custom_headers=amplify_custom_headers(origin, args.studio_origins),
            opts=child(self))
        self.branch = aws.amplify.Branch(
            f"{name}-{BRANCH}",
            app_id=self.app.id,
            branch_name=BRANCH,
            stage="PRODUCTION",
            enable_auto_build=False,
            opts=child(self))
        config = pulumi.Output.all(args.user_pool_id, args.client_id).apply(
            lambda ids: shell_config(region=args.region, user_pool_id=ids[0],
                                     client_id=ids[1], group_levels=args.group_levels,
                                     refresh_margin=args.refresh_margin,
                                     workspaces=args.workspaces, auth_flow=AUTH_FLOW))
        self.deployment = AmplifyDeployment(
            f"{name}-deployment", app_id=self.app.id, branch_name=self.branch.branch_name,
            region=args.region, account_id=args.account_id, zip_path=str(args.bundle_zip),
            zip_sha256=args.bundle_zip_sha256, config=config, opts=child(self))
        self.app_id = self.app.id
        self.url = pulumi.Output.concat("https://", self.branch.branch_name, ".",
                                        self.app.default_domain)
        self.register_outputs({"url": self.url, "app_id": self.app_id})
