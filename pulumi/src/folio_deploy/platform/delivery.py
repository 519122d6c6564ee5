"""Delivery: what the app is delivered with and through: Nacos (registry and live config) and Harbor
(the image registry)."""

import pulumi

from folio_deploy.platform.base import NAMESPACES, Context, Part
from folio_deploy.platform.registry import CiRobot, Registry
from folio_deploy.resources import generated_password


class Delivery(Part):
    """Nacos and Harbor."""

    # host:port of Nacos' HTTP port and the account the services join it with (None: Nacos off).
    nacos_addresses: str | None
    nacos_credentials: dict[str, pulumi.Output[str]] | None
    harbor_url: str | None
    # The robot account CI pushes with (None: Harbor off).
    ci_robot: CiRobot | None

    def __init__(self, name: str, context: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Delivery", name, context, opts)
        on = self._config.platform
        self.nacos_addresses = None
        self.nacos_credentials = None
        self.harbor_url = None
        self.ci_robot = None
        if on.nacos.enabled:
            self.nacos_credentials = self._nacos()
            self.nacos_addresses = f"nacos-cs.{NAMESPACES['nacos']}.svc.cluster.local:8848"
        if on.harbor.enabled:
            self.harbor_url = f"https://harbor.{self._config.domain}"
            self.ci_robot = self._harbor(self.harbor_url)
        self.register_outputs({"harborUrl": self.harbor_url})

    def _nacos(self) -> dict[str, pulumi.Output[str]]:
        """Nacos with auth on, and the account the services join it with (username, password)."""
        # Nacos 3 refuses to start without its auth token (Base64, >= 32 bytes decoded: 64 alphanumerics
        # decode to 48) and the server identity pair; all three are generated secrets.
        storage_class = self._config.storage_class
        password = generated_password("nacos-admin-password", self)
        self._secret("nacos-admin", NAMESPACES["nacos"], {"username": "nacos", "password": password})
        self._release(
            "nacos",
            {
                "global": {"mode": "standalone"},
                "nacos": {
                    "replicaCount": 1,
                    "storage": {"type": "embedded"},
                    "authToken": generated_password("nacos-auth-token", self, 64),
                    "identityKey": "folio-nacos",
                    "identityValue": generated_password("nacos-identity", self),
                },
                "service": {"type": "ClusterIP", "port": 8848},
                "resources": self._res("nacos", "1Gi"),
                # Embedded storage in a volume when the cluster has a storage class; else in the pod (the
                # config the app reads is re-applied from the repo on every deploy, so nothing is lost).
                "persistence": (
                    {"enabled": True, "data": {"storageClassName": storage_class}}
                    if storage_class
                    else {"enabled": False}
                ),
            },
        )
        return {"username": pulumi.Output.from_input("nacos"), "password": password}

    def _harbor(self, url: str) -> CiRobot:
        admin = generated_password("harbor-admin-password", self)
        self._secret("harbor-admin", "harbor", {"HARBOR_ADMIN_PASSWORD": admin})
        host = f"harbor.{self._config.domain}"
        component = {"resources": self._res("harbor")}
        volume = self._volume("storageClass")
        release = self._release(
            "harbor",
            {
                "externalURL": f"https://{host}",
                "existingSecretAdminPassword": "harbor-admin",
                "existingSecretAdminPasswordKey": "HARBOR_ADMIN_PASSWORD",
                "expose": {
                    "type": "ingress",
                    "tls": {"enabled": True, "certSource": "secret", "secret": {"secretName": "harbor-tls"}},
                    "ingress": {
                        "className": "nginx",
                        "hosts": {"core": host},
                        "annotations": self._tls_annotations(),
                    },
                },
                "core": component,
                "jobservice": component,
                "registry": {"registry": component, "controller": component},
                "portal": component,
                "trivy": {"enabled": True, **component},
                "database": {"internal": component},
                "redis": {"internal": component},
                "persistence": {
                    "persistentVolumeClaim": {
                        **{part: volume for part in ("registry", "database", "redis", "trivy")},
                        "jobservice": {"jobLog": volume},
                    }
                },
            },
        )
        registry = Registry(
            "registry",
            self._config.platform.harbor,
            url,
            admin,
            waits_for=release,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return registry.ci_robot
