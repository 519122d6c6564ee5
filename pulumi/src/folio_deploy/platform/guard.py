"""Guard: what watches the workloads once they run and what may start at all.

NeuVector (runtime: network, process and file rules, admission control) and Sigstore's policy
controller (only images signed by Folio's CI start in the Folio namespace). The per-service NeuVector
rules live with the app (folio_deploy.app), in its namespace; this component installs the engines and
the cluster-wide rules.
"""

import pulumi
import pulumi_kubernetes as k8s

from folio_deploy.neuvector import admission_rules
from folio_deploy.platform.base import Context, Part
from folio_deploy.resources import generated_password
from folio_deploy.supply_chain import image_policy

K3S_RUNTIME = "/run/k3s/containerd/containerd.sock"


class Guard(Part):
    """NeuVector and the policy controller, each when the stack turns it on."""

    def __init__(
        self, name: str, context: Context, app_namespace: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("Guard", name, context, opts)
        on = self._config.platform
        if on.neuvector.enabled:
            self._neuvector(app_namespace)
        if on.signed_images is not None and on.signed_images.enabled:
            self._policy_controller()
        self.register_outputs({})

    def _neuvector(self, app_namespace: str) -> None:
        settings = self._config.platform.neuvector
        small = self._config.profile == "small"
        values: dict[str, object] = {
            # The console's first admin password, generated (the chart's default is a known one).
            "bootstrapPassword": generated_password("neuvector-admin-password", self),
            "controller": {"replicas": 1 if small else 3, "resources": self._res("neuvector-controller")},
            "enforcer": {"resources": self._res("neuvector-enforcer")},
            "manager": {
                "enabled": settings.manager,
                "svc": {"type": "ClusterIP"},
                "resources": self._res("neuvector-manager"),
            },
            "cve": {
                "scanner": {
                    "enabled": settings.scanner,
                    "replicas": 1 if small else 2,
                    "resources": self._res("neuvector-scanner"),
                },
                "updater": {"enabled": settings.scanner},
            },
            # The CRD webhook: NvSecurityRule and NvAdmissionControlSecurityRule objects are the policy.
            "crdwebhook": {"enabled": True, "type": "ClusterIP"},
            "admissionwebhook": {"type": "ClusterIP"},
        }
        if self._config.cluster.mode == "k3s":
            values["runtimePath"] = K3S_RUNTIME
        release = self._release("neuvector", values)
        rules = admission_rules(namespace=app_namespace, mode=settings.mode)
        k8s.apiextensions.CustomResource(
            "neuvector-admission-control",
            api_version=rules["apiVersion"],
            kind=rules["kind"],
            metadata=k8s.meta.v1.ObjectMetaArgs(**rules["metadata"]),
            spec=rules["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[release]),
        )

    def _policy_controller(self) -> None:
        signed = self._config.platform.signed_images
        assert signed is not None
        release = self._release(
            "policy-controller",
            {
                "webhook": {
                    "replicaCount": 1,
                    "resources": self._res("policy-controller", "256Mi"),
                    # A namespace is verified only when it carries policy.sigstore.dev/include=true.
                    "failurePolicy": "Fail",
                }
            },
        )
        policy = image_policy(signed.github_repository, self._config.app.image_registry)
        k8s.apiextensions.CustomResource(
            "cluster-image-policy",
            api_version=policy["apiVersion"],
            kind=policy["kind"],
            metadata=k8s.meta.v1.ObjectMetaArgs(**policy["metadata"]),
            spec=policy["spec"],
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[release]),
        )
