"""The k3s stack's requests fit its 4-CPU / 8 GiB node, summed from the values passed to each release."""

import pytest

from folio_deploy.budget import Line, budget, cpu_millicores, main, memory_mib, workloads
from folio_deploy.offline import Evaluation


def totals(lines: list[Line]) -> tuple[float, float]:
    return sum(line.total_cpu_m for line in lines), sum(line.total_memory_mi for line in lines)


def test_k3s_stack_requests_fit_one_4_cpu_8_gib_node(k3s: Evaluation) -> None:
    cpu, memory = totals(budget(k3s, nodes=1, k3s=True))
    assert cpu <= 4000
    assert memory <= 8 * 1024


def test_every_k3s_release_is_counted_except_the_ones_without_pods(k3s: Evaluation) -> None:
    counted = {line.release for line in budget(k3s, nodes=1, k3s=True)}
    # istio-base installs only CRDs and webhooks' configuration: no pod to request anything.
    assert counted == (set(k3s.releases()) - {"istio-base"}) | {"k3s"}


def test_sidecars_are_counted_once_per_app_pod(k3s: Evaluation) -> None:
    lines = budget(k3s, nodes=1, k3s=True)
    (sidecar,) = [line for line in lines if "sidecar" in line.workload]
    assert sidecar.pods == sum(line.pods for line in lines if line.release == "folio") == 6
    assert (sidecar.cpu_m, sidecar.memory_mi) == (10, 40)


def test_k8s_stack_scales_replicas(k8s: Evaluation) -> None:
    lines = budget(k8s, nodes=3, k3s=False)
    catalog = next(line for line in lines if line.workload == "services.catalog")
    assert catalog.pods == 2
    exporter = next(line for line in lines if line.workload == "prometheus-node-exporter")
    assert exporter.pods == 3  # a DaemonSet: one per node


def test_the_budget_command_prints_the_totals_and_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["k3s"]) == 0
    out = capsys.readouterr().out
    assert "total requests:" in out
    assert "capacity: 4 CPU, 8 GiB -> fits" in out
    assert "not counted" in out


@pytest.mark.parametrize(
    ("quantity", "millicores"), [("250m", 250), ("0.5", 500), ("2", 2000), (1, 1000), ("1.5", 1500)]
)
def test_cpu_quantities(quantity: str, millicores: float) -> None:
    assert cpu_millicores(quantity) == millicores


@pytest.mark.parametrize(
    ("quantity", "mib"), [("512Mi", 512), ("2Gi", 2048), ("1024Ki", 1), ("1G", 1e9 / 2**20), (2**20, 1)]
)
def test_memory_quantities(quantity: str, mib: float) -> None:
    assert memory_mib(quantity) == pytest.approx(mib)


@pytest.mark.parametrize("bad", ["", "lots", "2 cores", "5Xi"])
def test_unknown_quantities_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        memory_mib(bad)


def test_workloads_multiply_replicas_and_skip_disabled_parts() -> None:
    values = {
        "replicaCount": 3,
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        "sidecar": {"enabled": False, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
        "worker": {"replicas": 2, "resources": {"requests": {"cpu": "50m"}}},
    }
    found = list(workloads(values))
    assert [(path, replicas) for path, _, replicas in found] == [("<top>", 3), ("worker", 2)]
