"""Identity: Keycloak with the folio realm, federating the OpenLDAP directory, and the secrets of the
confidential OIDC clients Keycloak and the app share."""

import pulumi
import pulumi_kubernetes as k8s

from folio_deploy.platform.base import (
    DIRECTORY_LDIF,
    KEYCLOAK_REALM,
    LDAP_BIND_DN,
    LDAP_DOMAIN,
    NAMESPACES,
    OIDC_CLIENTS,
    REALM_FILE,
    Context,
    Part,
)
from folio_deploy.platform.data import Postgres
from folio_deploy.resources import generated_password


class Identity(Part):
    """OpenLDAP and Keycloak."""

    keycloak_url: str | None
    # What tokens name, and where the services fetch discovery, keys and tokens (in the cluster).
    issuer_url: str | None
    discovery_url: str | None
    # Client secrets of the confidential OIDC clients (OIDC_CLIENTS), the same values Keycloak is given.
    client_secrets: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, context: Context, postgres: Postgres, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("Identity", name, context, opts)
        on = self._config.platform
        # Generated once here, handed to Keycloak (realm env) and to the app (its Secrets) alike.
        self.client_secrets = {
            client: generated_password(f"{client}-oidc-secret", self) for client in OIDC_CLIENTS
        }
        ldap_reader = self._openldap() if on.openldap.enabled else None
        self.keycloak_url = self.issuer_url = self.discovery_url = None
        if on.keycloak.enabled:
            self._keycloak(postgres, self.client_secrets, ldap_reader)
            self.keycloak_url = f"https://keycloak.{self._config.domain}"
            self.issuer_url = f"{self.keycloak_url}/realms/{KEYCLOAK_REALM}"
            self.discovery_url = (
                f"http://keycloak-http.{NAMESPACES['keycloak']}.svc.cluster.local/realms/{KEYCLOAK_REALM}"
            )
        self.register_outputs({"issuerUrl": self.issuer_url})

    def _openldap(self) -> pulumi.Output[str]:
        """The directory, loaded with Folio's people and groups and a read-only account for Keycloak,
        serving LDAPS with a certificate from the internal CA. Returns the reader's password."""
        admin = generated_password("openldap-admin-password", self)
        config_admin = generated_password("openldap-config-password", self)
        reader = generated_password("openldap-reader-password", self)
        self._secret(
            "openldap-admin",
            NAMESPACES["openldap"],
            {"LDAP_ADMIN_PASSWORD": admin, "LDAP_CONFIG_ADMIN_PASSWORD": config_admin},
        )
        tls = self._config.platform.cert_manager.enabled
        if tls:
            self._certificate(
                "openldap-tls",
                NAMESPACES["openldap"],
                [
                    "openldap",
                    f"openldap.{NAMESPACES['openldap']}.svc",
                    f"openldap.{NAMESPACES['openldap']}.svc.cluster.local",
                ],
            )
        base = ",".join(f"dc={part}" for part in LDAP_DOMAIN.split("."))
        # Loaded once into an empty directory; the reader may read (the image's default ACL lets any bound
        # account read, and none but the admin write).
        services_ldif = pulumi.Output.concat(
            f"dn: ou=services,{base}\nobjectClass: organizationalUnit\nou: services\n\n",
            f"dn: {LDAP_BIND_DN}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\n",
            "cn: keycloak-reader\nuserPassword: ",
            reader,
            "\n",
        )
        self._release(
            "openldap",
            {
                "global": {"ldapDomain": LDAP_DOMAIN, "existingSecret": "openldap-admin"},
                "replicaCount": 1,
                "replication": {"enabled": False},
                "ltb-passwd": {"enabled": False},
                "phpldapadmin": {"enabled": False},
                "resources": self._res("openldap"),
                "persistence": self._volume("storageClass", enabled=True, size="1Gi"),
                "customLdifFiles": {
                    "00-folio.ldif": DIRECTORY_LDIF.read_text(),
                    "10-services.ldif": services_ldif,
                },
                "customTLS": {"enabled": tls, "secret": "openldap-tls" if tls else ""},
            },
        )
        return reader

    def _keycloak(
        self,
        postgres: Postgres,
        client_secrets: dict[str, pulumi.Output[str]],
        ldap_reader: pulumi.Output[str] | None,
    ) -> None:
        host, port, user, db_password = postgres.host, postgres.port, postgres.user, postgres.password
        ns = NAMESPACES["keycloak"]
        admin = generated_password("keycloak-admin-password", self)
        self._secret("keycloak-admin", ns, {"username": "admin", "password": admin})
        self._secret("keycloak-db", ns, {"password": db_password})
        public_host = f"keycloak.{self._config.domain}"
        # The realm file's placeholders (identity/keycloak/folio-realm.json): `kc.sh --import-realm` and
        # `folio identity apply` both read them from Keycloak's environment.
        realm_env: dict[str, pulumi.Input[str]] = {
            "FOLIO_IDENTITY_SHOP_URL": f"https://shop.{self._config.domain}",
            "FOLIO_IDENTITY_STOREFRONT_CLIENT_SECRET": client_secrets["storefront"],
            "FOLIO_IDENTITY_ORDERS_CLIENT_SECRET": client_secrets["orders"],
            "FOLIO_IDENTITY_ASSISTANT_CLIENT_SECRET": client_secrets["assistant"],
            "FOLIO_IDENTITY_GATEWAY_CLIENT_SECRET": client_secrets["gateway"],
        }
        tls = self._config.platform.cert_manager.enabled
        if ldap_reader is not None:
            scheme, ldap_port = ("ldaps", 636) if tls else ("ldap", 389)
            realm_env |= {
                "FOLIO_IDENTITY_LDAP_URL": f"{scheme}://openldap.{NAMESPACES['openldap']}.svc.cluster.local:{ldap_port}",
                "FOLIO_IDENTITY_LDAP_BIND_DN": LDAP_BIND_DN,
                "FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL": ldap_reader,
            }
        self._secret("keycloak-realm-env", ns, realm_env)
        # The realm, imported on the first start (`--import-realm` skips a realm that exists).
        realm = k8s.core.v1.ConfigMap(
            "keycloak-realm",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="keycloak-realm", namespace=ns),
            data={"folio-realm.json": REALM_FILE.read_text()},
            opts=pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=[self._namespace(ns)]),
        )
        volumes = "- name: realm\n  configMap: {name: keycloak-realm}\n"
        mounts = "- name: realm\n  mountPath: /opt/keycloak/data/import\n  readOnly: true\n"
        trust = ""
        if tls and ldap_reader is not None:
            # The directory's certificate is signed by the internal CA: Keycloak trusts that CA.
            volumes += "- name: ldap-ca\n  secret: {secretName: openldap-tls, items: [{key: ca.crt, path: folio-internal-ca.crt}]}\n"
            mounts += "- name: ldap-ca\n  mountPath: /opt/keycloak/conf/truststores\n  readOnly: true\n"
            trust = (
                "- name: KC_TRUSTSTORE_PATHS\n  value: /opt/keycloak/conf/truststores/folio-internal-ca.crt\n"
            )
        self._release(
            "keycloak",
            {
                "fullnameOverride": "keycloak",
                "replicas": 1,
                "command": [
                    "/opt/keycloak/bin/kc.sh",
                    "start",
                    "--http-enabled=true",
                    "--hostname-strict=false",
                    "--import-realm",
                ],
                "proxy": {"enabled": True, "mode": "xforwarded"},
                "http": {"relativePath": "/"},
                "resources": self._res("keycloak", "1Gi"),
                "database": {
                    "vendor": "postgres",
                    "hostname": host,
                    "port": port,
                    "database": "keycloak",
                    "username": user,
                    "existingSecret": "keycloak-db",
                    "existingSecretKey": "password",
                },
                "extraEnv": (
                    "- name: KC_BOOTSTRAP_ADMIN_USERNAME\n"
                    "  valueFrom: {secretKeyRef: {name: keycloak-admin, key: username}}\n"
                    "- name: KC_BOOTSTRAP_ADMIN_PASSWORD\n"
                    "  valueFrom: {secretKeyRef: {name: keycloak-admin, key: password}}\n"
                    f"- name: KC_HOSTNAME\n  value: https://{public_host}\n"
                    # Tokens name the public issuer; the token and key endpoints answer with the address
                    # they were asked on, so services inside the cluster never leave it.
                    "- name: KC_HOSTNAME_BACKCHANNEL_DYNAMIC\n  value: 'true'\n" + trust
                ),
                "extraEnvFrom": "- secretRef: {name: keycloak-realm-env}\n",
                "extraVolumes": volumes,
                "extraVolumeMounts": mounts,
                "ingress": {
                    "enabled": True,
                    "ingressClassName": "nginx",
                    "annotations": self._tls_annotations(),
                    # Sign-in and the realm's public documents only: the admin console is reached with
                    # `kubectl port-forward -n keycloak svc/keycloak-http 8080:80`, never from the internet.
                    "rules": [
                        {
                            "host": public_host,
                            "paths": [
                                {"path": "/realms/", "pathType": "Prefix"},
                                {"path": "/resources/", "pathType": "Prefix"},
                            ],
                        }
                    ],
                    "tls": [{"hosts": [public_host], "secretName": "keycloak-tls"}],
                },
            },
            depends_on=[realm, *([self.releases["postgresql"]] if "postgresql" in self.releases else [])],
        )
