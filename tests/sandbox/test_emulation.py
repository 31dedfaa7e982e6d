"""The sandbox's moto mends (sandbox/emulation.py): written for one moto, and loud when moto
changes under them."""

import subprocess
import sys

import pytest

from sandbox import emulation


def test_the_installed_moto_is_the_one_the_mends_were_written_for():
    emulation.check_moto()  # raises MotoChanged naming each difference


def test_a_changed_moto_signature_stops_the_sandbox_with_its_name(monkeypatch):
    from moto.cognitoidp.models import CognitoIdpBackend

    def initiate_auth(self, client_id, auth_flow, auth_parameters, session=None):
        """what a later moto might have"""

    monkeypatch.setattr(CognitoIdpBackend, "initiate_auth", initiate_auth)
    with pytest.raises(emulation.MotoChanged, match=r"moto\.cognitoidp\.models\.CognitoIdpBackend"
                                                    r"\.initiate_auth is now \(self, client_id, "
                                                    r"auth_flow, auth_parameters, session=None\)"):
        emulation.check_moto()


def test_a_moved_internal_or_another_version_is_named(monkeypatch):
    import moto.sts.models

    monkeypatch.delattr(moto.sts.models, "sts_backends")
    monkeypatch.setattr(emulation, "version", lambda package: "9.9.9")
    with pytest.raises(emulation.MotoChanged) as e:
        emulation.check_moto()
    assert "moto 9.9.9 is installed; the sandbox is proved on 5.2.5" in str(e.value)
    assert "moto.sts.models.sts_backends is gone" in str(e.value)


def test_requirements_pin_the_moto_of_the_mends():
    from pathlib import Path

    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    assert f"moto[server]=={emulation.MOTO_VERSION}" in requirements.split()


@pytest.mark.slow  # a fresh interpreter imports the sandbox
def test_importing_the_sandbox_changes_nothing_in_moto_or_the_environment():
    """Only start_aws (through emulation.install) mends moto; importing any sandbox module
    leaves moto and os.environ as they were."""
    probe = """
import os, inspect
before = dict(os.environ)
import moto.iam.models, moto.cognitoidp.models
from moto.cognitoidp.models import CognitoIdpBackend
from moto.iam.access_control import S3IAMRequest
originals = (moto.iam.models.DEFAULT_ACCOUNT_ID, CognitoIdpBackend.initiate_auth,
             S3IAMRequest.check_action_permitted,
             moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp)
import sandbox.aws, sandbox.emulation, sandbox.landing_zone, sandbox.gateway
after = (moto.iam.models.DEFAULT_ACCOUNT_ID, CognitoIdpBackend.initiate_auth,
         S3IAMRequest.check_action_permitted,
         moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp)
assert originals == after, "an import mended moto"
assert dict(os.environ) == before, "an import changed the environment"
sandbox.emulation.install("111111111111")
assert moto.iam.models.DEFAULT_ACCOUNT_ID == "111111111111"
assert moto.cognitoidp.models.get_cognito_idp_user_pool_enable_totp() is True
assert CognitoIdpBackend.initiate_auth.__wrapped_by_sandbox__ is originals[1]
sandbox.emulation.install("111111111111")  # once per process
assert CognitoIdpBackend.initiate_auth.__wrapped_by_sandbox__ is originals[1]
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    assert run.stdout.strip() == "ok", run.stderr
