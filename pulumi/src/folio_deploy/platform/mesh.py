"""Mesh: Istio's base (CRDs) and control plane; the sidecar injector is what meshes a pod."""

from typing import Any

import pulumi

from folio_deploy.platform.base import Context, Part
from folio_deploy.resources import requests


class Mesh(Part):
    """istio-base and istiod."""

    enabled: bool

    def __init__(self, name: str, context: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Mesh", name, context, opts)
        self.enabled = self._config.platform.istio.enabled
        if self.enabled:
            base = self._release("istio-base", {"defaultRevision": "default"})
            self._release("istiod", self._istiod(), depends_on=[base])
        self.register_outputs({"enabled": self.enabled})

    def _istiod(self) -> dict[str, Any]:
        proxy_cpu, proxy_memory = self._size["istio-proxy"]
        return {
            "pilot": {"autoscaleEnabled": False, "replicaCount": 1, "resources": self._res("istiod")},
            "global": {"proxy": {"resources": requests(proxy_cpu, proxy_memory, "256Mi")}},
            "meshConfig": {"accessLogFile": "/dev/stdout"},
        }
