"""`folio identity apply` against a recording test double of Keycloak's admin REST API
(folio_testing.keycloak), so the tests see what apply really sends over HTTP."""

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from folio_cli.main import app
from folio_identity.realm import LDAP_PROVIDER_TYPE, realm_template
from folio_testing.keycloak import KeycloakDouble, serve_keycloak_double
from folio_testing.plugin import free_port

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture
def keycloak() -> Iterator[KeycloakDouble]:
    with serve_keycloak_double() as double:
        yield double


@pytest.fixture
def settings_env(keycloak: KeycloakDouble) -> dict[str, str]:
    return {
        "FOLIO_IDENTITY_KEYCLOAK_URL": keycloak.url,
        "FOLIO_IDENTITY_KEYCLOAK_ADMIN_USER": keycloak.admin_user,
        "FOLIO_IDENTITY_KEYCLOAK_ADMIN_PASSWORD": keycloak.admin_password,
        "FOLIO_IDENTITY_SHOP_URL": "https://shop.folio.example/",
        "FOLIO_IDENTITY_LDAP_URL": "ldap://openldap.identity:389",
        "FOLIO_IDENTITY_LDAP_BIND_DN": "cn=keycloak,dc=folio,dc=example",
        "FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL": secrets.token_urlsafe(16),
        "FOLIO_IDENTITY_STOREFRONT_CLIENT_SECRET": secrets.token_urlsafe(16),
        "FOLIO_IDENTITY_ORDERS_CLIENT_SECRET": secrets.token_urlsafe(16),
        "FOLIO_IDENTITY_ASSISTANT_CLIENT_SECRET": secrets.token_urlsafe(16),
        "FOLIO_IDENTITY_GATEWAY_CLIENT_SECRET": secrets.token_urlsafe(16),
    }


def _apply(env: dict[str, str], *args: str) -> Any:
    return runner.invoke(app, ["identity", "apply", *args], env=env)


