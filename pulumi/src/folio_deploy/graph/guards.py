"""The guards of the deployed whole: NeuVector's rules against the call edges, the signed-images policy
against the CI workflow that signs, every stateful release on the replicated class with a scheduled
backup, and Harbor's project and robots against the app and the workflow.

Each check returns findings of its own class (runtime, supply-chain, storage, registry) so a drift of a
policy, a class or an account fails the graph like a broken edge does.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from folio_deploy.graph.model import REPO, Finding
from folio_deploy.graph.platform import VOLUMES, value_at
from folio_deploy.neuvector import PLATFORM_RULES, namespace_group, service_group

if TYPE_CHECKING:
    from folio_deploy.graph.check import Edge, Graph, Pod

WORKFLOWS = REPO / ".github" / "workflows"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Connection:
    """An edge as NeuVector sees it: from a pod to a pod's container port."""

    edge: "Edge"
    target: "Pod"
    port: int


@dataclass(frozen=True)
class Allowed:
    """One NeuVector rule read as source group -> target group on ports (None: any port)."""

    rule: str
    source: str
    target: str
    ports: frozenset[int] | None

    def matches(self, source: set[str], target: set[str], port: int) -> bool:
        return self.source in source and self.target in target and (self.ports is None or port in self.ports)


def connections(graph: "Graph") -> Iterator[Connection]:
    """Every in-cluster edge resolved to the pods and container ports it lands on."""
    for edge in graph.edges():
        service, _ = graph.service(edge.host, edge.source.namespace)
        if service is None:
            continue
        port = next((p for p in service["spec"].get("ports") or [] if int(p["port"]) == edge.port), None)
        if port is None:
            continue
        for target in graph.backends(service):
            container = target.container_port(port.get("targetPort", port["port"]))
            if container is not None:
                yield Connection(edge, target, container)


def _groups(pod: "Pod", app: set[str]) -> set[str]:
    groups = {namespace_group(pod.namespace).name}
    if pod.key in app:
        groups.add(service_group(pod.name, pod.namespace).name)
    return groups


def _ports(text: str) -> frozenset[int] | None:
    if text in ("", "any"):
        return None
    return frozenset(int(part.split("/")[-1]) for part in text.split(","))


def neuvector_rules(graph: "Graph") -> list[Allowed]:
    found = []
    for obj in graph.model.of_kind("NvSecurityRule"):
        spec = obj["spec"]
        target = spec["target"]["selector"]["name"]
        for rule in spec.get("egress") or []:
            found.append(
                Allowed(rule["name"], target, rule["selector"]["name"], _ports(rule.get("ports", "")))
            )
        for rule in spec.get("ingress") or []:
            found.append(
                Allowed(rule["name"], rule["selector"]["name"], target, _ports(rule.get("ports", "")))
            )
    return found


def check_runtime(graph: "Graph") -> list["Finding"]:
    """NeuVector: every Folio group has its rules in the mode of its environment, every call edge of a Folio
    pod is a rule and every rule a call edge (besides DNS and the mesh's control plane)."""

    release = graph.model.releases.get("neuvector")
    if release is None:
        return []
    app = {pod.key for pod, _ in graph.app_pods()}
    folio = graph.model.releases.get("folio")
    production = folio is not None and (folio.values.get("global") or {}).get("environment") == "production"
    expected = "Protect" if production else "Monitor"
    findings = []
    targets = {
        obj["spec"]["target"]["selector"]["name"]: obj for obj in graph.model.of_kind("NvSecurityRule")
    }
    for pod, _ in graph.app_pods():
        group = service_group(pod.name, pod.namespace).name
        if group not in targets:
            findings.append(
                Finding("runtime", pod.key, f"no NvSecurityRule targets NeuVector's group {group}")
            )
        elif (mode := targets[group]["spec"]["target"].get("policymode")) != expected:
            findings.append(
                Finding("runtime", group, f"policy mode {mode}, not {expected} in this environment")
            )
    for admission in graph.model.of_kind("NvAdmissionControlSecurityRule"):
        config = admission["spec"].get("config") or {}
        if not config.get("enable") or config.get("mode") != expected.lower():
            findings.append(
                Finding("runtime", "admission control", f"{config} is not enabled in {expected.lower()} mode")
            )
    if not list(graph.model.of_kind("NvAdmissionControlSecurityRule")):
        findings.append(
            Finding("runtime", "admission control", "NeuVector is installed but admission control is off")
        )
    allowed = neuvector_rules(graph)
    used: set[str] = set()
    for connection in connections(graph):
        source, target = connection.edge.source, connection.target
        if source.key not in app and target.key not in app:
            continue
        matching = [
            rule
            for rule in allowed
            if rule.matches(_groups(source, app), _groups(target, app), connection.port)
        ]
        used.update(rule.rule for rule in matching)
        if not matching:
            findings.append(
                Finding(
                    "runtime",
                    str(connection.edge),
                    f"no NeuVector rule allows it (to {target.key}:{connection.port})",
                )
            )
    for rule in allowed:
        if rule.rule not in used and not rule.rule.endswith(PLATFORM_RULES):
            findings.append(
                Finding(
                    "runtime",
                    f"NeuVector rule {rule.rule}",
                    f"{rule.source} -> {rule.target} is no call edge",
                )
            )
    return findings


