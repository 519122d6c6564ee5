"""A recording test double of Keycloak's admin REST API, for `folio identity apply`.

Keycloak itself cannot run on these machines. The double is an HTTP server that answers the endpoints
python-keycloak calls the way Keycloak does (201 + Location on create, 204 on update, 404 for an unknown
realm, masked component secrets, default LDAP mappers made on provider creation, a password grant on the
admin realm) and records every request, so tests see what is really sent over HTTP.
"""

import copy
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from folio_cli.identity import MASK
from folio_identity.realm import LDAP_MAPPER_TYPE


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class KeycloakDouble:
    """State of a Keycloak as its admin API shows it, and every request received (test double)."""

    url: str = ""
    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    realms: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    mappers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Users by id (here: the service accounts Keycloak makes for clients) and their realm roles by name.
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_roles: dict[str, list[str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET" and not r.path.endswith("/token")]

    def client(self, client_id: str) -> dict[str, Any]:
        return next(c for c in self.clients.values() if c["clientId"] == client_id)

    def service_account_roles(self, client_id: str) -> set[str]:
        """The realm roles of `client_id`'s service account."""
        user = next(u for u in self.users.values() if u.get("serviceAccountClientId") == client_id)
        return set(self.user_roles[user["id"]])

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
        if client.get("serviceAccountsEnabled"):
            # Keycloak makes the service-account user with the client, holding the realm's default roles.
            user_id = str(uuid.uuid4())
            self.users[user_id] = {
                "id": user_id,
                "username": f"service-account-{client['clientId']}",
                "serviceAccountClientId": client["clientId"],
                "enabled": True,
            }
            self.user_roles[user_id] = [r for r in self.roles if r.startswith("default-roles-")]
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

    def _update_component(self, component_id: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        self.update_component(component_id, body)
        return 204, None, None

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
            ("GET", realm_path + r"/roles/(?P<name>[^/]+)", lambda m: self._get_role(m["name"])),
            (
                "GET",
                realm_path + r"/clients/(?P<id>[^/]+)/service-account-user",
                lambda m: self._service_account_user(m["id"]),
            ),
            (
                "GET",
                realm_path + r"/users/(?P<id>[^/]+)/role-mappings/realm",
                lambda m: (200, [self.roles[n] for n in self.user_roles.get(m["id"], [])], None),
            ),
            (
                "POST",
                realm_path + r"/users/(?P<id>[^/]+)/role-mappings/realm",
                lambda m: self._map_roles(m["id"], body),
            ),
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
                lambda m: self._update_component(m["id"], body),
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

    def _get_role(self, name: str) -> tuple[int, Any, str | None]:
        if name not in self.roles:
            return 404, {"error": "Could not find role"}, None
        return 200, self.roles[name], None

    def _service_account_user(self, client_id: str) -> tuple[int, Any, str | None]:
        if client_id not in self.clients or not self.clients[client_id].get("serviceAccountsEnabled"):
            return 400, {"error": "Service account not enabled for the client"}, None
        clients_id = self.clients[client_id]["clientId"]
        user = next(u for u in self.users.values() if u["serviceAccountClientId"] == clients_id)
        return 200, user, None

    def _map_roles(self, user_id: str, body: list[dict[str, Any]]) -> tuple[int, Any, str | None]:
        if user_id not in self.users or any(r.get("name") not in self.roles for r in body):
            return 404, {"error": "Could not find user or role"}, None
        held = self.user_roles.setdefault(user_id, [])
        held.extend(r["name"] for r in body if r["name"] not in held)
        return 204, None, None

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
                    and (form.get("username"), form.get("password"))
                    == (double.admin_user, double.admin_password)
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


@contextmanager
def serve_keycloak_double() -> Iterator[KeycloakDouble]:
    """A Keycloak double on a free loopback port, for the duration of the block."""
    double = KeycloakDouble()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(double))
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()