def test_first_run_creates_the_realm_as_written(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    result = _apply(settings_env)

    assert result.exit_code == 0, result.output
    assert "created realm folio" in result.output
    realm = keycloak.realms["folio"]
    assert realm["accessTokenLifespan"] == 300
    assert realm["bruteForceProtected"] is True
    assert {"customer", "catalog-admin", "support", "folio-service"} <= set(keycloak.roles)
    # Only the service accounts hold the role that makes a token a service's.
    for client_id in ("folio-storefront", "folio-orders", "folio-assistant"):
        assert "folio-service" in keycloak.service_account_roles(client_id), client_id
    assert "granted service account of folio-orders realm roles folio-service" in result.output
    storefront = keycloak.client("folio-storefront")
    assert storefront["publicClient"] is False
    assert storefront["serviceAccountsEnabled"] is True
    assert storefront["standardFlowEnabled"] is True
    assert storefront["directAccessGrantsEnabled"] is False
    assert storefront["implicitFlowEnabled"] is False
    assert storefront["attributes"]["pkce.code.challenge.method"] == "S256"
    assert storefront["redirectUris"] == ["https://shop.folio.example/signin/callback"]
    assert storefront["secret"] == settings_env["FOLIO_IDENTITY_STOREFRONT_CLIENT_SECRET"]
    for client_id, secret_env in (
        ("folio-orders", "FOLIO_IDENTITY_ORDERS_CLIENT_SECRET"),
        ("folio-assistant", "FOLIO_IDENTITY_ASSISTANT_CLIENT_SECRET"),
    ):
        client = keycloak.client(client_id)
        assert client["serviceAccountsEnabled"] is True
        assert client["standardFlowEnabled"] is False
        assert client["publicClient"] is False
        assert client["secret"] == settings_env[secret_env]
    for client in (storefront, keycloak.client("folio-orders")):
        mappers = {m["name"]: m for m in keycloak.mappers[client["id"]].values()}
        assert mappers["folio-audience"]["config"]["included.custom.audience"] == "folio"
        assert mappers["realm-roles"]["config"]["claim.name"] == "realm_access.roles"
    ldap = keycloak.component("openldap")
    assert ldap["parentId"] == realm["id"]
    assert ldap["config"]["connectionUrl"] == ["ldap://openldap.identity:389"]
    assert ldap["config"]["bindCredential"] == [settings_env["FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL"]]
    assert ldap["config"]["editMode"] == ["READ_ONLY"]
    # Keycloak's default "first name" mapper read cn; apply made it read givenName as the realm says.
    assert keycloak.component("first name", ldap["id"])["config"]["ldap.attribute"] == ["givenName"]
    assert keycloak.component("realm roles", ldap["id"])["providerId"] == "role-ldap-mapper"
    assert "updated user federation openldap mapper first name" in result.output
    assert "${" not in json.dumps([keycloak.realms, keycloak.clients, keycloak.components])


def test_second_run_writes_nothing_and_says_unchanged(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    assert _apply(settings_env).exit_code == 0
    before = len(keycloak.requests)

    result = _apply(settings_env)

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "realm folio: unchanged"
    second = keycloak.requests[before:]
    assert second, "the second run asked Keycloak nothing"
    assert [r for r in second if r.method != "GET" and not r.path.endswith("/token")] == []


def test_a_changed_shop_url_updates_only_the_storefront_client(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    assert _apply(settings_env).exit_code == 0
    before = len(keycloak.writes())

    result = _apply({**settings_env, "FOLIO_IDENTITY_SHOP_URL": "https://books.example.org"})

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "updated client folio-storefront",
        "realm folio: 1 change(s) applied",
    ]
    (write,) = keycloak.writes()[before:]
    storefront = keycloak.client("folio-storefront")
    assert (write.method, write.path) == ("PUT", f"/admin/realms/folio/clients/{storefront['id']}")
    assert storefront["redirectUris"] == ["https://books.example.org/signin/callback"]
    assert storefront["webOrigins"] == ["https://books.example.org"]


def test_a_rotated_client_secret_and_a_changed_setting_are_written(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    assert _apply(settings_env).exit_code == 0
    keycloak.realms["folio"]["accessTokenLifespan"] = 3600  # someone changed it in the console
    rotated = {**settings_env, "FOLIO_IDENTITY_ORDERS_CLIENT_SECRET": secrets.token_urlsafe(16)}

    result = _apply(rotated)

    assert result.exit_code == 0, result.output
    assert "updated realm folio settings" in result.output
    assert "updated client folio-orders secret" in result.output
    assert keycloak.realms["folio"]["accessTokenLifespan"] == 300
    assert keycloak.client("folio-orders")["secret"] == rotated["FOLIO_IDENTITY_ORDERS_CLIENT_SECRET"]
    assert _apply(rotated).output.strip() == "realm folio: unchanged"


def test_the_bind_credential_is_written_again_only_when_asked(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    assert _apply(settings_env).exit_code == 0
    rotated = {**settings_env, "FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL": secrets.token_urlsafe(16)}

    # Keycloak shows the credential masked, so a plain run cannot see that it changed...
    assert _apply(rotated).output.strip() == "realm folio: unchanged"
    result = _apply(rotated, "--update-secrets")

    assert result.exit_code == 0, result.output
    assert "updated user federation openldap (secrets written)" in result.output
    assert keycloak.component("openldap")["config"]["bindCredential"] == [
        rotated["FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL"]
    ]


def test_missing_settings_are_named_and_nothing_is_called(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    env = {k: v for k, v in settings_env.items() if "SECRET" not in k and "CREDENTIAL" not in k}

    result = _apply(env)

    assert result.exit_code == 2
    assert (
        "missing settings (set these environment variables): FOLIO_IDENTITY_LDAP_BIND_CREDENTIAL, "
        "FOLIO_IDENTITY_STOREFRONT_CLIENT_SECRET, FOLIO_IDENTITY_ORDERS_CLIENT_SECRET, "
        "FOLIO_IDENTITY_ASSISTANT_CLIENT_SECRET, FOLIO_IDENTITY_GATEWAY_CLIENT_SECRET" in result.output
    )
    assert keycloak.requests == []


def test_bad_urls_are_refused_before_calling_keycloak(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    result = _apply(settings_env, "--shop-url", "shop.example", "--ldap-url", "http://ldap")

    assert result.exit_code == 2
    assert "FOLIO_IDENTITY_SHOP_URL: Value error, 'shop.example' is not an http(s) URL" in result.output
    assert (
        "FOLIO_IDENTITY_LDAP_URL: Value error, 'http://ldap' is not an ldap:// or ldaps:// URL"
        in result.output
    )
    assert keycloak.requests == []


def test_wrong_admin_password_is_reported_as_such(
    keycloak: KeycloakDouble, settings_env: dict[str, str]
) -> None:
    result = _apply({**settings_env, "FOLIO_IDENTITY_KEYCLOAK_ADMIN_PASSWORD": "wrong"})

    assert result.exit_code == 1
    assert (
        f"Keycloak at {keycloak.url} refused the admin sign-in of 'admin' in realm 'master'" in result.output
    )
    assert keycloak.writes() == []


def test_unreachable_keycloak_is_reported(settings_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = _apply(settings_env, "--keycloak-url", url)

    assert result.exit_code == 1
    assert f"cannot reach Keycloak at {url}" in result.output


def test_every_placeholder_of_the_realm_file_is_a_setting() -> None:
    from folio_cli.identity import IdentitySettings
    from folio_identity.realm import placeholders

    settings = {f"FOLIO_IDENTITY_{name.upper()}" for name in IdentitySettings.model_fields}

    assert placeholders(realm_template()) <= settings
    assert LDAP_PROVIDER_TYPE in realm_template()["components"]


def test_a_realm_file_with_an_unknown_placeholder_is_refused(
    keycloak: KeycloakDouble, settings_env: dict[str, str], tmp_path: Path
) -> None:
    realm = realm_template()
    realm["displayName"] = "${FOLIO_IDENTITY_TYPO}"
    realm_file = tmp_path / "realm.json"
    realm_file.write_text(json.dumps(realm))

    result = _apply(settings_env, "--realm-file", str(realm_file))

    assert result.exit_code == 2
    assert "the realm file uses placeholders no setting provides: FOLIO_IDENTITY_TYPO" in result.output
    assert keycloak.requests == []


def test_a_missing_realm_file_is_refused(settings_env: dict[str, str], tmp_path: Path) -> None:
    result = _apply(settings_env, "--realm-file", str(tmp_path / "nope.json"))

    assert result.exit_code == 2
    assert "cannot use the realm file" in result.output
    assert "nope.json" in result.output
