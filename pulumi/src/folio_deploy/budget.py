"""What a stack asks the scheduler for: CPU and memory requests summed from the values it passes.

`python -m folio_deploy.budget k3s` evaluates the program offline (folio_deploy.offline), reads the
`resources.requests` of every workload in every Helm release's values, multiplies by its replicas
(DaemonSets by the node count), adds the Istio sidecar of every pod in the injected namespace and the
cluster's own system pods, and compares the total with the stack's `capacity`.

It counts only what the values set. Upstream chart defaults that are not overridden are listed in
UNCOUNTED with why they are left out; a chart that schedules a pod this file does not know about would be
missed too, which is why the per-release lines are printed for a person to read.
"""

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from folio_deploy.offline import Evaluation, evaluate, stack_config, stand_in_secrets

# Values subtrees that are DaemonSets: one pod per node (release, top-level key).
PER_NODE = {("kube-prometheus-stack", "prometheus-node-exporter"), ("neuvector", "enforcer")}
# istiod's values hold the sidecar's requests: one sidecar per pod of the injected namespace (the app's).
SIDECAR = ("istiod", "global.proxy")
# k3s's own pods (its bundled manifests): coredns and metrics-server request 100m / 70Mi each;
# local-path-provisioner requests nothing; traefik is disabled by the Cluster component.
K3S_SYSTEM = (("kube-system/coredns", 100.0, 70.0), ("kube-system/metrics-server", 100.0, 70.0))

UNCOUNTED = {
    "ingress-nginx": "admission-webhook create/patch Jobs (run once per install/upgrade, then complete)",
    "cert-manager": "startupapicheck Job (runs once after install)",
    "kube-prometheus-stack": "admission-webhook patch Jobs (once per install); Grafana's dashboard sidecar "
    "(chart default: no requests)",
    "openldap": "init containers (they finish before the main container starts, so they add no steady load)",
    "ollama": "the model itself: its memory is inside the ollama container's request",
    "longhorn": "manager, driver, CSI and UI pods (chart default: no requests); the instance manager's "
    "reservation is counted from guaranteedInstanceManagerCPU",
    "neuvector": "the CVE database updater CronJob (once a night, then completes)",
}


@dataclass(frozen=True)
class Line:
    """One workload's requests: per pod, and how many pods."""

    release: str
    workload: str
    cpu_m: float
    memory_mi: float
    pods: int

    @property
    def total_cpu_m(self) -> float:
        return self.cpu_m * self.pods

    @property
    def total_memory_mi(self) -> float:
        return self.memory_mi * self.pods


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]i?|)$")
_MEMORY_FACTORS = {
    "": 1 / 2**20,
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "Ti": 1024**2,
    "K": 1e3 / 2**20,
    "M": 1e6 / 2**20,
    "G": 1e9 / 2**20,
    "T": 1e12 / 2**20,
}


def cpu_millicores(quantity: str | int | float) -> float:
    """A Kubernetes CPU quantity ("250m", "0.5", 2) in millicores."""
    match = _CPU.match(str(quantity).strip())
    if not match:
        raise ValueError(f"not a CPU quantity: {quantity!r}")
    number = float(match.group(1))
    return number if match.group(2) else number * 1000


def memory_mib(quantity: str | int | float) -> float:
    """A Kubernetes memory quantity ("512Mi", "2Gi", "1G", bytes) in MiB."""
    match = _MEMORY.match(str(quantity).strip())
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return float(match.group(1)) * _MEMORY_FACTORS[match.group(2)]


def workloads(values: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any], int]]:
    """(path, requests, replicas) of every `resources.requests` in a values tree, skipping disabled parts."""
    if not isinstance(values, dict):
        return
    if values.get("enabled") is False:
        return
    resources = values.get("resources")
    if isinstance(resources, dict) and isinstance(resources.get("requests"), dict):
        replicas = values.get("replicaCount") or values.get("replicas") or 1
        yield path or "<top>", resources["requests"], int(replicas)
    for key, child in values.items():
        if key != "resources":
            yield from workloads(child, f"{path}.{key}" if path else key)


