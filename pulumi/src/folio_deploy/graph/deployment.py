"""What breaks a deployment as a whole: principals, the Secrets and settings pods read, telemetry pipelines,
installed CRDs, identity, fences, the service registry, the gateway's rate limits and Qdrant's key."""

import json
from typing import TYPE_CHECKING

from folio_deploy.graph import settings as code
from folio_deploy.graph.model import CRD_GROUPS, Finding
from folio_deploy.graph.platform import DATA_STORES, DESCRIBED
from folio_deploy.graph.pods import Edge, Pod
from folio_deploy.graph.policy import policies

if TYPE_CHECKING:
    from folio_deploy.graph.build import Graph


def check_principals(graph: "Graph") -> list[Finding]:
    """Every principal an AuthorizationPolicy names is the service account of a meshed workload."""
    meshed = {graph.principal(p) for p in graph.pods if p.meshed}
    findings = []
    for policy in graph.model.of_kind("AuthorizationPolicy"):
        for rule in policy["spec"].get("rules") or []:
            for source in rule.get("from") or []:
                for principal in source.get("source", {}).get("principals", []):
                    if principal not in meshed:
                        findings.append(
                            Finding(
                                "mesh",
                                f"AuthorizationPolicy {policy['metadata']['namespace']}/{policy['metadata']['name']}",
                                f"principal {principal} is no meshed workload's service account",
                            )
                        )
    return findings


def check_references(graph: "Graph") -> list[Finding]:
    """Every Secret / ConfigMap key a pod reads, and its service account, exists or is made by the stack
    (a described platform chart makes its own service accounts)."""
    findings = []
    made = {
        (c["metadata"].get("namespace"), c["spec"]["secretName"]) for c in graph.model.of_kind("Certificate")
    }
    for pod in graph.pods:
        refs: list[tuple[str, str, str | None]] = []
        for container in pod.spec.get("containers", []):
            for variable in container.get("env") or []:
                source = variable.get("valueFrom") or {}
                for kind, ref in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if ref in source and not source[ref].get("optional"):
                        refs.append((kind, source[ref]["name"], source[ref]["key"]))
            for source in container.get("envFrom") or []:
                if "secretRef" in source:
                    refs.append(("Secret", source["secretRef"]["name"], None))
                if "configMapRef" in source:
                    refs.append(("ConfigMap", source["configMapRef"]["name"], None))
        for volume in pod.spec.get("volumes") or []:
            sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
            for source in sources:
                if "secret" in source:
                    secret = source["secret"]
                    refs.append(("Secret", secret.get("secretName") or secret["name"], None))
                if "configMap" in source:
                    refs.append(("ConfigMap", source["configMap"]["name"], None))
        obj = graph.model.get(pod.kind, pod.namespace, pod.name)
        described = ((obj or {}).get("metadata", {}).get("annotations") or {}).get(DESCRIBED)
        if not described and pod.service_account != "default":
            refs.append(("ServiceAccount", pod.service_account, None))
        for kind, name, key in refs:
            if kind == "Secret" and (pod.namespace, name) in made:
                continue
            obj = graph.model.get(kind, pod.namespace, name)
            if obj is None:
                findings.append(
                    Finding("secret", pod.key, f"reads {kind} {name}, which this deployment does not make")
                )
            elif key is not None and key not in ((obj.get("stringData") or {}) | (obj.get("data") or {})):
                findings.append(
                    Finding(
                        "secret",
                        pod.key,
                        f"reads key {key} of {kind} {name}, which has {sorted((obj.get('stringData') or {}) | (obj.get('data') or {}))}",
                    )
                )
    return findings


def check_settings(graph: "Graph") -> list[Finding]:
    """Every setting a service requires (a Settings field without default) is given a value."""
    findings = []
    required_everywhere = code.platform_settings()["AuthSettings"].required
    for pod, service in graph.app_pods():
        env = pod.env()
        for variable in [*code.service_settings(service).required, *required_everywhere]:
            if variable not in env or ("value" in env[variable] and not env[variable]["value"]):
                findings.append(Finding("env", pod.key, f"{variable} is required and not set"))
        for callee in code.callees(service):
            addresses = code.service_settings(service).variable("service_addresses")
            raw = graph.value(pod, env[addresses]) if addresses in env else None
            if callee not in json.loads(raw or "{}"):
                findings.append(
                    Finding(
                        "env",
                        pod.key,
                        f"calls {callee} but {addresses} gives no address for it (the default is 127.0.0.1)",
                    )
                )
        environment = code.platform_settings()["CenterSettings"].variable("environment")
        if environment not in env:
            findings.append(
                Finding("env", pod.key, f"{environment} is unset: production would accept failure drills")
            )
    return findings