@cache
def signing_workflow() -> tuple[str, dict[Any, Any]]:
    """The workflow file that signs images (runs `cosign sign`) and its parsed YAML."""
    for path in sorted(WORKFLOWS.glob("*.yml")):
        text = path.read_text()
        if "cosign sign" in text:
            return f".github/workflows/{path.name}", yaml.safe_load(text)
    raise LookupError("no workflow in .github/workflows signs images with cosign")


def workflow_identities(repository: str) -> list[dict[str, str]]:
    """The keyless identities the signing workflow's certificates carry, read from the workflow itself."""
    import re

    path, workflow = signing_workflow()
    jobs = workflow["jobs"].values()
    signer = next(
        job for job in jobs if any("cosign sign" in str(step.get("run", "")) for step in job.get("steps", []))
    )
    if (signer.get("permissions") or {}).get("id-token") != "write" or "--key" in str(signer):
        raise LookupError(f"{path} does not sign keyless (id-token: write, no --key)")
    # YAML 1.1 reads the key `on` as True.
    triggers: dict[str, Any] = next((v for k, v in workflow.items() if k in (True, "on")), {})
    push = (triggers or {}).get("push") or {}
    subject = f"https://github.com/{repository}/{path}"
    found = [
        {"issuer": GITHUB_ISSUER, "subject": f"{subject}@refs/heads/{b}"} for b in push.get("branches", [])
    ]
    for tag in push.get("tags", []):
        pattern = ".*".join(re.escape(part) for part in tag.split("*"))
        found.append(
            {"issuer": GITHUB_ISSUER, "subjectRegExp": f"^{re.escape(subject)}@refs/tags/{pattern}$"}
        )
    return found


def check_supply_chain(graph: "Graph") -> list["Finding"]:
    """Folio's pods start only from images signed by the CI workflow's identity, from the Folio registry."""

    if "policy-controller" not in graph.model.releases:
        return []
    findings = []
    folio = graph.model.releases.get("folio")
    if (
        folio is not None
        and graph.model.namespace_labels(folio.namespace).get("policy.sigstore.dev/include") != "true"
    ):
        findings.append(
            Finding("supply-chain", folio.namespace, "the namespace is not opted in to image verification")
        )
    registry = ((folio.values.get("global") or {}).get("image") or {}).get("registry", "") if folio else ""
    policies = list(graph.model.of_kind("ClusterImagePolicy"))
    if not policies:
        return [
            *findings,
            Finding("supply-chain", "ClusterImagePolicy", "the policy controller has no policy"),
        ]
    for policy in policies:
        globs = [image["glob"] for image in policy["spec"].get("images", [])]
        if registry and f"{registry.rstrip('/')}/**" not in globs:
            findings.append(
                Finding("supply-chain", policy["metadata"]["name"], f"{globs} do not cover {registry}")
            )
        for authority in policy["spec"].get("authorities", []):
            named = (authority.get("keyless") or {}).get("identities") or []
            subject = next((i.get("subject", "") for i in named if i.get("subject")), "")
            repository = "/".join(subject.removeprefix("https://github.com/").split("/")[:2])
            if named != workflow_identities(repository):
                findings.append(
                    Finding(
                        "supply-chain",
                        f"{policy['metadata']['name']}/{authority.get('name')}",
                        f"names {named}, but {signing_workflow()[0]} signs as {workflow_identities(repository)}",
                    )
                )
    return findings


