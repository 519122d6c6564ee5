"""What the graph is made of: a workload's pod template, one connection it opens, and label selection."""

from dataclasses import dataclass
from typing import Any

CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class Pod:
    """A workload's pod template: what policies select, who it is in the mesh, what it reads."""

    kind: str
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    service_account: str
    spec: dict[str, Any]
    meshed: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def container_port(self, port: int | str) -> int | None:
        for container in self.spec.get("containers", []):
            for declared in container.get("ports", []):
                if port in (declared.get("name"), declared.get("containerPort")):
                    return int(declared["containerPort"])
        return port if isinstance(port, int) else None

    def env(self) -> dict[str, dict[str, Any]]:
        return {
            item["name"]: item
            for container in self.spec.get("containers", [])
            for item in container.get("env") or []
        }


@dataclass(frozen=True)
class Edge:
    """One connection a pod opens: to `host:port`, because of `why`."""

    source: Pod
    host: str
    port: int
    why: str
    # "service": the Service's name (the mesh routes it); "pod": addresses from a registry or endpoints.
    dial: str = "service"
    # The Host / :authority the request carries, when it is not the dialled name (a gateway passing the shop's host).
    authority: str | None = None
    signal: str | None = None

    def __str__(self) -> str:
        return f"{self.source.key} -> {self.host}:{self.port} ({self.why})"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against labels; an empty selector selects all."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        if not {
            "In": present and value in expression.get("values", []),
            "NotIn": not present or value not in expression.get("values", []),
            "Exists": present,
            "DoesNotExist": not present,
        }[expression["operator"]]:
            return False
    return True
