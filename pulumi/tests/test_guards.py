"""The platform's guards in the deployed graph: NeuVector's rules are exactly the call edges, the image
policy names exactly the identity CI signs with, every stateful release sits on Longhorn with a scheduled
backup, and Harbor's project and robots are the ones the app and the workflow use. Each drift fails."""

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from folio_deploy.graph.check import Graph, check
from folio_deploy.graph.guards import neuvector_rules, signing_workflow, workflow_identities
from folio_deploy.graph.model import REPO, Charts, Finding, Model, from_evaluation
from folio_deploy.offline import Evaluation
from folio_deploy.platform.registry import CI_ROBOT, CI_ROBOT_SECRETS, PULL_ROBOT, robot_name
from folio_deploy.supply_chain import SIGNING_WORKFLOW, identities

Mutation = Callable[[Model], None]


@pytest.fixture(scope="module")
def models(k3s: Evaluation, k8s: Evaluation) -> Iterator[dict[str, Model]]:
    with Charts() as charts:
        yield {"k3s": from_evaluation(k3s, charts), "k8s": from_evaluation(k8s, charts)}


def _new(model: Model, mutate: Mutation) -> list[Finding]:
    before = {str(f) for f in check(model)}
    mutated = copy.deepcopy(model)
    mutate(mutated)
    return [f for f in check(mutated) if str(f) not in before]