def budget(evaluation: Evaluation, nodes: int, k3s: bool, node_cpu: float = 0) -> list[Line]:
    """Every workload line of the stack, sidecars and system pods included (node_cpu: cores per node)."""
    lines: list[Line] = []
    sidecar: tuple[float, float] | None = None
    for name, release in sorted(evaluation.releases().items()):
        for path, request, replicas in workloads(release.plain("values") or {}):
            cpu = cpu_millicores(request.get("cpu", 0))
            memory = memory_mib(request.get("memory", 0))
            if (name, path) == SIDECAR:
                sidecar = (cpu, memory)
                continue
            pods = nodes if (name, path.split(".")[0]) in PER_NODE else replicas
            lines.append(Line(name, path, cpu, memory, pods))
    longhorn = evaluation.releases().get("longhorn")
    if longhorn is not None:
        # Each node's instance manager reserves this share of the node's CPU for the volumes' engines.
        share = (
            (longhorn.plain("values") or {}).get("defaultSettings", {}).get("guaranteedInstanceManagerCPU")
        )
        if share:
            lines.append(
                Line("longhorn", "instance-manager (guaranteed CPU)", node_cpu * 10 * float(share), 0, nodes)
            )
    if sidecar is not None:
        app_pods = sum(line.pods for line in lines if line.release == "folio")
        lines.append(Line("istiod", "istio-proxy sidecar (per folio pod)", *sidecar, app_pods))
    if k3s:
        lines.extend(Line("k3s", workload, cpu, memory, 1) for workload, cpu, memory in K3S_SYSTEM)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the stack's requests per workload, the totals and whether they fit its capacity."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stack", help="stack name: reads pulumi/Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    # Secret values do not change what is requested; stand-ins let the program run offline.
    evaluation = evaluate(args.stack, secrets=stand_in_secrets(args.stack))
    capacity = evaluation_capacity(args.stack)
    nodes = int(capacity["nodes"]) if capacity else 1
    lines = budget(
        evaluation, nodes, k3s=is_k3s(args.stack), node_cpu=float(capacity["cpu"]) if capacity else 0
    )
    print(f"{'release':<24} {'workload':<44} {'pods':>4} {'cpu m':>8} {'memory Mi':>10}")
    for line in lines:
        print(
            f"{line.release:<24} {line.workload:<44} {line.pods:>4} "
            f"{line.total_cpu_m:>8.0f} {line.total_memory_mi:>10.0f}"
        )
    cpu = sum(line.total_cpu_m for line in lines)
    memory = sum(line.total_memory_mi for line in lines)
    print(f"\ntotal requests: {cpu / 1000:.2f} CPU, {memory / 1024:.2f} GiB")
    print("not counted (chart defaults left as they are):")
    for release, why in UNCOUNTED.items():
        if release in evaluation.releases():
            print(f"  {release}: {why}")
    if not capacity:
        print("no capacity in the stack config: nothing to compare with")
        return 0
    cpu_cap = float(capacity["cpu"]) * nodes * 1000
    memory_cap = float(capacity["memoryGib"]) * nodes * 1024
    fits = cpu <= cpu_cap and memory <= memory_cap
    print(
        f"capacity: {cpu_cap / 1000:.0f} CPU, {memory_cap / 1024:.0f} GiB -> "
        f"{'fits' if fits else 'DOES NOT FIT'} (headroom {(cpu_cap - cpu) / 1000:.2f} CPU, "
        f"{(memory_cap - memory) / 1024:.2f} GiB)"
    )
    return 0 if fits else 1


def evaluation_capacity(stack: str) -> dict[str, Any] | None:
    """The stack file's folio:capacity, as written."""
    raw = stack_config(stack).get("folio:capacity")
    return json.loads(raw) if raw else None


def is_k3s(stack: str) -> bool:
    """Whether the stack installs k3s (then k3s's own system pods count too)."""
    cluster = json.loads(stack_config(stack).get("folio:cluster", "{}"))
    return bool(cluster.get("mode") == "k3s")


if __name__ == "__main__":
    sys.exit(main())
