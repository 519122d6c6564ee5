"""A rendered chart's workloads read as a kubelet would read them, for running them with podman.

`Manifests` holds the rendered objects (plus the Secrets a platform would make); `Workload` is one
Deployment or StatefulSet; `container_args` turns its pod spec into `podman run` arguments: image,
command and args, env (values, secretKeyRef, configMapKeyRef, fieldRef, $(VAR) references), the
pod's and the container's securityContext, resource limits, volumes and hostAliases. A field this
module does not know fails loudly, so a chart change is never silently dropped.
"""

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WORKLOAD_KINDS = ("Deployment", "StatefulSet")
# Pod fields the runner applies, and those that only a cluster's scheduler or API server acts on.
POD_FIELDS = {
    "containers",
    "volumes",
    "securityContext",
    "hostAliases",
    "terminationGracePeriodSeconds",
    "enableServiceLinks",
    "automountServiceAccountToken",
    "serviceAccountName",
}
SCHEDULING_FIELDS = {
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
    "imagePullSecrets",
    "priorityClassName",
}
CONTAINER_FIELDS = {
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "env",
    "envFrom",
    "ports",
    "startupProbe",
    "readinessProbe",
    "livenessProbe",
    "lifecycle",
    "resources",
    "securityContext",
    "volumeMounts",
    "workingDir",
}
POD_SECURITY = {
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "fsGroupChangePolicy",
    "seccompProfile",
    "supplementalGroups",
}
CONTAINER_SECURITY = {
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "allowPrivilegeEscalation",
    "privileged",
    "readOnlyRootFilesystem",
    "capabilities",
    "seccompProfile",
}
_REFERENCE = re.compile(r"\$\((\w+)\)|\$\$")
_QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


class Unsupported(Exception):
    """The manifests use something the runner cannot do as a cluster would."""


@dataclass(frozen=True)
class Workload:
    """One Deployment or StatefulSet: the pod template the runner starts one pod of."""

    kind: str
    name: str
    namespace: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    claims: tuple[str, ...] = ()

    @property
    def pod_name(self) -> str:
        return f"{self.name}-0"

    @property
    def container(self) -> Mapping[str, Any]:
        containers = self.spec["containers"]
        if len(containers) != 1 or self.spec.get("initContainers"):
            raise Unsupported(f"{self.name}: the runner runs pods of exactly one container")
        return dict(containers[0])

    def port(self, port: int | str) -> int:
        """A probe's port: a number, or the name of one of the container's ports."""
        if isinstance(port, int):
            return port
        for entry in self.container.get("ports", []):
            if entry.get("name") == port:
                return int(entry["containerPort"])
        raise Unsupported(f"{self.name}: no container port named {port!r}")

    def volume_names(self) -> list[str]:
        """Volumes that hold data (emptyDir and claims): named podman volumes."""
        names = [
            v["name"] for v in self.spec.get("volumes", []) if "emptyDir" in v or "persistentVolumeClaim" in v
        ]
        return names + list(self.claims)


@dataclass
class Manifests:
    """Rendered objects by kind, with Secrets and ConfigMaps decoded to plain strings."""

    objects: list[dict[str, Any]]
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for obj in self.of_kind("Secret"):
            decoded = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
            self.secrets[obj["metadata"]["name"]] = decoded | dict(obj.get("stringData") or {})
        for obj in self.of_kind("ConfigMap"):
            self.config_maps[obj["metadata"]["name"]] = dict(obj.get("data") or {})

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj.get("kind") == kind]

    def add_secret(self, name: str, data: Mapping[str, str]) -> None:
        """A Secret the platform (Pulumi) would make beside the release."""
        self.secrets[name] = dict(data)

    def workloads(self) -> list[Workload]:
        found = []
        for obj in (o for o in self.objects if o.get("kind") in WORKLOAD_KINDS):
            template = obj["spec"]["template"]
            claims = tuple(c["metadata"]["name"] for c in obj["spec"].get("volumeClaimTemplates", []))
            found.append(
                Workload(
                    obj["kind"],
                    obj["metadata"]["name"],
                    obj["metadata"].get("namespace", "default"),
                    template["metadata"].get("labels", {}),
                    template["spec"],
                    claims,
                )
            )
        return found

    def service_names(self, workload: Workload) -> list[str]:
        """The Services whose selector picks this workload's pods, as cluster DNS spells them."""
        names = []
        for service in self.of_kind("Service"):
            selector = service["spec"].get("selector") or {}
            if selector and all(workload.labels.get(k) == v for k, v in selector.items()):
                name, namespace = service["metadata"]["name"], service["metadata"].get("namespace", "default")
                names += [
                    name,
                    f"{name}.{namespace}",
                    f"{name}.{namespace}.svc",
                    f"{name}.{namespace}.svc.cluster.local",
                ]
        return names


