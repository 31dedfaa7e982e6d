"""Browser identity: a Cognito user pool the platform team fills (no self sign-up), a group per
team and level (`<team>:<level>`, that level in the team's workspace) and the groups that hold
a level everywhere (`platform-admins`), and an app client for the UI (public: no secret; SRP
and refresh flows)."""

import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from roles import LEVELS
from spec.accounts import PASSWORD_POLICY, team_group
from spec.edge import REFRESH_TOKEN_HOURS

from ._util import child, data_resource, type_token


@dataclass
class IdentityArgs:
    mfa: str  # OFF, OPTIONAL or ON (TOTP)
    protect: bool
    token_minutes: int  # short-lived: the worst case of a copied token
    group_levels: dict = field(default_factory=dict)  # group -> level in every workspace
    teams: tuple = ()  # team names: a group `<team>:<level>` for each level
    # Invitations and resets through SES (spec.config.EmailSettings); None: Cognito's own
    # sender, with its small daily quota
    email: object = None


def _email_configuration(email) -> aws.cognito.UserPoolEmailConfigurationArgs:
    if email is None:
        return aws.cognito.UserPoolEmailConfigurationArgs(
            email_sending_account="COGNITO_DEFAULT")
    return aws.cognito.UserPoolEmailConfigurationArgs(
        email_sending_account="DEVELOPER", source_arn=email.ses_identity_arn,
        from_email_address=email.from_address, reply_to_email_address=email.reply_to)


def _snake(name: str) -> str:
    """Cognito's API names (MinimumLength) as the provider's arguments (minimum_length)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Identity(pulumi.ComponentResource):
    user_pool_id: pulumi.Output
    user_pool_arn: pulumi.Output
    client_id: pulumi.Output

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions = None):
        super().__init__(type_token("identity", "Identity"), name, None, opts)
        mfa_on = args.mfa != "OFF"
        self.user_pool = aws.cognito.UserPool(
            f"{name}-users",
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                allow_admin_create_user_only=True),  # no self sign-up
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                **{_snake(key): value for key, value in PASSWORD_POLICY.items()}),
            mfa_configuration=args.mfa,
            software_token_mfa_configuration=(
                aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(enabled=True)
                if mfa_on else None),
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                    name="verified_email", priority=1)]),
            auto_verified_attributes=["email"],
            email_configuration=_email_configuration(args.email),
            deletion_protection="ACTIVE" if args.protect else "INACTIVE",
            opts=data_resource(self, args.protect),
        )
        descriptions = {group: f"MLflow {level} in every workspace"
                        for group, level in args.group_levels.items()}
        descriptions.update({team_group(team, level): f"MLflow {level} in {team}'s workspace"
                             for team in args.teams for level in LEVELS})
        self.groups = {
            group: aws.cognito.UserGroup(
                f"{name}-{group.replace(':', '-')}", name=group, user_pool_id=self.user_pool.id,
                description=description, opts=child(self))
            for group, description in descriptions.items()
        }
        self.client = aws.cognito.UserPoolClient(
            f"{name}-ui",
            user_pool_id=self.user_pool.id,
            generate_secret=False,  # a browser cannot keep a secret
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            access_token_validity=args.token_minutes,
            id_token_validity=args.token_minutes,
            refresh_token_validity=REFRESH_TOKEN_HOURS,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                access_token="minutes", id_token="minutes", refresh_token="hours"),
            opts=child(self),
        )
        self.user_pool_id = self.user_pool.id
        self.user_pool_arn = self.user_pool.arn
        self.client_id = self.client.id
        self.register_outputs({"user_pool_id": self.user_pool_id, "client_id": self.client_id})
