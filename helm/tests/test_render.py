"""The chart renders under every profile, lints clean, and its objects are valid Kubernetes objects."""

import json
from typing import Any

import helm_python
import kubernetes_validate
import pytest

from folio_testing.helm import ChartCopy, load_values

from .conftest import CHART, PROFILES

KUBERNETES = "1.37.0"
# Kinds of CRDs: validated in test_crds.py against their own schemas, not Kubernetes'.
CUSTOM_GROUPS = ("apisix.apache.org/", "security.istio.io/", "networking.istio.io/", "monitoring.coreos.com/")
SERVICES = ["assistant", "cart", "catalog", "orders", "payment", "storefront"]


def _objects(rendered: dict[str, list[dict[str, Any]]], profile: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered[profile] if o["kind"] == kind}


def _workloads(rendered: dict[str, list[dict[str, Any]]], profile: str) -> dict[str, dict[str, Any]]:
    return _objects(rendered, profile, "Deployment") | _objects(rendered, profile, "StatefulSet")


def _env(workload: dict[str, Any]) -> dict[str, Any]:
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict_finds_nothing(chart: ChartCopy, profile: str) -> None:
    assert chart.lint(load_values(PROFILES[profile])) == []


@pytest.mark.parametrize("profile", PROFILES)
def test_every_object_is_valid_for_kubernetes(
    rendered: dict[str, list[dict[str, Any]]], profile: str
) -> None:
    """Strict schemas of Kubernetes 1.37 (unknown fields are errors, not silently dropped)."""
    checked = 0
    for obj in rendered[profile]:
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")
        checked += 1
    assert checked > 30