def check_telemetry(graph: "Graph") -> list[Finding]:
    """Each signal a service emits reaches a backend the stack installs."""
    findings: list[Finding] = []
    pods = list(graph.app_pods())
    if not pods or not {"opentelemetry-collector", "kube-prometheus-stack"} & graph.model.releases.keys():
        # No telemetry backend installed (skaffold dev, observability off): logs stay on stdout for
        # kubectl and skaffold; a service with an OTLP endpoint is still checked as an edge.
        return findings
    edges = graph.edges()
    pipelines = graph.collector_pipelines()
    release = graph.model.releases.get("opentelemetry-collector")
    for pod, _ in pods:
        env = pod.env()
        if "OTEL_EXPORTER_OTLP_ENDPOINT" not in env or not graph.value(
            pod, env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        ):
            findings.append(Finding("pipeline", pod.key, "traces: no OTLP endpoint, spans go nowhere"))
        if not any(e.signal == "metrics" and _lands_on(graph, e, pod) for e in edges):
            findings.append(Finding("pipeline", pod.key, "metrics: no Prometheus scrapes its metrics port"))
    if release is None:
        findings.append(Finding("pipeline", "collector", "logs: no Collector is installed to ship pod logs"))
        return findings
    collector_kind = release.values.get("mode") or "deployment"
    for signal, receiver in (("traces", "otlp"), ("logs", "filelog")):
        pipeline = pipelines.get(signal) or {}
        if receiver not in pipeline.get("receivers", []):
            findings.append(
                Finding(
                    "pipeline", f"collector {signal}", f"the {signal} pipeline has no {receiver} receiver"
                )
            )
        backends = [e for e in edges if e.signal == signal and e.why.startswith("collector")]
        if not backends:
            findings.append(
                Finding(
                    "pipeline",
                    f"collector {signal}",
                    f"the {signal} pipeline exports to no installed backend ({pipeline.get('exporters')})",
                )
            )
    if "filelog" in pipelines.get("logs", {}).get("receivers", []) and collector_kind != "daemonset":
        findings.append(
            Finding(
                "pipeline",
                "collector logs",
                "the filelog receiver reads the node's pod logs: the Collector must run on every node (mode daemonset)",
            )
        )
    return findings


def _lands_on(graph: "Graph", edge: Edge, pod: Pod) -> bool:
    service, _ = graph.service(edge.host, edge.source.namespace)
    return service is not None and pod in graph.backends(service)


def check_installed(graph: "Graph") -> list[Finding]:
    """Objects of a CRD's API group need the release that installs it; alert routing must reach Alertmanager."""
    findings = []
    for obj in graph.model.objects:
        group = str(obj.get("apiVersion", "")).split("/")[0]
        release = CRD_GROUPS.get(group)
        if (
            release
            and release not in graph.model.releases
            and not obj["metadata"].get("annotations", {}).get(DESCRIBED)
        ):
            findings.append(
                Finding(
                    "install",
                    f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}",
                    f"needs the {group} CRDs, which {release} installs and this deployment does not",
                )
            )
    kps = graph.model.releases.get("kube-prometheus-stack")
    if kps is not None:
        alertmanager = kps.values.get("alertmanager") or {}
        secret = (alertmanager.get("alertmanagerSpec") or {}).get("configSecret")
        if not alertmanager.get("config") and not (
            secret and graph.model.get("Secret", kps.namespace, secret)
        ):
            findings.append(
                Finding(
                    "pipeline",
                    "alertmanager",
                    "Alertmanager runs the chart's default routing: Folio's alert routes reach no receiver",
                )
            )
    return findings


def check_identity(graph: "Graph") -> list[Finding]:
    """Keycloak: the realm imported on install, the directory read over TLS by a read-only account,
    the admin console off the public host."""
    findings = []
    for keycloak in graph.identity_pods():
        container = keycloak.spec["containers"][0]
        mounts = [m.get("mountPath", "") for m in container.get("volumeMounts") or []]
        arguments = [*(container.get("command") or []), *(container.get("args") or [])]
        if "--import-realm" not in arguments or not any(
            m.startswith("/opt/keycloak/data/import") for m in mounts
        ):
            findings.append(
                Finding(
                    "identity",
                    keycloak.key,
                    "the folio realm is imported by nothing on install "
                    "(kc.sh start --import-realm with the realm file in /opt/keycloak/data/import)",
                )
            )
        realm = graph.env_from(keycloak)
        url = realm.get("FOLIO_IDENTITY_LDAP_URL", "")
        if url and not url.startswith("ldaps://") and realm.get("FOLIO_IDENTITY_LDAP_START_TLS") != "true":
            findings.append(
                Finding(
                    "identity",
                    f"{keycloak.key} -> {url}",
                    "the directory is read over plain LDAP (no ldaps://, no StartTLS): "
                    "bind password and people's data in clear",
                )
            )
        bind = realm.get("FOLIO_IDENTITY_LDAP_BIND_DN", "")
        if bind.startswith("cn=admin,"):
            findings.append(
                Finding(
                    "identity",
                    f"{keycloak.key} -> {url}",
                    f"Keycloak binds as the directory's admin ({bind}) for a read-only federation",
                )
            )
    release = graph.model.releases.get("keycloak")
    for public in graph.model.of_kind("Ingress"):
        if release is None or public["metadata"]["namespace"] != release.namespace:
            continue
        for rule in public["spec"].get("rules", []):
            for path in (rule.get("http") or {}).get("paths", []):
                if path.get("path", "/") in ("/", "/admin", "/admin/"):
                    findings.append(
                        Finding(
                            "identity",
                            f"Ingress {rule['host']}{path.get('path')}",
                            "Keycloak's admin console is reachable on the public host",
                        )
                    )
    return findings


