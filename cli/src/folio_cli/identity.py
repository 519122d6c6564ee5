"""`folio identity apply`: make a running Keycloak hold the Folio realm of identity/keycloak, idempotently.

Creates what is missing and updates what differs (realm settings, realm roles, clients with their secrets
and protocol mappers, the realm roles of the clients' service accounts, the LDAP user federation with its
mappers); what Keycloak added on its own (default
roles, clients, mappers) is left alone. A second run with the same settings writes nothing.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

from keycloak import KeycloakAdmin
from keycloak.exceptions import KeycloakGetError
from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from folio_identity.realm import LDAP_MAPPER_TYPE, LDAP_PROVIDER_TYPE, placeholders, render

ENV_PREFIX = "FOLIO_IDENTITY_"
# Keycloak answers a component's secret config values with this mask, and keeps the stored value when
# it receives the mask back; so a bind credential can be written but never compared.
MASK = "**********"
# The client field holding its secret, compared through Keycloak's client-secret endpoint instead.
CLIENT_SECRET_KEY = "secret"  # noqa: S105 (a field name, not a secret)


class IdentitySettings(BaseSettings):
    """Where Keycloak is, how to administer it, and the deployment values the realm file leaves open.

    Secrets come from the environment only (a cluster Job gets them from Secrets), never from options.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    keycloak_url: str
    keycloak_admin_realm: str = "master"
    keycloak_admin_user: str
    keycloak_admin_password: SecretStr
    keycloak_verify_tls: bool = True
    shop_url: str
    ldap_url: str
    ldap_bind_dn: str
    ldap_bind_credential: SecretStr
    storefront_client_secret: SecretStr
    orders_client_secret: SecretStr
    assistant_client_secret: SecretStr
    gateway_client_secret: SecretStr

    @field_validator("keycloak_url", "shop_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("ldap_url")
    @classmethod
    def _ldap_url(cls, value: str) -> str:
        if not value.startswith(("ldap://", "ldaps://")):
            raise ValueError(f"{value!r} is not an ldap:// or ldaps:// URL")
        return value

    def placeholder_values(self) -> dict[str, str]:
        """The realm file's `${FOLIO_IDENTITY_<SETTING>}` placeholders, resolved."""
        values = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            plain = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            values[f"{ENV_PREFIX}{name.upper()}"] = plain
        return values


def env_name(setting: str) -> str:
    return f"{ENV_PREFIX}{setting.upper()}"


class KeycloakAdminApi(Protocol):
    """The part of python-keycloak's KeycloakAdmin that apply uses (a seam for type checks, not a fake)."""

    def get_realm(self, realm_name: str) -> dict[str, Any]: ...
    def create_realm(self, payload: dict[str, Any], skip_exists: bool = False) -> bytes: ...
    def update_realm(self, realm_name: str, payload: dict[str, Any]) -> dict[str, Any]: ...
    def get_realm_roles(
        self, brief_representation: bool = True, search_text: str = "", query: dict[str, Any] | None = None
    ) -> list[Any]: ...
    def create_realm_role(self, payload: dict[str, Any], skip_exists: bool = False) -> str: ...
    def update_realm_role(self, role_name: str, payload: dict[str, Any]) -> dict[str, Any]: ...
    def get_clients(self) -> list[Any]: ...
    def create_client(self, payload: dict[str, Any], skip_exists: bool = False) -> str: ...
    def update_client(self, client_id: str, payload: dict[str, Any]) -> dict[str, Any]: ...
    def get_client_secrets(self, client_id: str) -> dict[str, Any]: ...
    def get_mappers_from_client(self, client_id: str) -> list[Any]: ...
    def add_mapper_to_client(self, client_id: str, payload: dict[str, Any]) -> bytes: ...
    def update_client_mapper(
        self, client_id: str, mapper_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]: ...
    def get_client_service_account_user(self, client_id: str) -> dict[str, Any]: ...
    def get_realm_role(self, role_name: str) -> dict[str, Any]: ...
    def get_realm_roles_of_user(self, user_id: str) -> list[Any]: ...
    def assign_realm_roles(self, user_id: str, roles: str | list[Any]) -> dict[str, Any]: ...
    def get_components(self, query: dict[str, Any] | None = None) -> list[Any]: ...
    def create_component(self, payload: dict[str, Any]) -> str: ...
    def update_component(self, component_id: str, payload: dict[str, Any]) -> dict[str, Any]: ...


def connect(settings: IdentitySettings, realm_name: str) -> KeycloakAdmin:
    """A python-keycloak admin client for `realm_name`, signing in as the admin of the admin realm."""
    return KeycloakAdmin(
        server_url=settings.keycloak_url + "/",
        username=settings.keycloak_admin_user,
        password=settings.keycloak_admin_password.get_secret_value(),
        realm_name=realm_name,
        user_realm_name=settings.keycloak_admin_realm,
        verify=settings.keycloak_verify_tls,
        timeout=30,
    )


def resolve_realm(template: dict[str, Any], settings: IdentitySettings) -> dict[str, Any]:
    """The realm file with its placeholders filled from the settings; an unknown placeholder is an error."""
    values = settings.placeholder_values()
    unknown = placeholders(template) - set(values)
    if unknown:
        raise ValueError(
            f"the realm file uses placeholders no setting provides: {', '.join(sorted(unknown))}"
        )
    realm: dict[str, Any] = render(template, values)
    return realm


def differs(desired: Any, current: Any) -> bool:
    """Does `current` (what Keycloak holds) fail to match `desired` on every key `desired` sets?

    Keys only Keycloak sets are ignored; lists of plain values compare as sets (Keycloak may reorder them).
    """
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return True
        return any(differs(value, current.get(key)) for key, value in desired.items())
    if isinstance(desired, list) and all(isinstance(v, str | int | float | bool) for v in desired):
        return not isinstance(current, list) or set(desired) != set(current)
    return bool(desired != current)


@dataclass
class Changes:
    """What one apply run wrote, in order, for the report."""

    lines: list[str] = field(default_factory=list)

    def add(self, action: str, what: str) -> None:
        self.lines.append(f"{action} {what}")


@dataclass
class RealmApplier:
    """Brings one Keycloak realm to the desired representation, touching only what differs."""

    admin: KeycloakAdminApi
    realm: dict[str, Any]
    update_secrets: bool = False
    changes: Changes = field(default_factory=Changes)

    @property
    def name(self) -> str:
        return str(self.realm["realm"])

    def apply(self) -> Changes:
        realm_id = self._realm()
        self._roles()
        for client in self.realm.get("clients", []):
            self._client(client)
        for account in self.realm.get("users", []):
            self._service_account(account)
        for provider in self.realm.get("components", {}).get(LDAP_PROVIDER_TYPE, []):
            self._federation(provider, realm_id)
        return self.changes

    def _realm(self) -> str:
        settings = {
            k: v for k, v in self.realm.items() if k not in ("roles", "clients", "users", "components")
        }
        try:
            current = self.admin.get_realm(self.name)
        except KeycloakGetError as error:
            if error.response_code != 404:
                raise
            self.admin.create_realm(settings)
            self.changes.add("created", f"realm {self.name}")
            current = self.admin.get_realm(self.name)
        else:
            if differs(settings, current):
                self.admin.update_realm(self.name, settings)
                self.changes.add("updated", f"realm {self.name} settings")
        return str(current["id"])

    def _roles(self) -> None:
        current = {r["name"]: r for r in self.admin.get_realm_roles(brief_representation=False)}
        for role in self.realm.get("roles", {}).get("realm", []):
            if role["name"] not in current:
                self.admin.create_realm_role(role)
                self.changes.add("created", f"realm role {role['name']}")
            elif differs(role, current[role["name"]]):
                self.admin.update_realm_role(role["name"], {**current[role["name"]], **role})
                self.changes.add("updated", f"realm role {role['name']}")

    def _client(self, desired: dict[str, Any]) -> None:
        client_id = desired["clientId"]
        current = {c["clientId"]: c for c in self.admin.get_clients()}.get(client_id)
        if current is None:
            self.admin.create_client(desired)
            self.changes.add("created", f"client {client_id}")
            return
        body = {k: v for k, v in desired.items() if k != "protocolMappers"}
        comparable = {k: v for k, v in body.items() if k != CLIENT_SECRET_KEY}
        secret = body.get(CLIENT_SECRET_KEY)
        stale_secret = (
            secret is not None and self.admin.get_client_secrets(current["id"]).get("value") != secret
        )
        if differs(comparable, current) or stale_secret:
            # Keycloak's PUT replaces the representation: start from what it holds so its own fields stay.
            self.admin.update_client(current["id"], {**current, **body})
            self.changes.add("updated", f"client {client_id}" + (" secret" if stale_secret else ""))
        mappers = {m["name"]: m for m in self.admin.get_mappers_from_client(current["id"])}
        for mapper in desired.get("protocolMappers", []):
            existing = mappers.get(mapper["name"])
            if existing is None:
                self.admin.add_mapper_to_client(current["id"], mapper)
                self.changes.add("created", f"client {client_id} mapper {mapper['name']}")
            elif differs(mapper, existing):
                self.admin.update_client_mapper(current["id"], existing["id"], {**existing, **mapper})
                self.changes.add("updated", f"client {client_id} mapper {mapper['name']}")

    def _service_account(self, desired: dict[str, Any]) -> None:
        """Grant a client's service account the realm roles the file gives it (people come from LDAP)."""
        client_id = desired.get("serviceAccountClientId")
        if not client_id:
            raise ValueError(f"user {desired.get('username')!r}: the realm file holds service accounts only")
        client = {c["clientId"]: c for c in self.admin.get_clients()}[client_id]
        account = self.admin.get_client_service_account_user(client["id"])
        held = {r["name"] for r in self.admin.get_realm_roles_of_user(account["id"])}
        missing = [name for name in desired.get("realmRoles", []) if name not in held]
        if missing:
            self.admin.assign_realm_roles(account["id"], [self.admin.get_realm_role(n) for n in missing])
            self.changes.add("granted", f"service account of {client_id} realm roles {', '.join(missing)}")

    def _component(self, desired: dict[str, Any], *, provider_type: str, parent_id: str, label: str) -> str:
        """Create or update one component under `parent_id`; returns its id."""
        body = {
            "name": desired["name"],
            "providerId": desired["providerId"],
            "providerType": provider_type,
            "parentId": parent_id,
            "config": desired["config"],
        }
        found = self.admin.get_components(
            query={"parent": parent_id, "type": provider_type, "name": desired["name"]}
        )
        current = next((c for c in found if c["name"] == desired["name"]), None)
        if current is None:
            component_id = self.admin.create_component(body)
            self.changes.add("created", label)
            return component_id
        secret_keys = {k for k, v in current.get("config", {}).items() if v == [MASK]}
        comparable = {
            **body,
            "config": {k: v for k, v in body["config"].items() if k not in secret_keys},
        }
        rotate = self.update_secrets and bool(secret_keys & set(body["config"]))
        if differs(comparable, current) or rotate:
            config = {**current.get("config", {}), **body["config"]}
            self.admin.update_component(current["id"], {**current, **body, "config": config})
            self.changes.add("updated", label + (" (secrets written)" if rotate else ""))
        return str(current["id"])

    def _federation(self, provider: dict[str, Any], realm_id: str) -> None:
        provider_id = self._component(
            provider,
            provider_type=LDAP_PROVIDER_TYPE,
            parent_id=realm_id,
            label=f"user federation {provider['name']}",
        )
        for mapper in provider.get("subComponents", {}).get(LDAP_MAPPER_TYPE, []):
            self._component(
                mapper,
                provider_type=LDAP_MAPPER_TYPE,
                parent_id=provider_id,
                label=f"user federation {provider['name']} mapper {mapper['name']}",
            )


def settings_problems(error: ValidationError) -> str:
    """A validation error as one line per setting, named by its environment variable."""
    missing = [env_name(str(e["loc"][0])) for e in error.errors() if e["type"] == "missing"]
    invalid = [f"{env_name(str(e['loc'][0]))}: {e['msg']}" for e in error.errors() if e["type"] != "missing"]
    lines = []
    if missing:
        lines.append("missing settings (set these environment variables): " + ", ".join(missing))
    lines.extend(invalid)
    return "\n".join(lines)
