"""Small building blocks the components share: generated secrets, Kubernetes Secrets, Helm releases."""

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from folio_deploy.charts import CHARTS


def generated_password(name: str, parent: pulumi.Resource, length: int = 32) -> pulumi.Output[str]:
    """A random password kept in the stack state, encrypted: the same value on every `pulumi up`."""
    password = random.RandomPassword(
        name, length=length, special=False, opts=pulumi.ResourceOptions(parent=parent)
    )
    # The engine marks `result` secret too; wrapping here keeps it secret whatever the engine does.
    return pulumi.Output.secret(password.result)


def kube_secret(
    name: str,
    namespace: str,
    data: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.core.v1.Secret:
    """A Kubernetes Secret named `name` whose every value is a Pulumi secret in the state.

    `depends_on` takes its Namespace: a parent orders nothing, and the API refuses a Secret in a
    namespace that does not exist yet.
    """
    return k8s.core.v1.Secret(
        f"secret-{namespace}-{name}",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
        type="Opaque",
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )


def namespace(
    name: str, parent: pulumi.Resource, provider: k8s.Provider, labels: Mapping[str, str] | None = None
) -> k8s.core.v1.Namespace:
    """A namespace owned by this stack (deleting the stack deletes it)."""
    return k8s.core.v1.Namespace(
        f"ns-{name}",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, labels={"app.kubernetes.io/part-of": "folio", **(labels or {})}
        ),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )


def helm_release(
    key: str,
    namespace: str,
    values: Mapping[str, Any],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
    chart_path: str | None = None,
    value_files: Sequence[str] = (),
) -> k8s.helm.v3.Release:
    """A Helm release of the pinned upstream chart CHARTS[key] (or of a local chart at chart_path).

    Release names are fixed (`key`) so service DNS names are predictable and the app can be wired to
    them; `atomic` rolls a failed upgrade back instead of leaving a half-applied release.
    """
    ref = CHARTS.get(key)
    chart = chart_path or (ref.chart if ref else None)
    if chart is None:
        raise KeyError(f"no pinned chart for {key}: add it to folio_deploy.charts.CHARTS")
    local = chart_path is not None or (
        ref is not None and ref.repo is None and not ref.chart.startswith("oci://")
    )
    return k8s.helm.v3.Release(
        key,
        name=key,
        namespace=namespace,
        chart=chart,
        version=None if local or ref is None else ref.version,
        repository_opts=(
            k8s.helm.v3.RepositoryOptsArgs(repo=ref.repo)
            if ref is not None and ref.repo and not local
            else None
        ),
        dependency_update=local,
        values=dict(values),
        value_yaml_files=[pulumi.FileAsset(path) for path in value_files] or None,
        atomic=True,
        cleanup_on_fail=True,
        timeout=900,
        max_history=5,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )


def requests(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, dict[str, str]]:
    """A container's `resources`: what the scheduler reserves, and a memory limit (the request by default)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit or memory}}
