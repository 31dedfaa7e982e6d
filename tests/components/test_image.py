"""The tracking server's image (issue 26, item 1): earlier images stay pullable after an update,
and the tag names what is built, the same on any machine."""

import json
import os
import stat
import subprocess

import pytest

from components.builds import (
    CONSTRAINTS,
    DIR_MODE,
    FILE_MODE,
    ImageBuildError,
    image_constraints,
    stage_image_context,
)
from components.tracking_server import IMAGE_DIR, context_digest, image_build_args
from spec.config import ConfigError, parse_central
from tests.pulumi_program import prebuilt, run_program, stack_config
from tests.spec.test_config import central
from ui.build import pinned_mlflow_version

ACCOUNT, REGION = "111111111111", "us-east-1"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlflow-server-image"


@pytest.fixture(scope="module")
def stack():
    return run_program(stack_config("central"))


def tracked_files():
    return subprocess.run(["git", "ls-files", "."], cwd=IMAGE_DIR, check=True,
                          capture_output=True, text=True).stdout.split()


def copy_tree(target, umask: int, ca_text: bytes):
    """The image's folder as a checkout under `umask` would have it (its files' modes)."""
    old = os.umask(umask)
    try:
        for name in tracked_files():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes((IMAGE_DIR / name).read_bytes())
        ca = target.parent / f"ca-{umask:o}.pem"
        ca.write_bytes(ca_text)
    finally:
        os.umask(old)
    return ca


def test_one_image_resource_under_a_stable_name_retained_on_delete(stack):
    """A new image updates the one resource (its name holds no tag) and a replaced or deleted
    one is never removed from ECR by Pulumi: the previous image stays for a rollback."""
    image = stack.one("docker-build:index:Image")
    assert image.name == "mlflow-server-image"
    assert image.retain_on_delete is True and image.parent == "mlflow-server"
    builds = prebuilt()
    assert image.inputs["tags"] == [f"{REPOSITORY}:{builds.image_tag}"]
    assert image.inputs["push"] is True and image.inputs["platforms"] == ["linux/amd64"]
    assert image.inputs["context"] == {"location": str(builds.image_context)}
    assert image.inputs["dockerfile"] == {"location": str(builds.image_context / "Dockerfile")}
    assert image.inputs["buildArgs"] == {"MLFLOW_VERSION": pinned_mlflow_version()}
    assert image.inputs["registries"] == [{"address": REPOSITORY.split("/")[0],
                                           "username": "AWS", "password": "mock-ecr-token"}]
    # the tasks run exactly the pushed image: by its digest
    task = json.loads(stack.one("aws:ecs/taskDefinition:TaskDefinition",
                                "mlflow-server-task").inputs["containerDefinitions"])
    assert task[0]["image"] == f"{REPOSITORY}@{image.outputs['digest']}"


