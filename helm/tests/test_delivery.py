"""No drift between services/, their images, the chart and skaffold: every service has one of each,
and every Dockerfile has the one shape (STYLE.md section 9)."""

import re
from pathlib import Path

import pytest
import yaml

from folio_testing.helm import load_values

from .conftest import PROFILES, REPO

# Embedded-only stand-ins that are never deployed: no image, no chart entry (Keycloak replaces dev-oidc).
EMBEDDED_ONLY = {"dev-oidc"}
SERVICES = sorted(
    {p.parent.name for p in (REPO / "services").glob("*/pyproject.toml")} - EMBEDDED_ONLY,
)


def _dockerfile(service: str) -> Path:
    return REPO / "services" / service / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in joined.splitlines()
        if line.strip()
    ]


def test_services_are_the_expected_ones() -> None:
    assert set(SERVICES) >= {"catalog", "cart", "payment", "orders", "storefront", "assistant"}


def test_embedded_only_services_ship_nothing_to_a_cluster() -> None:
    for service in EMBEDDED_ONLY:
        assert not (REPO / "services" / service / "Dockerfile").exists(), f"{service} must never get an image"
    assert not EMBEDDED_ONLY & set(load_values([REPO / "helm" / "folio" / "values.yaml"])["services"])


@pytest.mark.parametrize("service", SERVICES)
def test_every_dockerfile_has_the_one_shape(service: str) -> None:
    steps = _instructions(_dockerfile(service).read_text())
    kinds = [kind for kind, _ in steps]
    assert kinds == [
        "ARG", "FROM", "WORKDIR", "COPY", "RUN",
        "FROM", "ARG", "RUN", "ARG", "ARG", "RUN", "ENV", "WORKDIR", "COPY", "RUN", "COPY", "ARG", "RUN",
        "FROM", "ARG", "RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "CMD",
    ]  # fmt: skip
    args = dict(steps)
    sync = [a.split(" && ")[0].strip() for k, a in steps if k == "RUN" and "uv sync" in a]
    cache = "--mount=type=cache,target=/root/.cache/uv"
    assert sync == [
        f"{cache} uv sync --locked --no-dev --no-install-workspace --package folio-{service}",
        f"{cache} uv sync --locked --no-dev --no-editable --package folio-{service}",
    ], "dependencies from the lock first (a cached layer), then the workspace members; downloads cached"
    assert any("UV_CACHE_DIR=/root/.cache/uv" in a for k, a in steps if k == "ENV")
    copies = [a for k, a in steps if k == "COPY"]
    assert copies[:3] == [". .", "--from=manifests /src .", ". ."], "built from the repository root"
    assert ("ARG", "SSL_CERT_FILE") in steps, "a TLS-inspecting build host names its CA store"
    assert args["USER"] == "10001:10001", "a numbered non-root user"
    assert "useradd --system --uid 10001" in [a for k, a in steps if k == "RUN"][-1]
    assert args["CMD"] == f'["python", "-m", "folio_{service}"]', "exec form"
    froms = [a for k, a in steps if k == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS manifests", "${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    assert ("COPY", "--from=build /app/.venv /app/.venv") in steps


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_in_the_chart_and_in_skaffold(service: str) -> None:
    values = load_values(PROFILES["default"])
    assert values["services"][service]["enabled"] is True
    skaffold = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    artifacts = {a["image"]: a for a in skaffold["build"]["artifacts"]}
    artifact = artifacts[f"folio/{service}"]
    assert artifact["context"] == "."
    assert artifact["docker"]["dockerfile"] == f"services/{service}/Dockerfile"
    sets = skaffold["deploy"]["helm"]["releases"][0]["setValueTemplates"]
    assert sets[f"services.{service}.image.repository"] == f"{{{{.IMAGE_REPO_folio_{service}}}}}"
    assert sets[f"services.{service}.image.tag"] == f"{{{{.IMAGE_TAG_folio_{service}}}}}"


def test_nothing_in_the_chart_or_skaffold_lacks_a_service() -> None:
    values = load_values(PROFILES["default"])
    skaffold = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    assert sorted(values["services"]) == SERVICES
    assert sorted(a["image"].removeprefix("folio/") for a in skaffold["build"]["artifacts"]) == SERVICES


def test_skaffold_deploys_the_chart_with_the_profiles_the_issue_names() -> None:
    skaffold = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    (release,) = skaffold["deploy"]["helm"]["releases"]
    assert release["chartPath"] == "helm/folio"
    assert {p["name"] for p in skaffold["profiles"]} >= {"k3s", "dev", "debug"}
    profiles = {p["name"]: p for p in skaffold["profiles"]}
    added = [patch["value"] for patch in profiles["k3s"]["patches"]]
    assert added == ["helm/folio/values-k3s.yaml"]
    (sync,) = [patch for patch in profiles["dev"]["patches"] if patch["path"].endswith("/sync")]
    index = int(sync["path"].split("/")[3])
    assert skaffold["build"]["artifacts"][index]["image"] == "folio/storefront"
    for rule in sync["value"]["manual"]:
        assert (REPO / rule["strip"]).is_dir(), rule["strip"]


def test_the_build_context_leaves_local_state_out() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".tools", ".folio", "**/tests", "**/__pycache__"} <= ignored
