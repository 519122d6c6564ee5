"""The realm file: what the issue asks of it, and no secret in it."""

import re
from typing import Any

from folio_identity.realm import ldap_mappers, ldap_provider, placeholders, realm_template
from folio_platform.auth import SERVICE_ROLE

# Keys that hold a credential anywhere in a Keycloak realm representation.
SECRET_KEY = re.compile(r"secret|credential|password|privateKey|certificate", re.IGNORECASE)
WHOLE_PLACEHOLDER = re.compile(r"\$\{FOLIO_IDENTITY_[A-Z0-9_]+\}")


def _secret_values(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, value) of every value stored under a secret-looking key."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            flag = isinstance(item, bool) or item in (["true"], ["false"])  # e.g. validatePasswordPolicy
            if SECRET_KEY.search(key) and not flag and not isinstance(item, dict):
                found.append((f"{path}.{key}", item))
            found.extend(_secret_values(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_secret_values(item, f"{path}[{index}]"))
    return found


def test_every_secret_in_the_realm_is_a_placeholder() -> None:
    realm = realm_template()
    found = _secret_values(realm)

    assert {path for path, _ in found} == {
        ".clients[0].secret",
        ".clients[1].secret",
        ".clients[2].secret",
        ".clients[3].secret",
        ".components.org.keycloak.storage.UserStorageProvider[0].config.bindCredential",
    }
    for path, value in found:
        values = value if isinstance(value, list) else [value]
        assert all(WHOLE_PLACEHOLDER.fullmatch(v) for v in values), f"{path} holds a literal value"
    # People come from LDAP; the only users here are the clients' service accounts, with no credential.
    for user in realm["users"]:
        assert user["serviceAccountClientId"], user
        assert user["username"] == f"service-account-{user['serviceAccountClientId']}"
        assert "credentials" not in user


def test_the_secret_check_catches_a_literal() -> None:
    leaked = realm_template()
    leaked["clients"][1]["secret"] = "s3cr3t"

    assert any(v == "s3cr3t" for _, v in _secret_values(leaked))


def test_clients_roles_and_tokens_are_as_the_platform_expects() -> None:
    realm = realm_template()
    clients = {c["clientId"]: c for c in realm["clients"]}

    assert realm["realm"] == "folio"
    assert {r["name"] for r in realm["roles"]["realm"]} == {
        "customer",
        "catalog-admin",
        "support",
        SERVICE_ROLE,
    }
    assert realm["accessTokenLifespan"] == 300
    assert realm["bruteForceProtected"] is True
    storefront = clients["folio-storefront"]
    # Confidential: it signs people in (PKCE still required) and serves guests as its service account.
    assert storefront["publicClient"] is False
    assert storefront["attributes"]["pkce.code.challenge.method"] == "S256"
    assert (storefront["standardFlowEnabled"], storefront["implicitFlowEnabled"]) == (True, False)
    assert (storefront["directAccessGrantsEnabled"], storefront["serviceAccountsEnabled"]) == (False, True)
    for name in ("folio-orders", "folio-assistant"):
        client = clients[name]
        assert client["publicClient"] is False
        assert client["serviceAccountsEnabled"] is True
        assert not (client["standardFlowEnabled"])
        assert not (client["directAccessGrantsEnabled"])
    for client in clients.values():
        mappers = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
        assert mappers["oidc-audience-mapper"]["included.custom.audience"] == "folio"
        assert mappers["oidc-audience-mapper"]["access.token.claim"] == "true"
        assert mappers["oidc-usermodel-realm-role-mapper"]["claim.name"] == "realm_access.roles"
    assert placeholders(realm) == {
        "FOLIO_IDENTITY_SHOP_URL",
        "FOLIO_IDENTITY_LDAP_URL",
        "FOLIO_IDENTITY_LDAP_BIND_DN",
        "FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL",
        "FOLIO_IDENTITY_STOREFRONT_CLIENT_SECRET",
        "FOLIO_IDENTITY_ORDERS_CLIENT_SECRET",
        "FOLIO_IDENTITY_ASSISTANT_CLIENT_SECRET",
        "FOLIO_IDENTITY_GATEWAY_CLIENT_SECRET",
    }


def test_ldap_federation_is_read_only_openldap() -> None:
    provider = ldap_provider(realm_template())

    assert provider["config"]["vendor"] == ["other"]
    assert provider["config"]["editMode"] == ["READ_ONLY"]
    assert {m["name"] for m in ldap_mappers(realm_template())} == {
        "username",
        "email",
        "first name",
        "last name",
        "realm roles",
    }


def test_only_service_accounts_hold_the_service_role() -> None:
    """What makes a token a service's (folio_platform.auth.Identity.service): the realm grants the role
    to each service account, and the LDAP role mapper never turns a directory group into it."""
    realm = realm_template()
    clients = {c["clientId"] for c in realm["clients"] if c["serviceAccountsEnabled"]}
    holders = {u["serviceAccountClientId"] for u in realm["users"] if SERVICE_ROLE in u["realmRoles"]}
    assert holders == clients == {"folio-storefront", "folio-orders", "folio-assistant"}
    (roles_mapper,) = [m for m in ldap_mappers(realm) if m["providerId"] == "role-ldap-mapper"]
    assert roles_mapper["config"]["roles.ldap.filter"] == [f"(!(cn={SERVICE_ROLE}))"]
