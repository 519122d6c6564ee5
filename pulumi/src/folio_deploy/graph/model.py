"""The deployed system as one list of Kubernetes objects, built from what would really be applied.

For a Pulumi stack: every Kubernetes object the program registers (evaluated offline under Pulumi's
mocks), the folio chart rendered by the real Helm engine with exactly the values and value files the
program passes it, and each platform release described from its values (graph.platform). For the
skaffold dev profile: the releases skaffold.yaml deploys with that profile's patches applied.
"""

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml

from folio_deploy.graph.platform import describe
from folio_deploy.offline import RELEASE, Evaluation

REPO = Path(__file__).resolve().parents[4]
SKAFFOLD = REPO / "skaffold.yaml"
# API groups each platform release installs (its CRDs): an object of such a group needs the release.
CRD_GROUPS = {
    "networking.istio.io": "istio-base",
    "security.istio.io": "istio-base",
    "monitoring.coreos.com": "kube-prometheus-stack",
    "apisix.apache.org": "apisix",
    "cert-manager.io": "cert-manager",
    "neuvector.com": "neuvector",
    "policy.sigstore.dev": "policy-controller",
    "longhorn.io": "longhorn",
}
# Harbor's API objects the stack makes (pulumiverse-harbor), kept in the model as kind Harbor<Type>.
HARBOR = "harbor:index/"


