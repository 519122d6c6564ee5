"""The pod runner reads the chart's pod specs as a kubelet would, and refuses what it cannot do.

The rendered k3s profile with the images test's overlay: its env resolves from the Secrets a platform
makes, its securityContext becomes podman's flags, and a field the runner does not apply fails loudly."""

import copy
from pathlib import Path
from typing import Any

import pytest

from folio_testing import podspec
from folio_testing.helm import ChartCopy, load_values
from folio_testing.podspec import Manifests, Unsupported, Workload

CHART = Path(__file__).resolve().parents[3] / "helm" / "folio"
VALUES = [CHART / "values.yaml", CHART / "values-k3s.yaml", CHART / "ci" / "podman-values.yaml"]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    chart = ChartCopy(CHART)
    try:
        return chart.render(load_values(VALUES))
    finally:
        chart.close()


@pytest.fixture
def manifests(rendered: list[dict[str, Any]]) -> Manifests:
    made = Manifests(copy.deepcopy(rendered))
    made.add_secret("folio-orders-database", {"url": "postgresql://orders@postgresql.folio-data:5432/orders"})
    made.add_secret("folio-orders-oidc", {"client-secret": "s3cret"})
    return made


def _workload(manifests: Manifests, name: str) -> Workload:
    return next(w for w in manifests.workloads() if w.name == name)


def test_every_workload_of_the_chart_is_one_the_runner_can_run(manifests: Manifests) -> None:
    workloads = {w.name: w for w in manifests.workloads()}
    assert sorted(workloads) == ["assistant", "cart", "catalog", "orders", "payment", "storefront"]
    for workload in workloads.values():
        podspec.check_pod(workload)
    assert workloads["assistant"].claims == ("data",)
    assert "catalog.folio.svc.cluster.local" in manifests.service_names(workloads["catalog"])


def test_env_comes_from_values_and_the_platforms_secrets(manifests: Manifests) -> None:
    env = podspec.environment(manifests, _workload(manifests, "orders"), "10.0.0.9")

    assert env["FOLIO_ORDERS_DATABASE_URL"] == "postgresql://orders@postgresql.folio-data:5432/orders"
    assert env["FOLIO_AUTH_CLIENT_SECRET"] == "s3cret"
    assert env["FOLIO_AUTH_ISSUER_URL"] == "http://identity.folio.test:8090"
    assert env["FOLIO_ORDERS_SERVICE_ADDRESSES"].startswith('{"cart":"cart:50052"')


def test_a_missing_secret_stops_the_pod_as_a_kubelet_would(manifests: Manifests) -> None:
    with pytest.raises(Unsupported, match="catalog would not start: secret 'folio-catalog-database'"):
        podspec.environment(manifests, _workload(manifests, "catalog"), "10.0.0.9")


def test_the_security_context_becomes_podmans_flags(manifests: Manifests) -> None:
    args = podspec.security_args(_workload(manifests, "cart"), image_user="10001:10001")

    assert args[:2] == ["--user", "10001:10001"]
    for flag in ("--read-only", "--read-only-tmpfs=false", "no-new-privileges", "ALL"):
        assert flag in args
    assert podspec.resource_args(_workload(manifests, "cart")) == [
        "--memory",
        str(256 * 2**20),
        "--cpus",
        "0.5",
    ]


def test_run_as_non_root_refuses_a_root_image(manifests: Manifests) -> None:
    workload = _workload(manifests, "cart")
    spec = copy.deepcopy(dict(workload.spec))
    del spec["securityContext"]["runAsUser"]
    del spec["containers"][0]["securityContext"]["runAsUser"]
    rooted = Workload(workload.kind, workload.name, workload.namespace, workload.labels, spec)

    with pytest.raises(Unsupported, match="runAsNonRoot and image will run as root"):
        podspec.security_args(rooted, image_user="")
    with pytest.raises(Unsupported, match="non-numeric user"):
        podspec.security_args(rooted, image_user="folio")


def test_a_field_the_runner_does_not_apply_fails_loudly(manifests: Manifests) -> None:
    workload = _workload(manifests, "cart")
    spec = copy.deepcopy(dict(workload.spec))
    spec["containers"][0]["securityContext"]["procMount"] = "Unmasked"
    spec["shareProcessNamespace"] = True

    with pytest.raises(Unsupported, match="does not apply shareProcessNamespace"):
        podspec.check_pod(Workload(workload.kind, workload.name, workload.namespace, workload.labels, spec))
    with pytest.raises(Unsupported, match="does not apply procMount"):
        podspec.security_args(
            Workload(workload.kind, workload.name, workload.namespace, workload.labels, spec),
            image_user="10001",
        )
