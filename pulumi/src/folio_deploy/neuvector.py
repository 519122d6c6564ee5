"""NeuVector's rules for Folio, as code: one NvSecurityRule per service, learned from the call graph the code
declares instead of from a Discover-mode run.

Each service's group (`nv.<service>.folio`, NeuVector's own name for the Deployment's workloads) may open
connections only to the services its Settings name (`service_addresses`) and to the platform namespaces
its NetworkPolicy egress lists, on those ports; it accepts connections only from the callers of those
edges (the gateway, Prometheus' scrape, the services that call it). Processes are limited to the image's
Python interpreter (zero drift: nothing that was not in the image runs). The deploy graph
(folio_deploy.graph.guards) proves every rule is a call edge of the rendered deployment and every edge a
rule.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

API_VERSION = "neuvector.com/v1"
# Connections every pod makes that are the platform's, not the application's: name lookups, and the
# sidecar's configuration from the mesh's control plane. The graph checks them as platform rules.
DNS_RULE = "dns"
MESH_RULE = "mesh-control-plane"
PLATFORM_RULES = (DNS_RULE, MESH_RULE)
# The one process a Folio container runs: `python -m folio_<service>` (see every service's Dockerfile).
PROCESSES = [{"action": "allow", "name": "python3.12", "path": "/usr/local/bin/python3.12"}]


@dataclass(frozen=True)
class Peer:
    """The other end of a rule: a Folio service's group, or every workload of a namespace."""

    name: str
    criteria: tuple[tuple[str, str], ...]

    def selector(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "criteria": [{"key": key, "op": "=", "value": value} for key, value in self.criteria],
        }


def service_group(service: str, namespace: str) -> Peer:
    """NeuVector's learned group of a Deployment: nv.<name>.<namespace>, service <name>.<namespace>."""
    return Peer(f"nv.{service}.{namespace}", (("service", f"{service}.{namespace}"), ("domain", namespace)))


def namespace_group(namespace: str) -> Peer:
    """Every workload of a namespace (a custom group: NeuVector reserves the nv. prefix)."""
    return Peer(f"folio.ns.{namespace}", (("domain", namespace),))


def _rule(name: str, peer: Peer, ports: Iterable[int] | None) -> dict[str, Any]:
    return {
        "name": name,
        "selector": peer.selector(),
        "action": "allow",
        "applications": ["any"],
        "ports": ",".join(f"tcp/{port}" for port in sorted(set(ports))) if ports else "any",
        "priority": 0,
    }


def security_rules(
    *,
    namespace: str,
    ports: Mapping[str, int],
    callees: Mapping[str, list[str]],
    platform_egress: list[dict[str, Any]],
    inbound: Mapping[str, list[tuple[str, int]]],
    mode: str,
    mesh: bool,
) -> list[dict[str, Any]]:
    """The NvSecurityRule objects of every Folio service.

    `ports`: each service's container port; `callees`: the services each one calls; `platform_egress`:
    the app's NetworkPolicy egress ({namespace, ports, services: [] = all}); `inbound`: per service, the
    namespaces (and container port) its callers from outside Folio come from.
    """
    objects = []
    for service in sorted(ports):
        egress = [
            _rule(f"{service}-to-{callee}", service_group(callee, namespace), [ports[callee]])
            for callee in callees.get(service, [])
        ]
        for entry in platform_egress:
            if not entry["services"] or service in entry["services"]:
                egress.append(
                    _rule(
                        f"{service}-to-{entry['namespace']}-{'-'.join(map(str, entry['ports']))}",
                        namespace_group(str(entry["namespace"])),
                        entry["ports"],
                    )
                )
        egress.append(_rule(f"{service}-{DNS_RULE}", namespace_group("kube-system"), [53]))
        if mesh:
            egress.append(_rule(f"{service}-{MESH_RULE}", namespace_group("istio-system"), [15012]))
        ingress = [
            _rule(f"{caller}-to-{service}", service_group(caller, namespace), [ports[service]])
            for caller, called in sorted(callees.items())
            if service in called
        ]
        ingress += [
            _rule(f"{source}-to-{service}-{port}", namespace_group(source), [port])
            for source, port in inbound.get(service, [])
        ]
        objects.append(
            {
                "apiVersion": API_VERSION,
                "kind": "NvSecurityRule",
                "metadata": {"name": f"nv.{service}.{namespace}", "namespace": namespace},
                "spec": {
                    "target": {"policymode": mode, "selector": service_group(service, namespace).selector()},
                    "egress": egress,
                    "ingress": ingress,
                    "process": PROCESSES,
                    "process_profile": {"baseline": "zero-drift"},
                    "file": [],
                },
            }
        )
    return objects


def admission_rules(*, namespace: str, mode: str) -> dict[str, Any]:
    """NeuVector's admission control, on: Folio's pods never run privileged, as root or on the host's network.

    Whether an image is signed is the Sigstore policy controller's job (see docs/platform-security.md).
    """
    scope = {"name": "namespace", "op": "containsAny", "value": namespace}
    denied = (
        ("runAsPrivileged", "privileged containers"),
        ("runAsRoot", "containers running as root"),
        ("shareNetWithHost", "pods on the node's network"),
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "NvAdmissionControlSecurityRule",
        # NeuVector keeps one admission configuration per cluster, named "local".
        "metadata": {"name": "local"},
        "spec": {
            "config": {"enable": True, "mode": mode.lower(), "client_mode": "service"},
            "rules": [
                {
                    "action": "deny",
                    "comment": f"Folio: no {why}",
                    "criteria": [scope, {"name": criterion, "op": "=", "value": "true"}],
                    "disabled": False,
                }
                for criterion, why in denied
            ],
        },
    }
