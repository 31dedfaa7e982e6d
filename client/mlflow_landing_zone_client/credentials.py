"""Credentials: the ambient ones, or the central role assumed from them and kept fresh.

A role assumed with temporary credentials (role chaining, as from a SageMaker job) lasts at
most an hour. The assumed credentials refresh shortly before they expire, with exactly one STS
call per lifetime, however many requests are signed in between.
"""

import os
import re
import threading
import uuid
from datetime import datetime, timezone

import botocore.session
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ._spec import ROLE_ARN_ENV, SESSION_SECONDS  # the role-chaining cap
from .refusals import install_s3_messages

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


# STS's answers to credentials it does not know or no longer honours
STALE_CREDENTIAL_CODES = ("InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
                          "UnrecognizedClientException")


# What to do with credentials nobody knows any more (said by AssumeRole's refusal, and by the
# edge's when a fresh fetch did not help)
FRESH_CREDENTIALS = ("they expired or belong to an earlier session. Start the process again "
                     "with fresh ones; from `python -m sandbox`, paste the lines it printed at "
                     "its last start (its AWS profiles fetch fresh credentials for every new "
                     "process)")


class LandingZoneAuthError(RuntimeError):
    """A one-line message that names the fix."""


def _utcnow():
    return datetime.now(timezone.utc)


def execute_api_region(host):
    """The region of an `<id>.execute-api.<region>.amazonaws.com` host, or None."""
    match = _EXECUTE_API_HOST.match(host or "")
    return match.group(1) if match else None


def _profile_region():
    """The region of the AWS profile in use (AWS_PROFILE in AWS_CONFIG_FILE), or None."""
    try:
        return botocore.session.get_session().get_config_variable("region")
    except Exception:  # a broken config file: the caller says what to set
        return None


def resolve_region(host=None, environ=os.environ, profile_region=_profile_region):
    """The region a request to `host` is signed for: that of an execute-api host (API Gateway
    checks the signature for its own region, whatever the caller's), else AWS_REGION or
    AWS_DEFAULT_REGION (a custom domain, the sandbox), else the AWS profile's."""
    region = execute_api_region(host) or environ.get("AWS_REGION") \
        or environ.get("AWS_DEFAULT_REGION") or profile_region()
    if region:
        return region
    raise LandingZoneAuthError(
        "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the AWS "
        "profile), or use the API's https://<id>.execute-api.<region>.amazonaws.com URL as "
        "MLFLOW_TRACKING_URI")


class CentralRoleCredentials:
    """Signing credentials: the central role if one is configured, else the ambient ones."""

    def __init__(self, role_arn=None, region=None, session=None, clock=_utcnow,
                 duration_seconds=SESSION_SECONDS, refresh_margin_seconds=None):
        self.role_arn = role_arn
        self.region = region
        self._session = session or botocore.session.get_session()
        self._clock = clock
        self._duration = duration_seconds
        # Refresh a little before expiry: 5 minutes for an hour, a quarter of shorter sessions.
        self._margin = refresh_margin_seconds or min(300, duration_seconds // 4)
        self._credentials = None
        self._lock = threading.Lock()
        self.sts_calls = 0
        if role_arn is not None and not _ROLE_ARN.match(role_arn):
            raise LandingZoneAuthError(
                f"{ROLE_ARN_ENV} must be an IAM role ARN such as "
                f"arn:aws:iam::111111111111:role/mlflow-team-a-reader, got {role_arn!r}")

    def _ambient(self):
        try:
            credentials = self._session.get_credentials()
        except BotoCoreError as e:
            raise LandingZoneAuthError(f"could not load AWS credentials: {e}") from None
        if credentials is None:
            raise LandingZoneAuthError(
                "no AWS credentials found: run inside SageMaker, or set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        return credentials

    def _assume(self):
        self.sts_calls += 1
        try:
            sts = self._session.create_client("sts", region_name=self.region)
            response = sts.assume_role(
                RoleArn=self.role_arn, DurationSeconds=self._duration,
                RoleSessionName=f"mlflow-{uuid.uuid4().hex[:12]}")
        except NoCredentialsError:
            raise LandingZoneAuthError(
                "no AWS credentials found to assume the central role with: run inside "
                "SageMaker, or set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            ) from None
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("AccessDenied", "AccessDeniedException"):
                raise LandingZoneAuthError(
                    f"AssumeRole of {self.role_arn} was denied: run with the team's "
                    f"mlflow-<team>-<level>-sagemaker role of the same team and level, and check "
                    f"the central stack grants that team this level") from None
            if code in STALE_CREDENTIAL_CODES:
                raise LandingZoneAuthError(
                    f"AssumeRole of {self.role_arn}: STS does not know this process's AWS "
                    f"credentials ({code}): {FRESH_CREDENTIALS}") from None
            raise LandingZoneAuthError(f"AssumeRole of {self.role_arn} failed: {e}") from None
        except BotoCoreError as e:
            raise LandingZoneAuthError(f"AssumeRole of {self.role_arn} failed: {e}") from None
        c = response["Credentials"]
        if self._credentials is not None:
            self._credentials.refused = False  # these are new
        return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"], "expiry_time": c["Expiration"].isoformat()}

    def credentials(self):
        """The botocore credentials object (refreshable), created on first use."""
        if self._credentials is None:
            with self._lock:
                if self._credentials is None:
                    if self.role_arn is None:
                        self._credentials = self._ambient()
                    else:
                        first = self._assume()
                        self._credentials = _Refreshable(
                            access_key=first["access_key"], secret_key=first["secret_key"],
                            token=first["token"],
                            expiry_time=RefreshableCredentials._expiry_datetime(
                                first["expiry_time"]),
                            refresh_using=self._assume, method="assume-role",
                            time_fetcher=self._clock,
                            advisory_timeout=self._margin,
                            mandatory_timeout=max(1, self._margin // 2))
        return self._credentials

    def frozen(self):
        """Current key, secret and token; refreshes first if they are about to expire."""
        return self.credentials().get_frozen_credentials()

    def invalidate(self):
        """The edge no longer knows the credentials this process signs with (the sandbox
        restarted, a session was revoked): fetch them again from their source before the next
        signature, and the central role's session again with them."""
        with self._lock:
            # botocore's session keeps the ambient credentials it loaded (the AWS profile's
            # credential_process, SageMaker's) until they expire; it has no public way to
            # forget them sooner
            self._session._credentials = None
            if isinstance(self._credentials, _Refreshable):
                # the same object refreshes: boto3's S3 clients, which hold it, follow
                self._credentials.refused = True
            else:
                self._credentials = None


class _Refreshable(RefreshableCredentials):
    """The assumed role's credentials, which can also be told to refresh now."""

    refused = False

    def refresh_needed(self, refresh_in=None):
        return self.refused or super().refresh_needed(refresh_in)


class _Provider(CredentialProvider):
    METHOD = "mlflow-landing-zone"
    CANONICAL_NAME = "MlflowLandingZone"

    def __init__(self, source):
        super().__init__()
        self._source = source

    def load(self):
        return self._source.credentials()


def install_as_default_boto3_session(source: CentralRoleCredentials) -> bool:
    """Make boto3 clients created from now on (MLflow's S3 artifact client) use `source`."""
    try:
        import boto3
    except ImportError:
        return False
    session = botocore.session.get_session()
    session.get_component("credential_provider").insert_before("env", _Provider(source))
    # S3's AccessDenied on artifacts, in the same plain words as the edge's refusals
    install_s3_messages(session, lambda: source.role_arn)
    boto3.setup_default_session(botocore_session=session, region_name=source.region)
    return True