def _one(model: Model, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in model.of_kind(kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.mark.parametrize("stack", ["k3s", "k8s"])
def test_every_folio_service_has_neuvector_rules_that_are_its_call_edges(
    models: dict[str, Model], stack: str
) -> None:
    graph = Graph(models[stack])
    targets = {o["spec"]["target"]["selector"]["name"] for o in models[stack].of_kind("NvSecurityRule")}
    assert targets == {f"nv.{pod.name}.folio" for pod, _ in graph.app_pods()}
    rules = {rule.rule for rule in neuvector_rules(graph)}
    # The orders saga's real peers, and nothing the code does not call.
    assert {"orders-to-payment", "orders-to-catalog", "orders-to-cart"} <= rules
    assert not any(rule.startswith("catalog-to-") and rule.endswith(("payment", "orders")) for rule in rules)
    assert not [f for f in check(models[stack]) if f.kind == "runtime"]


def test_production_protects_and_staging_monitors(models: dict[str, Model]) -> None:
    for stack, mode in (("k8s", "Protect"), ("k3s", "Monitor")):
        modes = {o["spec"]["target"]["policymode"] for o in models[stack].of_kind("NvSecurityRule")}
        assert modes == {mode}
        admission = _one(models[stack], "NvAdmissionControlSecurityRule")
        assert admission["spec"]["config"] == {"enable": True, "mode": mode.lower(), "client_mode": "service"}


def _allow_catalog_to_payment(model: Model) -> None:
    rule = _one(model, "NvSecurityRule", "nv.catalog.folio")
    extra = copy.deepcopy(rule["spec"]["egress"][0])
    extra["name"] = "catalog-to-payment"
    extra["selector"]["name"] = "nv.payment.folio"
    extra["ports"] = "tcp/50053"
    rule["spec"]["egress"].append(extra)


def _drop_orders_to_payment(model: Model) -> None:
    rule = _one(model, "NvSecurityRule", "nv.orders.folio")
    rule["spec"]["egress"] = [r for r in rule["spec"]["egress"] if r["name"] != "orders-to-payment"]
    payment = _one(model, "NvSecurityRule", "nv.payment.folio")
    payment["spec"]["ingress"] = [r for r in payment["spec"]["ingress"] if r["name"] != "orders-to-payment"]


def _monitor_in_production(model: Model) -> None:
    _one(model, "NvSecurityRule", "nv.payment.folio")["spec"]["target"]["policymode"] = "Monitor"


def _identity_of_another_workflow(model: Model) -> None:
    keyless = _one(model, "ClusterImagePolicy")["spec"]["authorities"][0]["keyless"]
    keyless["identities"][0]["subject"] = keyless["identities"][0]["subject"].replace("main.yml", "pr.yml")


def _policy_for_another_registry(model: Model) -> None:
    _one(model, "ClusterImagePolicy")["spec"]["images"] = [{"glob": "docker.io/**"}]


def _unlabel_folio_namespace(model: Model) -> None:
    for namespace in model.of_kind("Namespace"):
        if namespace["metadata"]["name"] == "folio":
            namespace["metadata"]["labels"].pop("policy.sigstore.dev/include")


def _postgres_on_local_path(model: Model) -> None:
    model.releases["postgresql"].values["primary"]["persistence"]["storageClass"] = "local-path"


def _no_backup_job(model: Model) -> None:
    model.objects.remove(_one(model, "RecurringJob"))


def _backup_credentials_missing(model: Model) -> None:
    model.objects.remove(_one(model, "Secret", "longhorn-backup-target"))


def _robot_pushes_everywhere(model: Model) -> None:
    robot = next(o for o in model.of_kind("HarborRobotAccount") if o["spec"]["name"] == CI_ROBOT)
    robot["spec"]["permissions"][0]["namespace"] = "*"


def _app_pulls_from_another_project(model: Model) -> None:
    model.releases["folio"].values["global"]["image"]["registry"] = "harbor.folio.example.com/other"


@pytest.mark.parametrize(
    ("kind", "subject", "mutate"),
    [
        ("runtime", "NeuVector rule catalog-to-payment", _allow_catalog_to_payment),
        ("runtime", "folio/orders -> payment", _drop_orders_to_payment),
        ("runtime", "nv.payment.folio", _monitor_in_production),
        ("supply-chain", "folio-signed-by-ci/folio-ci", _identity_of_another_workflow),
        ("supply-chain", "folio-signed-by-ci", _policy_for_another_registry),
        ("supply-chain", "folio", _unlabel_folio_namespace),
        ("storage", "postgresql", _postgres_on_local_path),
        ("storage", "longhorn", _no_backup_job),
        ("storage", "longhorn", _backup_credentials_missing),
        ("registry", "robot ci", _robot_pushes_everywhere),
        ("registry", "harbor", _app_pulls_from_another_project),
    ],
    ids=[
        "extra-rule",
        "missing-rule",
        "mode",
        "identity",
        "image-glob",
        "namespace-opt-in",
        "class",
        "backup-job",
        "backup-secret",
        "robot-scope",
        "project",
    ],
)
def test_the_graph_sees_each_guard_drift(
    models: dict[str, Model], kind: str, subject: str, mutate: Mutation
) -> None:
    broken = _new(models["k8s"], mutate)
    assert any(f.kind == kind and f.subject.startswith(subject) for f in broken), "\n".join(map(str, broken))


def test_the_image_policy_names_exactly_the_identity_the_workflow_signs_with(
    models: dict[str, Model],
) -> None:
    """Read from .github/workflows: the file that runs `cosign sign`, keyless, on its push refs."""
    path, workflow = signing_workflow()
    assert path == SIGNING_WORKFLOW
    text = (REPO / path).read_text()
    assert "cosign sign --yes" in text
    assert "--key" not in text
    push = next(v for k, v in workflow.items() if k in (True, "on"))["push"]
    for stack in ("k3s", "k8s"):
        policy = _one(models[stack], "ClusterImagePolicy")
        named = policy["spec"]["authorities"][0]["keyless"]["identities"]
        assert named == workflow_identities("example/folio") == identities("example/folio")
        subjects = [i.get("subject") or i["subjectRegExp"] for i in named]
        assert subjects[0].endswith(f"{path}@refs/heads/{push['branches'][0]}")
        assert re.fullmatch(subjects[1], f"https://github.com/example/folio/{path}@refs/tags/v1.2.3")
        assert not re.fullmatch(subjects[1], f"https://github.com/example/folio/{path}@refs/heads/main")
        registry = models[stack].releases["folio"].values["global"]["image"]["registry"]
        assert policy["spec"]["images"] == [{"glob": f"{registry}/**"}]


def test_the_workflow_logs_in_to_harbor_with_exactly_the_ci_robots_secrets(models: dict[str, Model]) -> None:
    workflow = yaml.safe_load((REPO / SIGNING_WORKFLOW).read_text())
    logins = [
        step["with"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("docker/login-action")
    ]
    assert logins, "the workflow never logs in to Harbor"
    for login in logins:
        assert login["username"] == f"${{{{ secrets.{CI_ROBOT_SECRETS['username']} }}}}"
        assert login["password"] == f"${{{{ secrets.{CI_ROBOT_SECRETS['password']} }}}}"
    robots = {o["spec"]["name"]: o["spec"] for o in models["k8s"].of_kind("HarborRobotAccount")}
    accesses = {
        name: {(a["action"], a["resource"]) for p in spec["permissions"] for a in p["accesses"]}
        for name, spec in robots.items()
    }
    assert accesses == {
        CI_ROBOT: {("push", "repository"), ("pull", "repository")},
        PULL_ROBOT: {("pull", "repository")},
    }


def test_the_cluster_pulls_as_the_pull_robot(k8s: Evaluation) -> None:
    from folio_deploy.offline import stack_config

    app = yaml.safe_load(stack_config("k8s")["folio:app"])
    assert app["registryUsername"] == robot_name("folio", PULL_ROBOT)
    assert k8s.outputs["harborCiRobot"] == robot_name("folio", CI_ROBOT)


@pytest.mark.parametrize(("stack", "schedule", "retain"), [("k3s", "0 2 * * *", 7), ("k8s", "0 2 * * *", 14)])
def test_every_volume_is_backed_up_nightly_and_kept_for_its_retention(
    models: dict[str, Model], stack: str, schedule: str, retain: int
) -> None:
    job = _one(models[stack], "RecurringJob")["spec"]
    assert (job["task"], job["cron"], job["retain"], job["groups"]) == (
        "backup",
        schedule,
        retain,
        ["default"],
    )
    longhorn = models[stack].releases["longhorn"].values
    assert longhorn["defaultSettings"]["backupTarget"].startswith("s3://folio-backups@")
    assert longhorn["defaultSettings"]["backupTargetCredentialSecret"] == "longhorn-backup-target"
    assert not [f for f in check(models[stack]) if f.kind == "storage"]