def check_fences(graph: "Graph") -> list[Finding]:
    """Stores are fenced by ingress policies; egress to the internet only for pods with an edge that needs it."""
    findings = []
    for pod in graph.pods:
        release = graph.model.get(pod.kind, pod.namespace, pod.name)
        name = ((release or {}).get("metadata", {}).get("annotations") or {}).get("folio.graph/release")
        if name in DATA_STORES and not policies(graph, pod, "Ingress"):
            findings.append(
                Finding(
                    "policy",
                    pod.key,
                    f"nothing limits who reaches {name}: no ingress NetworkPolicy selects its pods",
                )
            )
    external = {e.source.key for e in graph.edges() if graph.service(e.host, e.source.namespace)[0] is None}
    for pod, _ in graph.app_pods():
        opens = any(
            "ipBlock" in peer
            for policy in policies(graph, pod, "Egress")
            for rule in policy["spec"].get("egress") or []
            for peer in rule.get("to") or []
        )
        if opens and pod.key not in external:
            findings.append(
                Finding(
                    "policy",
                    pod.key,
                    "egress to the internet is open but no edge of this pod leaves the cluster",
                )
            )
    return findings


def check_registry(graph: "Graph") -> list[Finding]:
    """An installed Nacos is used by every service, with credentials when it enforces auth."""
    release = graph.model.releases.get("nacos")
    if release is None:
        return []
    findings = []
    auth = bool((release.values.get("nacos") or {}).get("authToken"))
    for pod, _ in graph.app_pods():
        env = pod.env()
        if "FOLIO_NACOS_SERVER_ADDRESSES" not in env:
            findings.append(
                Finding(
                    "env",
                    pod.key,
                    "Nacos is installed but FOLIO_NACOS_SERVER_ADDRESSES does not point the service at it",
                )
            )
        elif auth and not {"FOLIO_NACOS_USERNAME", "FOLIO_NACOS_PASSWORD"} <= env.keys():
            findings.append(
                Finding(
                    "env",
                    pod.key,
                    "Nacos enforces auth but the service joins it without FOLIO_NACOS_USERNAME / FOLIO_NACOS_PASSWORD",
                )
            )
    return findings


def check_gateway(graph: "Graph") -> list[Finding]:
    """Rate limits key on the shopper's address: behind the Ingress, remote_addr is the Ingress pod."""
    findings = []
    for route in graph.model.of_kind("ApisixRoute"):
        for rule in route["spec"].get("http", []):
            plugins = {p["name"]: p.get("config") or {} for p in rule.get("plugins", [])}
            for name in ("limit-req", "limit-count"):
                if name in plugins and plugins[name].get("key") == "remote_addr" and "real-ip" not in plugins:
                    findings.append(
                        Finding(
                            "policy",
                            f"ApisixRoute {rule['name']}",
                            f"{name} keys on remote_addr without the real-ip plugin: one bucket for every shopper behind the Ingress",
                        )
                    )
    return findings


def check_qdrant(graph: "Graph") -> list[Finding]:
    """A Qdrant server answers only with its API key, and the assistant sends that same key."""
    release = graph.model.releases.get("qdrant")
    server = (
        graph.pod(release.namespace, release.values.get("fullnameOverride", "qdrant")) if release else None
    )
    if server is None:
        return []
    key = server.env().get("QDRANT__SERVICE__API_KEY")
    if key is None:
        return [
            Finding(
                "secret",
                server.key,
                "Qdrant serves without an API key: any pod that reaches it reads and writes the vectors",
            )
        ]
    findings = []
    for pod, service in graph.app_pods():
        variable = code.service_settings(service).variable("qdrant_api_key")
        url_variable = code.service_settings(service).variable("qdrant_url")
        if url_variable in pod.env() and graph.value(pod, pod.env()[url_variable]):
            given = graph.value(pod, pod.env()[variable]) if variable in pod.env() else None
            if given is None or given != graph.value(server, key):
                findings.append(
                    Finding("secret", pod.key, f"{variable} is not the key the Qdrant server requires")
                )
    return findings