def check_storage(graph: "Graph") -> list["Finding"]:
    """Every stateful release keeps its volumes on Longhorn's replicated class, backed up on a schedule."""

    longhorn = graph.model.releases.get("longhorn")
    if longhorn is None:
        return []
    classes = {obj["metadata"]["name"] for obj in graph.model.of_kind("StorageClass")}
    findings = []
    for release, volume in VOLUMES.items():
        if release in graph.model.releases:
            chosen = value_at(graph.model.releases[release].values, volume.class_path)
            if chosen not in classes:
                findings.append(
                    Finding(
                        "storage",
                        release,
                        f"its volumes use class {chosen!r}, not the replicated {sorted(classes)}",
                    )
                )
    for claim in graph.model.of_kind("PersistentVolumeClaim"):
        if claim["spec"].get("storageClassName") not in classes:
            findings.append(
                Finding(
                    "storage",
                    f"PVC {claim['metadata']['namespace']}/{claim['metadata']['name']}",
                    f"class {claim['spec'].get('storageClassName')!r} is not replicated",
                )
            )
    settings = longhorn.values.get("defaultSettings") or {}
    secret = settings.get("backupTargetCredentialSecret")
    if not str(settings.get("backupTarget", "")).startswith("s3://"):
        findings.append(
            Finding("storage", "longhorn", "no S3 backup target: a lost cluster loses every volume")
        )
    elif graph.model.get("Secret", longhorn.namespace, str(secret)) is None:
        findings.append(
            Finding("storage", "longhorn", f"the backup target's credentials Secret {secret} is not made")
        )
    jobs = [j for j in graph.model.of_kind("RecurringJob") if j["spec"].get("task") == "backup"]
    if not any(
        "default" in (j["spec"].get("groups") or []) and int(j["spec"].get("retain", 0)) >= 1 for j in jobs
    ):
        findings.append(
            Finding("storage", "longhorn", "no recurring backup job covers the volumes (group default)")
        )
    return findings


def check_registry(graph: "Graph") -> list["Finding"]:
    """Harbor's project is the one the app pulls from; its CI robot may push there and nowhere else."""

    projects = list(graph.model.of_kind("HarborProject"))
    if "harbor" not in graph.model.releases:
        return []
    folio = graph.model.releases.get("folio")
    registry = ((folio.values.get("global") or {}).get("image") or {}).get("registry", "") if folio else ""
    names = {p["spec"]["name"] for p in projects}
    if registry.rstrip("/").rsplit("/", 1)[-1] not in names:
        return [
            Finding(
                "registry", "harbor", f"no Harbor project {registry!r} pulls from (projects: {sorted(names)})"
            )
        ]
    findings = []
    robots = {r["spec"]["name"]: r["spec"] for r in graph.model.of_kind("HarborRobotAccount")}
    ci = robots.get("ci")
    pushes = [(p["namespace"], a["action"]) for p in (ci or {}).get("permissions", []) for a in p["accesses"]]
    if (
        ci is None
        or ci.get("level") != "project"
        or {ns for ns, _ in pushes} != names
        or ("push" not in {a for _, a in pushes})
    ):
        findings.append(
            Finding("registry", "robot ci", f"CI's robot must push to the project only (has {pushes})")
        )
    if not list(graph.model.of_kind("HarborRetentionPolicy")):
        findings.append(Finding("registry", "harbor", "no retention policy: the project grows without bound"))
    if not all(
        p["spec"].get("deploymentSecurity") and p["spec"].get("vulnerabilityScanning") for p in projects
    ):
        findings.append(
            Finding("registry", "harbor", "the project scans nothing or lets vulnerable images be pulled")
        )
    return findings


def check(graph: "Graph") -> list["Finding"]:
    return check_runtime(graph) + check_supply_chain(graph) + check_storage(graph) + check_registry(graph)