def _check_fields(where: str, given: Iterable[str], known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise Unsupported(f"{where}: the pod runner does not apply {', '.join(unknown)}")


def _lookup(manifests: Manifests, ref: Mapping[str, Any], kind: str, pod: str) -> str | None:
    store = manifests.secrets if kind == "secret" else manifests.config_maps
    data = store.get(ref["name"])
    if data is None or ref["key"] not in data:
        if ref.get("optional"):
            return None
        missing = (
            f"{kind} {ref['name']!r}" if data is None else f"key {ref['key']!r} of {kind} {ref['name']!r}"
        )
        raise Unsupported(f"{pod} would not start: {missing} does not exist (CreateContainerConfigError)")
    return data[ref["key"]]


def environment(manifests: Manifests, workload: Workload, address: str) -> dict[str, str]:
    """The container's environment exactly as the kubelet resolves it, in order."""
    container = workload.container
    env: dict[str, str] = {}
    fields = {
        "metadata.name": workload.pod_name,
        "metadata.namespace": workload.namespace,
        "status.podIP": address,
        "spec.serviceAccountName": workload.spec.get("serviceAccountName", ""),
    }
    for source in container.get("envFrom", []):
        kind = "secret" if "secretRef" in source else "configMap"
        ref = source.get("secretRef") or source.get("configMapRef") or {}
        data = (manifests.secrets if kind == "secret" else manifests.config_maps).get(ref["name"])
        if data is None and not ref.get("optional"):
            raise Unsupported(f"{workload.name} would not start: {kind} {ref['name']!r} does not exist")
        env |= {source.get("prefix", "") + k: v for k, v in (data or {}).items()}
    for var in container.get("env", []):
        value: str | None
        if "value" in var:
            value = _REFERENCE.sub(lambda m: env.get(m[1], m[0]) if m[1] else "$", str(var["value"]))
        elif "secretKeyRef" in (source := var.get("valueFrom", {})):
            value = _lookup(manifests, source["secretKeyRef"], "secret", workload.name)
        elif "configMapKeyRef" in source:
            value = _lookup(manifests, source["configMapKeyRef"], "configMap", workload.name)
        elif "fieldRef" in source and source["fieldRef"]["fieldPath"] in fields:
            value = fields[source["fieldRef"]["fieldPath"]]
        else:
            raise Unsupported(
                f"{workload.name}: env {var['name']} from {source}: the pod runner does not resolve it"
            )
        if value is not None:
            env[var["name"]] = value
    return env


def _quantity(value: str | int | float) -> float:
    text = str(value)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    for suffix, factor in _QUANTITY.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def image_user_id(user: str) -> int | None:
    """The uid of an image's USER (numeric, or root when empty); None when it is a name."""
    name = user.split(":", 1)[0]
    if name in ("", "root"):
        return 0
    return int(name) if name.isdigit() else None


def security_args(workload: Workload, image_user: str) -> list[str]:
    """podman flags for the pod's and the container's securityContext (the container's wins)."""
    pod = dict(workload.spec.get("securityContext") or {})
    box = dict(workload.container.get("securityContext") or {})
    _check_fields(f"{workload.name} pod securityContext", pod, POD_SECURITY)
    _check_fields(f"{workload.name} container securityContext", box, CONTAINER_SECURITY)
    merged = {k: v for k, v in pod.items() if k in CONTAINER_SECURITY} | box
    args: list[str] = []
    if "runAsUser" in merged:
        args += [
            "--user",
            f"{merged['runAsUser']}" + (f":{merged['runAsGroup']}" if "runAsGroup" in merged else ""),
        ]
    if merged.get("runAsNonRoot"):
        uid = merged.get("runAsUser", image_user_id(image_user))
        if uid is None:
            raise Unsupported(
                f"{workload.name}: image has non-numeric user ({image_user}), cannot verify user is non-root"
            )
        if uid == 0:
            raise Unsupported(f"{workload.name}: container has runAsNonRoot and image will run as root")
    groups = ([pod["fsGroup"]] if "fsGroup" in pod else []) + list(pod.get("supplementalGroups", []))
    args += [a for group in groups for a in ("--group-add", str(group))]
    if merged.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]
    if merged.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if merged.get("privileged"):
        args += ["--privileged"]
    capabilities = merged.get("capabilities") or {}
    args += [a for cap in capabilities.get("drop", []) for a in ("--cap-drop", cap)]
    args += [a for cap in capabilities.get("add", []) for a in ("--cap-add", cap)]
    seccomp = (merged.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif seccomp != "RuntimeDefault":
        raise Unsupported(f"{workload.name}: seccompProfile {seccomp}")
    return args


def resource_args(workload: Workload) -> list[str]:
    limits = (workload.container.get("resources") or {}).get("limits") or {}
    args = []
    if "memory" in limits:
        args += ["--memory", str(int(_quantity(limits["memory"])))]
    if "cpu" in limits:
        args += ["--cpus", f"{_quantity(limits['cpu']):g}"]
    return args


def command_args(workload: Workload) -> tuple[list[str], list[str]]:
    """(flags, trailing arguments) for command/args: command replaces ENTRYPOINT and drops CMD."""
    container = workload.container
    if "command" in container:
        return ["--entrypoint", json.dumps(container["command"])], list(container.get("args", []))
    return [], list(container.get("args", []))


def host_entries(workload: Workload) -> list[tuple[str, str]]:
    """(hostname, ip) of the pod's hostAliases."""
    return [
        (host, alias["ip"]) for alias in workload.spec.get("hostAliases", []) for host in alias["hostnames"]
    ]


def check_pod(workload: Workload) -> None:
    """Every field of the pod spec is one the runner applies or one only a scheduler acts on."""
    _check_fields(f"{workload.name} pod", workload.spec, POD_FIELDS | SCHEDULING_FIELDS)
    _check_fields(f"{workload.name} container", workload.container, CONTAINER_FIELDS)
    if workload.spec.get("enableServiceLinks", True):
        raise Unsupported(
            f"{workload.name}: enableServiceLinks (the runner injects no *_SERVICE_HOST variables)"
        )
    for volume in workload.spec.get("volumes", []):
        if not {"emptyDir", "persistentVolumeClaim", "configMap", "secret"} & set(volume):
            raise Unsupported(f"{workload.name}: volume {volume['name']} of a kind the runner does not mount")
    for mount in workload.container.get("volumeMounts", []):
        if "subPath" in mount or "subPathExpr" in mount:
            raise Unsupported(f"{workload.name}: subPath mounts")