def test_the_repository_keeps_the_newest_images_and_its_tags_immutable(stack):
    repository = stack.one("aws:ecr/repository:Repository").inputs
    assert repository["imageTagMutability"] == "IMMUTABLE"
    lifecycle = stack.one("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert lifecycle.inputs["repository"] == "mlflow-server-image"
    assert json.loads(lifecycle.inputs["policy"]) == {"rules": [{
        "rulePriority": 1, "description": "keep the newest 10 images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
        "action": {"type": "expire"}}]}
    # the image waits for the policy: no push lands in a repository without it
    assert "mlflow-server-image-lifecycle" in stack.one("docker-build:index:Image").depends_on


def test_how_many_images_are_kept_is_configurable_and_checked():
    config = stack_config("central")
    config["mlflow-landing-zone:central"]["trackingServer"]["imagesKept"] = 25
    lifecycle = run_program(config).one("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert json.loads(lifecycle.inputs["policy"])["rules"][0]["selection"]["countNumber"] == 25
    assert parse_central(central(), REGION).tracking_server.images_kept == 10
    for bad in (1, 0, 1001):
        with pytest.raises(ConfigError, match=rf"trackingServer.imagesKept must be between 2 "
                                              rf"and 1000, got {bad}"):
            parse_central(central(trackingServer={"imagesKept": bad}), REGION)
    with pytest.raises(ConfigError, match="trackingServer.imagesKept must be a whole number"):
        parse_central(central(trackingServer={"imagesKept": "all"}), REGION)


def test_the_tag_is_the_same_under_any_umask_and_changes_with_the_content(tmp_path):
    """A laptop (umask 002) and CI (022) tag the same files alike: the staged context's modes
    are set, and the tag (which covers modes, as docker-build's own hash does) follows."""
    ca_text = b"stand-in CA text (tests only)\n"
    tags, contexts = {}, {}
    for umask in (0o002, 0o022, 0o077):
        source = tmp_path / f"src-{umask:o}"
        ca = copy_tree(source, umask, ca_text)
        assert stat.S_IMODE((source / "Dockerfile").stat().st_mode) == 0o666 & ~umask
        contexts[umask], tags[umask] = stage_image_context(tmp_path / f"build-{umask:o}", source,
                                                           image_build_args(), rds_ca=ca)
    assert len(set(tags.values())) == 1, tags
    for context in contexts.values():
        modes = {stat.S_IMODE(p.stat().st_mode) for p in context.rglob("*") if p.is_file()}
        dirs = {stat.S_IMODE(p.stat().st_mode) for p in context.rglob("*") if p.is_dir()}
        assert modes == {FILE_MODE} and dirs <= {DIR_MODE}
        assert (context / "rds-ca.pem").read_bytes() == ca_text
        assert {p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()} \
            == set(tracked_files()) | {"rds-ca.pem"}
    tag = tags[0o022]
    context = contexts[0o022]
    assert context.name == tag and context_digest(context, image_build_args(), modes=True) == tag
    # modes are in the digest: a context whose modes differed would be another tag
    os.chmod(context / "entrypoint.py", 0o755)
    assert context_digest(context, image_build_args(), modes=True) != tag
    assert context_digest(context, image_build_args()) == context_digest(
        contexts[0o002], image_build_args())  # (bytes alone do not see it)
    # the content, the CA bundle and the build arguments each make another tag
    source = tmp_path / "src-22"
    (source / "entrypoint.py").write_text((IMAGE_DIR / "entrypoint.py").read_text() + "# new\n")
    assert stage_image_context(tmp_path / "b2", source, image_build_args(),
                               rds_ca=tmp_path / "ca-22.pem")[1] != tag
    (source / "entrypoint.py").write_bytes((IMAGE_DIR / "entrypoint.py").read_bytes())
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(b"another stand-in\n")
    assert stage_image_context(tmp_path / "b3", source, image_build_args(), rds_ca=other_ca)[1] \
        != tag
    assert stage_image_context(tmp_path / "b4", source, {"MLFLOW_VERSION": "0.0.1"},
                               rds_ca=tmp_path / "ca-22.pem")[1] != tag
    # what a local install or a test leaves there (git and .dockerignore ignore it) is not copied
    for leftover in ("__pycache__/entrypoint.cpython-311.pyc", "plugin/build/lib/x.py",
                     "plugin/x.egg-info/PKG-INFO"):
        (source / leftover).parent.mkdir(parents=True, exist_ok=True)
        (source / leftover).write_bytes(b"left over")
    assert stage_image_context(tmp_path / "b5", source, image_build_args(),
                               rds_ca=tmp_path / "ca-22.pem")[1] == tag


def test_no_build_without_the_vendored_ca_bundle_or_the_constraints(tmp_path):
    source = tmp_path / "src"
    copy_tree(source, 0o022, b"x")
    with pytest.raises(ImageBuildError, match=r"rds-ca.pem is missing.*python -m "
                                              r"components.builds rds-ca"):
        stage_image_context(tmp_path / "build", source, image_build_args())  # none vendored
    (source / "constraints.txt").unlink()
    with pytest.raises(ImageBuildError, match=r"constraints.txt is missing.*components.builds "
                                              r"constraints"):
        stage_image_context(tmp_path / "build", source, image_build_args(),
                            rds_ca=tmp_path / "ca-22.pem")


def test_the_dockerfile_fetches_nothing_and_installs_exact_versions_only():
    dockerfile = (IMAGE_DIR / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if not line.startswith("#")]
    assert not any(line.startswith("ADD") for line in instructions)
    assert "http" not in "\n".join(instructions)
    assert "COPY --chmod=0644 rds-ca.pem /app/rds-ca.pem" in dockerfile
    installs = [line for line in instructions if "pip install" in line]
    assert installs == [
        "RUN pip install --no-cache-dir --no-deps -r /tmp/constraints.txt \\",
        "    && pip install --no-cache-dir --no-deps --no-build-isolation /tmp/mlflow_tracing_gap \\",
        "RUN pip install --no-cache-dir --no-deps --no-build-isolation /tmp/plugin \\"]
    assert "    && pip check \\" in instructions
    lines = [line for line in CONSTRAINTS.read_text().splitlines() if not line.startswith("#")]
    assert lines and all(line.count("==") == 1 and " " not in line for line in lines), lines
    pins = dict(line.split("==") for line in lines)
    requirements = (IMAGE_DIR.parents[1] / "requirements.txt").read_text().splitlines()
    assert pins["mlflow"] == pinned_mlflow_version()
    assert f"psycopg[binary]=={pins['psycopg']}" in requirements
    assert pins["psycopg-binary"] == pins["psycopg"]
    # the plugin's build backend is pinned too (no build isolation fetching the newest)
    assert "setuptools" in pins and "boto3" in pins and "botocore" in pins


def test_the_constraints_hold_what_the_pinned_mlflow_needs():
    """Regenerate with `python -m components.builds constraints` after a pin moves: every
    dependency the pinned MLflow declares for the image's Python is listed."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from components.builds import IMAGE_MARKERS, image_folder_packages

    if metadata.version("mlflow") != pinned_mlflow_version():
        pytest.skip("the installed MLflow is not requirements.txt's pin")
    # what the image installs: constraints.txt and its folders' stand-ins (the next test)
    listed = {line.split("==")[0] for line in CONSTRAINTS.read_text().splitlines()
              if not line.startswith("#")} | set(image_folder_packages())
    for name in ("mlflow", "mlflow-skinny", "mlflow-tracing"):
        for text in metadata.distribution(name).requires:
            dep = Requirement(text)
            if dep.marker is None or dep.marker.evaluate({**IMAGE_MARKERS, "extra": ""}):
                assert canonicalize_name(dep.name) in listed, (
                    f"{dep.name} (needed by {name}) is not in constraints.txt: run "
                    f"`python -m components.builds constraints`")
    assert "mlflow==" + pinned_mlflow_version() in image_constraints()


def test_what_the_image_installs_from_its_own_folders_is_not_fetched_from_pypi():
    """A stand-in requirements.txt installs by path (mlflow_tracing_gap/: a release PyPI lacks)
    is left out of constraints.txt, which pip would look up on PyPI, and the Dockerfile copies
    and installs it from the context instead."""
    from components.builds import image_folder_packages

    local = image_folder_packages()
    assert local == {"mlflow-tracing": "mlflow_tracing_gap"}
    listed = {line.split("==")[0] for line in CONSTRAINTS.read_text().splitlines()
              if not line.startswith("#")}
    dockerfile = (IMAGE_DIR / "Dockerfile").read_text()
    for name, folder in local.items():
        assert name not in listed
        assert f"{name}==" not in image_constraints()
        assert f"COPY {folder} /tmp/{folder}" in dockerfile
        assert f"--no-build-isolation /tmp/{folder}" in dockerfile


def _certificate(common_name: str) -> bytes:
    """A self-signed certificate made here, for the refresh's checks (not AWS's)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_ca_refresh_writes_amazon_rds_certificates_only(tmp_path):
    from components.builds import refresh_rds_ca

    good = tmp_path / "good.pem"
    good.write_bytes(_certificate("Amazon RDS test-1 Root CA") +
                     _certificate("Amazon RDS test-2 Root CA"))
    target = tmp_path / "rds-ca.pem"
    said = refresh_rds_ca(good.as_uri(), target)
    assert target.read_bytes() == good.read_bytes() and "2 certificates" in said
    bad = tmp_path / "bad.pem"
    bad.write_bytes(_certificate("Amazon RDS test-1 Root CA") + _certificate("Someone Else"))
    target.unlink()
    with pytest.raises(ImageBuildError, match="did not give Amazon RDS's CA certificates"):
        refresh_rds_ca(bad.as_uri(), target)
    assert not target.exists()
    (tmp_path / "text.pem").write_text("not a certificate")
    with pytest.raises(ValueError):
        refresh_rds_ca((tmp_path / "text.pem").as_uri(), target)
    assert not target.exists()