def merge_values(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge values the way `helm -f a.yaml -f b.yaml --set ...` does: maps deeply, anything else replaced."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = merge_values(merged[key], value)
            elif isinstance(value, Mapping):
                merged[key] = merge_values(value)
            else:
                merged[key] = value
    return merged


def _ints(value: Any) -> Any:
    """Whole numbers as ints (Pulumi's wire format makes every number a float)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    return value


class Charts:
    """Local charts (helm/) copied once into a temporary directory with their dependencies built."""

    def __init__(self, helm_dir: Path = REPO / "helm") -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="folio-graph-"))
        self._root = self._tmp / "helm"
        shutil.copytree(helm_dir, self._root, ignore=shutil.ignore_patterns("tests", "charts"))
        self._built: set[str] = set()

    def render(
        self, chart: Path, values: Mapping[str, Any], release: str, namespace: str
    ) -> list[dict[str, Any]]:
        """Every object `helm template` prints for this chart, values and release."""
        path = self._root / chart.name
        if chart.name not in self._built:
            helm_python.dependency_build(path)
            self._built.add(chart.name)
        with helm_python.Chart.load(path) as loaded:
            manifests = loaded.render(dict(values), name=release, namespace=namespace, is_install=True)
        objects: list[dict[str, Any]] = []
        for template in sorted(manifests):
            if template.endswith((".yaml", ".yml")):
                objects.extend(doc for doc in yaml.safe_load_all(manifests[template]) if doc)
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("namespace", namespace)
        return objects

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "Charts":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class Finding:
    """A broken edge or dependency: its class (dns, policy, mesh, secret, env, pipeline, install,
    retry) and why."""

    kind: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.subject}: {self.message}"


@dataclass
class Release:
    name: str
    namespace: str
    values: dict[str, Any]


@dataclass
class Model:
    """Every object of one deployment, and the releases that made them."""

    name: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    releases: dict[str, Release] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return (obj for obj in self.objects if obj.get("kind") in kinds)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        for obj in self.of_kind(kind):
            metadata = obj["metadata"]
            if metadata["name"] == name and metadata.get("namespace", namespace) == namespace:
                return obj
        return None

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """A namespace's labels (kubernetes.io/metadata.name is set by the API server on every one)."""
        labels = {"kubernetes.io/metadata.name": namespace}
        for obj in self.of_kind("Namespace"):
            if obj["metadata"]["name"] == namespace:
                labels |= obj["metadata"].get("labels") or {}
        return labels

    @property
    def mesh(self) -> bool:
        """Istio's control plane is installed (its sidecar injector is what meshes a pod)."""
        return "istiod" in self.releases


def _object(resource_type: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """A `kubernetes:<group>/<version>:<Kind>` registration as the object it applies."""
    if resource_type.startswith(HARBOR):
        kind = resource_type.rsplit(":", 1)[-1]
        return {
            "apiVersion": "harbor/v2.0",
            "kind": f"Harbor{kind}",
            "metadata": {"name": kind},
            "spec": inputs,
        }
    if not resource_type.startswith("kubernetes:") or resource_type == RELEASE:
        return None
    module, kind = resource_type.removeprefix("kubernetes:").split(":")
    group, version = module.rsplit("/", 1)
    obj = {key: value for key, value in inputs.items() if key not in ("apiVersion", "kind")}
    obj["apiVersion"] = inputs.get("apiVersion") or (version if group == "core" else f"{group}/{version}")
    obj["kind"] = inputs.get("kind") or kind
    return obj


def from_evaluation(evaluation: Evaluation, charts: Charts) -> Model:
    """The model of a Pulumi stack evaluated offline (folio_deploy.offline.evaluate)."""
    from folio_deploy.offline import unwrap

    model = Model(evaluation.stack)
    for resource in evaluation.resources:
        obj = _object(resource.type, unwrap(resource.inputs))
        if obj is not None:
            model.objects.append(_ints(obj))
    for name, release in evaluation.releases().items():
        namespace = str(release.plain("namespace"))
        values = _ints(release.plain("values") or {})
        model.releases[name] = Release(name, namespace, values)
        chart = str(release.plain("chart"))
        if chart.startswith(("/", ".")) and Path(chart).is_dir():
            files = [Path(asset.path) for asset in release.plain("valueYamlFiles") or []]
            layers = [
                yaml.safe_load(path.read_text()) or {} for path in [Path(chart) / "values.yaml", *files]
            ]
            model.objects += charts.render(Path(chart), merge_values(*layers, values), name, namespace)
        else:
            model.objects += describe(name, namespace, values)
    return model


def _set(values: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        values = values.setdefault(part, {})
    values[leaf] = value


def _patched(document: dict[str, Any], patches: list[dict[str, Any]]) -> None:
    """skaffold's profile patches (JSON Patch `add` / `replace`)."""
    for patch in patches:
        *parents, leaf = [part.replace("~1", "/") for part in patch["path"].strip("/").split("/")]
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        if isinstance(target, list):
            if leaf == "-":
                target.append(patch["value"])
            else:
                target.insert(int(leaf), patch["value"])
        else:
            target[leaf] = patch["value"]


def from_skaffold(charts: Charts, profiles: tuple[str, ...] = ("dev",), path: Path = SKAFFOLD) -> Model:
    """The model of `skaffold dev -p <profiles>` on a bare cluster: only what skaffold deploys."""
    document = yaml.safe_load(path.read_text())
    for profile in document.get("profiles", []):
        if profile["name"] in profiles:
            _patched(document, profile.get("patches", []))
    model = Model(f"skaffold:{','.join(profiles)}")
    for release in document["deploy"]["helm"]["releases"]:
        namespace = release.get("namespace", "default")
        values = merge_values(
            *(yaml.safe_load((REPO / f).read_text()) or {} for f in release.get("valuesFiles", []))
        )
        for key, template in (release.get("setValueTemplates") or {}).items():
            # {{.IMAGE_REPO_folio_catalog}} / {{.IMAGE_TAG_...}}: the image skaffold just built.
            _set(values, key, "folio/dev" if "IMAGE_REPO" in str(template) else "dev")
        for key, value in (release.get("setValues") or {}).items():
            _set(values, key, value)
        model.releases[release["name"]] = Release(release["name"], namespace, values)
        model.objects += charts.render(REPO / release["chartPath"], values, release["name"], namespace)
        if release.get("createNamespace"):
            model.objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return model