def test_the_kubernetes_schemas_refuse_an_unknown_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Guard for the check above: strict mode catches a misplaced key the API server would drop."""
    (deployment, *_) = [o for o in rendered["default"] if o["kind"] == "Deployment"]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_service_runs_locked_down(rendered: dict[str, list[dict[str, Any]]], profile: str) -> None:
    workloads = _workloads(rendered, profile)
    assert sorted(workloads) == SERVICES
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["serviceAccountName"] == name
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert security["runAsUser"] >= 10000, name
        assert {"requests", "limits"} <= container["resources"].keys(), name
        assert not container["image"].endswith(":latest"), name
        probe_kind = "httpGet" if name == "storefront" else "grpc"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe_kind in container[probe], (name, probe)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/folio"} <= mounts, name


def test_grpc_probes_use_each_service_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    ports = {"catalog": 50051, "cart": 50052, "payment": 50053, "orders": 50054, "assistant": 50055}
    for name, workload in _workloads(rendered, "default").items():
        container = workload["spec"]["template"]["spec"]["containers"][0]
        if name in ports:
            assert container["readinessProbe"]["grpc"]["port"] == ports[name]
            assert container["ports"][0]["containerPort"] == ports[name]
        else:
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_environment_follows_the_coordinated_variables(rendered: dict[str, list[dict[str, Any]]]) -> None:
    workloads = _workloads(rendered, "default")
    for name, workload in workloads.items():
        env = _env(workload)
        prefix = f"FOLIO_{name.upper()}_"
        assert env[f"{prefix}HOST"] == "0.0.0.0"
        assert env[f"{prefix}LOG_FORMAT"] == "json"
        assert env["FOLIO_AUTH_ISSUER_URL"].startswith("https://")
        assert env["FOLIO_AUTH_AUDIENCE"] == "folio"
        assert env["OTEL_SERVICE_NAME"] == name
        assert env["FOLIO_ENVIRONMENT"] == "production"  # the config center then refuses drill flags
        for variable, value in env.items():
            # Anything secret arrives from a Secret, never as a literal.
            if variable.endswith(("_URL", "_SECRET")) and "secret" in variable.lower() + str(value).lower():
                assert isinstance(value, dict), variable
    for sql_owner in ("catalog", "payment", "orders"):
        url = _env(workloads[sql_owner])[f"FOLIO_{sql_owner.upper()}_DATABASE_URL"]
        assert url["secretKeyRef"]["name"] == f"folio-{sql_owner}-database"
    assert _env(workloads["cart"])["FOLIO_CART_REDIS_URL"]["secretKeyRef"]["name"] == "folio-cart-redis"
    storefront = _env(workloads["storefront"])
    assert storefront["FOLIO_STOREFRONT_SESSION_SECRET"]["secretKeyRef"]["name"] == "folio-storefront-session"
    assert storefront["FOLIO_STOREFRONT_COOKIE_SECURE"] == "true"
    assert storefront["FOLIO_STOREFRONT_PUBLIC_URL"] == "https://shop.example.com"
    for client in ("storefront", "orders", "assistant"):
        env = _env(workloads[client])
        assert env["FOLIO_AUTH_CLIENT_ID"] == f"folio-{client}"
        assert env["FOLIO_AUTH_CLIENT_SECRET"]["secretKeyRef"]["name"] == f"folio-{client}-oidc"
    for no_client in ("catalog", "cart", "payment"):
        assert "FOLIO_AUTH_CLIENT_SECRET" not in _env(workloads[no_client])


def test_service_addresses_name_each_callee_by_its_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    workloads = _workloads(rendered, "default")
    services = _objects(rendered, "default", "Service")
    expected = {
        "orders": {"catalog", "cart", "payment"},
        "storefront": {"catalog", "cart", "orders", "assistant"},
        "assistant": {"catalog", "orders"},
    }
    for caller, callees in expected.items():
        addresses = json.loads(_env(workloads[caller])[f"FOLIO_{caller.upper()}_SERVICE_ADDRESSES"])
        assert set(addresses) == callees
        for callee, address in addresses.items():
            host, port = address.split(":")
            assert host == callee
            assert int(port) == services[callee]["spec"]["ports"][0]["port"]


def test_k3s_profile_is_one_replica_with_local_path_storage(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    assert _objects(rendered, "k3s", "HorizontalPodAutoscaler") == {}
    assert _objects(rendered, "k3s", "PodDisruptionBudget") == {}
    for name, workload in _workloads(rendered, "k3s").items():
        assert workload["spec"]["replicas"] == 1, name
    (assistant,) = _objects(rendered, "k3s", "StatefulSet").values()
    (claim,) = assistant["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "local-path"
    env = _env(assistant)
    assert "FOLIO_ASSISTANT_GRAPH_URL" not in env
    assert "FOLIO_ASSISTANT_QDRANT_URL" not in env


def test_k8s_profile_is_highly_available(rendered: dict[str, list[dict[str, Any]]]) -> None:
    hpas = _objects(rendered, "k8s", "HorizontalPodAutoscaler")
    pdbs = _objects(rendered, "k8s", "PodDisruptionBudget")
    assert sorted(hpas) == sorted(pdbs) == SERVICES
    assert all(h["spec"]["minReplicas"] >= 3 for h in hpas.values())
    assert all(p["spec"]["minAvailable"] == 2 for p in pdbs.values())
    assert _objects(rendered, "k8s", "StatefulSet") == {}
    for workload in _workloads(rendered, "k8s").values():
        spread = workload["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_ingress_has_tls_from_cert_manager_and_a_dns_name(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (ingress,) = _objects(rendered, "default", "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert annotations["external-dns.alpha.kubernetes.io/hostname"] == "shop.example.com"
    assert ingress["spec"]["tls"][0]["hosts"] == ["shop.example.com"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    gateway = _objects(rendered, "default", "Service")[backend]
    assert gateway["spec"]["externalName"] == "apisix-gateway.apisix.svc.cluster.local"


def test_traces_are_head_sampled_by_the_standard_variables(chart: ChartCopy) -> None:
    values = load_values(PROFILES["default"])
    values["global"]["otel"]["endpoint"] = "http://otel-collector.observability:4317"
    for name, workload in _workloads({"traced": chart.render(values)}, "traced").items():
        env = _env(workload)
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio", name
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1", name
    values["global"]["otel"]["tracesSamplerArg"] = "ten percent"
    with pytest.raises(helm_python.HelmValuesError, match="tracesSamplerArg"):
        chart.render(values)


def test_values_schema_refuses_a_mistyped_value(chart: ChartCopy) -> None:
    values = load_values(PROFILES["default"])
    values["services"]["catalog"]["protocol"] = "grpcs"
    with pytest.raises(helm_python.HelmValuesError, match="protocol"):
        chart.render(values)
    values = load_values(PROFILES["default"])
    values["services"]["cart"]["replica"] = 3  # a typo: not a known key
    with pytest.raises(helm_python.HelmValuesError, match="replica"):
        chart.render(values)


def test_an_embedded_store_without_a_volume_is_refused_with_the_fix(chart: ChartCopy) -> None:
    values = load_values(PROFILES["default"])
    values["services"]["catalog"]["database"]["secretName"] = ""
    with pytest.raises(helm_python.HelmRenderError, match=r"services.catalog.persistence.enabled=true"):
        chart.render(values)


def test_a_call_to_an_unknown_service_is_refused(chart: ChartCopy) -> None:
    values = load_values(PROFILES["default"])
    values["services"]["orders"]["calls"] = ["catalog", "inventory"]
    with pytest.raises(helm_python.HelmRenderError, match='"inventory"'):
        chart.render(values)


def test_the_helpers_come_from_the_library_chart(chart: ChartCopy) -> None:
    assert [(d["name"], d["status"]) for d in helm_python.dependency_list(chart.path)] == [
        ("folio-lib", "ok")
    ]
    with helm_python.Chart.load(CHART.parent / "folio-lib") as library:
        assert library.metadata["type"] == "library"


def test_nacos_is_wired_only_where_it_is_configured(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, workload in _workloads(rendered, "k8s").items():
        env = _env(workload)
        assert env["FOLIO_NACOS_SERVER_ADDRESSES"] == "nacos-cs.nacos:8848", name
        assert env["FOLIO_NACOS_GROUP"] == "FOLIO"
        # Registered under the Service's name: clients dial it, so the mesh keeps mTLS and its routes.
        assert env["FOLIO_ADVERTISE_HOST"] == f"{name}.folio.svc.cluster.local"
        assert "FOLIO_NACOS_PASSWORD" not in env
    for workload in _workloads(rendered, "default").values():
        assert not any(variable.startswith("FOLIO_NACOS_") for variable in _env(workload))
    policies = _objects(rendered, "k8s", "NetworkPolicy")
    egress = policies["catalog-egress"]["spec"]["egress"]
    assert any({p["port"] for p in rule["ports"]} == {8848, 9848} for rule in egress)


def test_nacos_credentials_come_from_a_secret(chart: ChartCopy) -> None:
    values = load_values(PROFILES["k8s"])
    values["nacos"]["credentials"]["secretName"] = "folio-nacos"
    env = _env(_workloads({"k8s": chart.render(values)}, "k8s")["cart"])
    assert env["FOLIO_NACOS_USERNAME"] == {"secretKeyRef": {"name": "folio-nacos", "key": "username"}}
    assert env["FOLIO_NACOS_PASSWORD"] == {"secretKeyRef": {"name": "folio-nacos", "key": "password"}}
    values["nacos"]["serverAddresses"] = "http://nacos:8848"  # a URL, not host:port
    with pytest.raises(helm_python.HelmValuesError, match="serverAddresses"):
        chart.render(values)
