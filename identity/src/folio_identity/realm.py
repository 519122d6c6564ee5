"""The Folio realm as code: identity/keycloak/folio-realm.json and its `${VARIABLE}` placeholders.

The file is a Keycloak RealmRepresentation. Deployment-specific values (the shop URL, the LDAP URL and bind
DN) and every secret are `${FOLIO_IDENTITY_…}` placeholders, the syntax Keycloak's own `--import-realm`
resolves from the environment, so the same file serves `kc.sh import` and `folio identity apply`.
"""

import json
import re
from typing import Any

from folio_identity.directory import asset

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

LDAP_PROVIDER_TYPE = "org.keycloak.storage.UserStorageProvider"
LDAP_MAPPER_TYPE = "org.keycloak.storage.ldap.mappers.LDAPStorageMapper"


def realm_template() -> dict[str, Any]:
    """The realm file as written, placeholders unresolved."""
    data: dict[str, Any] = json.loads(asset("keycloak/folio-realm.json").read_text())
    return data


def placeholders(value: Any) -> set[str]:
    """Names of every `${NAME}` placeholder in a JSON value."""
    found: set[str] = set()
    if isinstance(value, str):
        found.update(PLACEHOLDER.findall(value))
    elif isinstance(value, dict):
        for item in value.values():
            found |= placeholders(item)
    elif isinstance(value, list):
        for item in value:
            found |= placeholders(item)
    return found


def render(value: Any, values: dict[str, str]) -> Any:
    """A copy of a JSON value with every placeholder replaced; a name without a value is a KeyError."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: values[match.group(1)], value)
    if isinstance(value, dict):
        return {key: render(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, values) for item in value]
    return value


def ldap_provider(realm: dict[str, Any]) -> dict[str, Any]:
    """The realm's one LDAP user-federation component."""
    (provider,) = realm["components"][LDAP_PROVIDER_TYPE]
    if provider["providerId"] != "ldap":
        raise ValueError(f"user federation {provider['name']!r} is {provider['providerId']!r}, not ldap")
    return dict(provider)


def ldap_mappers(realm: dict[str, Any]) -> list[dict[str, Any]]:
    """The attribute and role mappers under the LDAP provider."""
    return list(ldap_provider(realm)["subComponents"][LDAP_MAPPER_TYPE])
