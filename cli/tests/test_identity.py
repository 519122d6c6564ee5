"""`folio identity apply` against a recording test double of Keycloak's admin REST API.

Keycloak itself cannot run on this machine. The double is an HTTP server that answers the endpoints
python-keycloak calls the way Keycloak does (201 + Location on create, 204 on update, 404 for an unknown
realm, masked component secrets, default LDAP mappers made on provider creation, a password grant on the
admin realm) and records every request, so the tests see what apply really sends over HTTP.
"""

import copy
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from folio_cli.identity import MASK
from folio_cli.main import app
from folio_identity.realm import LDAP_MAPPER_TYPE, LDAP_PROVIDER_TYPE, realm_template
from folio_testing.plugin import free_port

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

ADMIN_USER, ADMIN_PASSWORD = "admin", secrets.token_urlsafe(12)


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class KeycloakDouble:
    """State of a Keycloak as its admin API shows it, and every request received (test double)."""

    url: str = ""
    realms: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    mappers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET" and not r.path.endswith("/token")]

    def client(self, client_id: str) -> dict[str, Any]:
        return next(c for c in self.clients.values() if c["clientId"] == client_id)

    def component(self, name: str, parent: str | None = None) -> dict[str, Any]:
        return next(
            c for c in self.components.values() if c["name"] == name and parent in (None, c["parentId"])
        )

    # --- behaviour, as Keycloak's admin resources do it -------------------------------------------------

    def create_realm(self, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        name = body["realm"]
        if name in self.realms:
            return 409, {"errorMessage": f"Realm {name} already exists"}, None
        self.realms[name] = {"id": str(uuid.uuid4()), "enabled": False, "accessTokenLifespan": 60, **body}
        # Keycloak makes default roles and clients in every new realm; apply must leave them alone.
        for role in ("offline_access", "uma_authorization", f"default-roles-{name}"):
            self.roles[role] = {"id": str(uuid.uuid4()), "name": role, "description": "", "composite": False}
        self.add_client({"clientId": "account", "publicClient": True})
        return 201, None, f"/admin/realms/{name}"

    def add_client(self, body: dict[str, Any]) -> str:
        client_id = str(uuid.uuid4())
        mappers = body.pop("protocolMappers", [])
        client = {"id": client_id, "enabled": True, "attributes": {}, **body}
        if not client.get("publicClient") and "secret" not in client:
            client["secret"] = secrets.token_urlsafe(24)
        self.clients[client_id] = client
        self.mappers[client_id] = {}
        for mapper in mappers:
            self.add_mapper(client_id, mapper)
        return client_id

    def add_mapper(self, client_id: str, body: dict[str, Any]) -> str:
        mapper_id = str(uuid.uuid4())
        self.mappers[client_id][mapper_id] = {"id": mapper_id, **body}
        return mapper_id

    def add_component(self, body: dict[str, Any]) -> str:
        component_id = str(uuid.uuid4())
        self.components[component_id] = {"id": component_id, **copy.deepcopy(body)}
        if body.get("providerId") == "ldap":
            # As Keycloak's LDAP provider factory does on creation (vendor "other"): its default mappers.
            defaults = {
                "username": ("uid", "username"),
                "first name": ("cn", "firstName"),
                "last name": ("sn", "lastName"),
                "email": ("mail", "email"),
                "creation date": ("createTimestamp", "createTimestamp"),
                "modify date": ("modifyTimestamp", "modifyTimestamp"),
            }
            for name, (ldap_attribute, model_attribute) in defaults.items():
                self.add_component(
                    {
                        "name": name,
                        "providerId": "user-attribute-ldap-mapper",
                        "providerType": LDAP_MAPPER_TYPE,
                        "parentId": component_id,
                        "config": {
                            "ldap.attribute": [ldap_attribute],
                            "user.model.attribute": [model_attribute],
                            "read.only": ["true"],
                        },
                    }
                )
        return component_id

    def shown(self, component: dict[str, Any]) -> dict[str, Any]:
        """A component as the admin API returns it: secret config values masked."""
        shown = copy.deepcopy(component)
        if "bindCredential" in shown["config"]:
            shown["config"]["bindCredential"] = [MASK]
        return shown

    def update_component(self, component_id: str, body: dict[str, Any]) -> None:
        stored = self.components[component_id]
        config = copy.deepcopy(body.get("config", {}))
        if config.get("bindCredential") == [MASK]:  # Keycloak keeps the stored secret for the mask
            config["bindCredential"] = stored["config"]["bindCredential"]
        self.components[component_id] = {**copy.deepcopy(body), "id": component_id, "config": config}

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, str | None]:
        realm_path = r"/admin/realms/(?P<realm>[^/]+)"
        routes: list[tuple[str, str, Any]] = [
            ("GET", realm_path, lambda m: self._get_realm(m["realm"])),
            ("POST", "/admin/realms", lambda m: self.create_realm(body)),
            ("PUT", realm_path, lambda m: self._update_realm(m["realm"], body)),
            (
                "GET",
                realm_path + "/roles",
                lambda m: (200, self._page(list(self.roles.values()), query), None),
            ),
            ("POST", realm_path + "/roles", lambda m: self._create_role(m[0], body)),
            ("PUT", realm_path + r"/roles/(?P<name>[^/]+)", lambda m: self._update_role(m["name"], body)),
            ("GET", realm_path + "/clients", lambda m: (200, self._clients(query), None)),
            ("POST", realm_path + "/clients", lambda m: self._create_client(m[0], body)),
            ("GET", realm_path + r"/clients/(?P<id>[^/]+)", lambda m: (200, self._client(m["id"]), None)),
            ("PUT", realm_path + r"/clients/(?P<id>[^/]+)", lambda m: self._update_client(m["id"], body)),
            (
                "GET",
                realm_path + r"/clients/(?P<id>[^/]+)/client-secret",
                lambda m: (200, {"type": "secret", "value": self.clients[m["id"]].get("secret")}, None),
            ),
            (
                "GET",
                realm_path + r"/clients/(?P<id>[^/]+)/protocol-mappers/models",
                lambda m: (200, list(self.mappers[m["id"]].values()), None),
            ),
            (
                "POST",
                realm_path + r"/clients/(?P<id>[^/]+)/protocol-mappers/models",
                lambda m: (201, None, f"{m[0]}/{self.add_mapper(m['id'], body)}"),
            ),
            (
                "PUT",
                realm_path + r"/clients/(?P<id>[^/]+)/protocol-mappers/models/(?P<mid>[^/]+)",
                lambda m: self._update_mapper(m["id"], m["mid"], body),
            ),
            ("GET", realm_path + "/components", lambda m: (200, self._components(query), None)),
            ("POST", realm_path + "/components", lambda m: (201, None, f"{m[0]}/{self.add_component(body)}")),
            (
                "PUT",
                realm_path + r"/components/(?P<id>[^/]+)",
                lambda m: (204, self.update_component(m["id"], body), None),
            ),
        ]
        inside = re.match(realm_path + "/", path)
        if inside and inside["realm"] not in self.realms:
            return 404, {"error": "Realm not found."}, None
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                result: tuple[int, Any, str | None] = action(match)
                return result
        return 404, {"error": "HTTP 404 Not Found", "path": path}, None

    def _get_realm(self, name: str) -> tuple[int, Any, str | None]:
        if name not in self.realms:
            return 404, {"error": "Realm not found."}, None
        return 200, self.realms[name], None

    def _update_realm(self, name: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        self.realms[name].update(body)  # only top-level settings, as Keycloak's RealmAdminResource does
        return 204, None, None

    @staticmethod
    def _page(items: list[Any], query: dict[str, str]) -> list[Any]:
        first, size = int(query.get("first", 0)), int(query.get("max", 100))
        return items[first : first + size]

    def _create_role(self, path: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        if body["name"] in self.roles:
            return 409, {"errorMessage": f"Role with name {body['name']} already exists"}, None
        self.roles[body["name"]] = {"id": str(uuid.uuid4()), "composite": False, **body}
        return 201, None, f"{path}/{body['name']}"

    def _update_role(self, name: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        self.roles[name] = {**self.roles[name], **body}
        return 204, None, None

    def _client(self, client_id: str) -> dict[str, Any]:
        return {**self.clients[client_id], "protocolMappers": list(self.mappers[client_id].values())}

    def _clients(self, query: dict[str, str]) -> list[Any]:
        found = [self._client(i) for i in self.clients]
        if "clientId" in query:
            found = [c for c in found if c["clientId"] == query["clientId"]]
        return found

    def _create_client(self, path: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        if any(c["clientId"] == body["clientId"] for c in self.clients.values()):
            return 409, {"errorMessage": f"Client {body['clientId']} already exists"}, None
        return 201, None, f"{path}/{self.add_client(copy.deepcopy(body))}"

    def _update_client(self, client_id: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        # A client PUT ignores protocolMappers (they have their own resource), like Keycloak's.
        self.clients[client_id] = {
            **{k: v for k, v in body.items() if k != "protocolMappers"},
            "id": client_id,
        }
        return 204, None, None

    def _update_mapper(
        self, client_id: str, mapper_id: str, body: dict[str, Any]
    ) -> tuple[int, Any, str | None]:
        self.mappers[client_id][mapper_id] = {**body, "id": mapper_id}
        return 204, None, None

    def _components(self, query: dict[str, str]) -> list[Any]:
        return [
            self.shown(c)
            for c in self.components.values()
            if query.get("parent", c["parentId"]) == c["parentId"]
            and query.get("type", c.get("providerType")) == c.get("providerType")
            and query.get("name", c["name"]) == c["name"]
        ]


def _handler(double: KeycloakDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, payload: Any, location: str | None = None) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if location:
                self.send_header("Location", double.url + location)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = url.path
            if path == "/realms/master/protocol/openid-connect/token" and self.command == "POST":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                double.requests.append(
                    Recorded("POST", path, {k: v for k, v in form.items() if k != "password"})
                )
                if (
                    form.get("grant_type") == "password"
                    and form.get("client_id") == "admin-cli"
                    and (form.get("username"), form.get("password")) == (ADMIN_USER, ADMIN_PASSWORD)
                ):
                    token = secrets.token_urlsafe(16)
                    double.tokens.add(token)
                    self._send(200, {"access_token": token, "expires_in": 60, "token_type": "Bearer"})
                else:
                    self._send(
                        401, {"error": "invalid_grant", "error_description": "Invalid user credentials"}
                    )
                return
            body = json.loads(raw) if raw else None
            double.requests.append(Recorded(self.command, path, body))
            if self.headers.get("Authorization", "").removeprefix("Bearer ") not in double.tokens:
                self._send(401, {"error": "HTTP 401 Unauthorized"})
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, payload, location = double.handle(self.command, path, query, body)
            self._send(status, payload, location)

        do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    return Handler


@pytest.fixture
def keycloak() -> Iterator[KeycloakDouble]:
    double = KeycloakDouble()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(double))
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings_env(keycloak: KeycloakDouble) -> dict[str, str]:
    return {
        "FOLIO_IDENTITY_KEYCLOAK_URL": keycloak.url,
        "FOLIO_IDENTITY_KEYCLOAK_ADMIN_USER": ADMIN_USER,
        "FOLIO_IDENTITY_KEYCLOAK_ADMIN_PASSWORD": ADMIN_PASSWORD,
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
    assert {"customer", "catalog-admin"} <= set(keycloak.roles)
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
