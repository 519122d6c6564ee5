"""Edge: the shop's way in (ingress-nginx, certificates, public DNS) and the APISIX gateway."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from folio_deploy.config import require_secret_config
from folio_deploy.platform.base import (
    INTERNAL_ISSUER,
    NAMESPACES,
    POD_NETWORKS,
    Context,
    Part,
    _json_key,
    _svc,
)
from folio_deploy.resources import generated_password


class Edge(Part):
    """ingress-nginx, cert-manager with the stack's ClusterIssuer and the internal CA, external-dns, APISIX."""

    # The APISIX gateway's in-cluster address (None: no gateway).
    gateway_address: pulumi.Output[str] | None

    def __init__(self, name: str, context: Context, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Edge", name, context, opts)
        on = self._config.platform
        if on.ingress_nginx.enabled:
            self._release("ingress-nginx", self._ingress_nginx())
        if on.cert_manager.enabled:
            cert_manager = self._release("cert-manager", self._cert_manager())
            self._cluster_issuer(cert_manager)
            self._internal_ca(cert_manager)
        if on.external_dns.enabled:
            self._release("external-dns", self._external_dns())
        self.gateway_address = None
        self.register_outputs({})

    def gateway(self) -> None:
        """APISIX, once the mesh it joins exists (its namespace is injected)."""
        if self._config.platform.apisix.enabled:
            apisix = self._release("apisix", self._apisix())
            self.gateway_address = _svc(apisix, "apisix-gateway", 80, "http://")

    def _ingress_nginx(self) -> dict[str, Any]:
        return {
            "fullnameOverride": "ingress-nginx",
            "controller": {
                "replicaCount": 1 if self._config.profile == "small" else 2,
                "resources": self._res("ingress-nginx"),
                "ingressClassResource": {"name": "nginx", "default": True},
                "metrics": {"enabled": self._config.platform.observability.enabled},
            },
        }

    def _cert_manager(self) -> dict[str, Any]:
        return {
            "crds": {"enabled": True},
            "resources": self._res("cert-manager"),
            "webhook": {"resources": self._res("cert-manager")},
            "cainjector": {"resources": self._res("cert-manager")},
        }

    def _cluster_issuer(self, cert_manager: k8s.helm.v3.Release) -> None:
        certificates = self._config.certificates
        if certificates.issuer == "letsencrypt":
            spec: dict[str, Any] = {
                "acme": {
                    "server": "https://acme-v02.api.letsencrypt.org/directory",
                    "email": certificates.acme_email,
                    "privateKeySecretRef": {"name": "folio-letsencrypt-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
                }
            }
        else:
            spec = {"selfSigned": {}}
        k8s.apiextensions.CustomResource(
            "cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=self._issuer_name()),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[cert_manager]),
        )

    def _internal_ca(self, cert_manager: k8s.helm.v3.Release) -> None:
        """A CA of the cluster's own for internal TLS (Let's Encrypt signs no *.svc.cluster.local name):
        a self-signed root, kept in cert-manager's namespace, behind the ClusterIssuer folio-internal."""
        opts = pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[cert_manager])
        root = k8s.apiextensions.CustomResource(
            "internal-ca-root-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{INTERNAL_ISSUER}-root"),
            spec={"selfSigned": {}},
            opts=opts,
        )
        ca = k8s.apiextensions.CustomResource(
            "internal-ca",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{INTERNAL_ISSUER}-ca", namespace=NAMESPACES["cert-manager"]
            ),
            spec={
                "isCA": True,
                "commonName": "Folio internal CA",
                "secretName": f"{INTERNAL_ISSUER}-ca",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {
                    "name": f"{INTERNAL_ISSUER}-root",
                    "kind": "ClusterIssuer",
                    "group": "cert-manager.io",
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[root]),
        )
        self._context.internal_issuer = k8s.apiextensions.CustomResource(
            "internal-ca-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INTERNAL_ISSUER),
            spec={"ca": {"secretName": f"{INTERNAL_ISSUER}-ca"}},
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[ca]),
        )

    def _external_dns(self) -> dict[str, Any]:
        # The DNS provider's credentials are yours (`pulumi config set --secret externalDnsCredentials
        # '{"CF_API_TOKEN": "..."}'`): the program keeps them in the Secret `external-dns-credentials`.
        settings = self._config.platform.external_dns
        if settings.credentials_env:
            given = require_secret_config(
                "externalDnsCredentials",
                "platform.externalDns.credentialsEnv names the provider's credentials",
            )
            self._secret(
                "external-dns-credentials",
                NAMESPACES["external-dns"],
                {name: given.apply(_json_key(name)) for name in settings.credentials_env},
            )
        return {
            "provider": {"name": settings.provider},
            "sources": ["ingress"],
            "policy": "upsert-only",
            "domainFilters": [self._config.domain],
            "txtOwnerId": f"folio-{pulumi.get_stack()}",
            "env": [
                {
                    "name": name,
                    "valueFrom": {"secretKeyRef": {"name": "external-dns-credentials", "key": name}},
                }
                for name in settings.credentials_env
            ],
            "resources": self._res("external-dns"),
        }

    def _apisix(self) -> dict[str, Any]:
        # The app chart routes with ApisixRoute resources: APISIX with its ingress controller, which
        # writes them through the Admin API into etcd. The admin key is generated (values are secret).
        admin_key = generated_password("apisix-admin-key", self)
        return {
            "fullnameOverride": "apisix",
            # The gateway's mesh identity: the storefront admits cluster.local/ns/apisix/sa/apisix only.
            "serviceAccount": {"create": True, "name": "apisix"},
            "replicaCount": 1 if self._config.profile == "small" else 2,
            "resources": self._res("apisix"),
            "apisix": {
                # The ingress controller calls the Admin API from its own pod (the chart allows only
                # 127.0.0.1/24); ingress-nginx forwards the client's address, trusted for per-client limits.
                "admin": {"credentials": {"admin": admin_key}, "allow": {"ipList": POD_NETWORKS}},
                "trustedAddresses": POD_NETWORKS,
            },
            "service": {"type": "ClusterIP"},
            "etcd": {"enabled": True, "replicaCount": 1, "resources": self._res("apisix-etcd")},
            "ingress-controller": {
                "enabled": True,
                "resources": self._res("apisix-ingress-controller"),
                "config": {"apisix": {"serviceNamespace": NAMESPACES["apisix"], "adminKey": admin_key}},
            },
        }
