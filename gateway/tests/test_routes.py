"""Every public path of the storefront's OpenAPI document is routed by APISIX, the same way in the
standalone config (gateway/apisix.yaml) and in the chart's ApisixRoute; paths that need a signed-in
caller carry an enforcing openid-connect plugin, and the shopper's paths verify bearer tokens."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from folio_platform.auth import AuthSettings
from folio_storefront.app import create_app
from folio_storefront.settings import Settings
from folio_testing.helm import ChartCopy, load_values

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "folio"
HOST = "shop.example.com"
# Operations with these OpenAPI tags act for the shopper of the session (cart, orders): a bearer
# token sent with them must be verified at the gateway.
SHOPPER_TAGS = {"cart", "orders"}
REQUIRED_PLUGINS = {"prometheus", "opentelemetry"}


@dataclass(frozen=True)
class Route:
    name: str
    uris: frozenset[str]
    methods: frozenset[str]
    hosts: frozenset[str]
    priority: int
    plugins: frozenset[str]
    oidc_unauth_action: str | None  # None: no openid-connect

    def match_length(self, path: str, method: str) -> int | None:
        """APISIX radixtree: an exact uri beats any prefix (`/a/*`), a longer prefix a shorter one."""
        if method not in self.methods:
            return None
        best = None
        for uri in self.uris:
            if uri == path:
                return 10_000
            if uri.endswith("*") and path.startswith(uri[:-1]) and len(path) > len(uri) - 1:
                best = max(best or 0, len(uri))
        return best


def _standalone_routes() -> list[Route]:
    config = yaml.safe_load((REPO / "gateway" / "apisix.yaml").read_text())
    return [
        Route(
            name=r["id"],
            uris=frozenset(r["uris"]),
            methods=frozenset(r["methods"]),
            hosts=frozenset(r["hosts"]),
            priority=r["priority"],
            plugins=frozenset(r["plugins"]),
            oidc_unauth_action=r["plugins"].get("openid-connect", {}).get("unauth_action", "auth")
            if "openid-connect" in r["plugins"]
            else None,
        )
        for r in config["routes"]
    ]


def _chart_routes(objects: list[dict[str, Any]]) -> list[Route]:
    routes = []
    for resource in objects:
        if resource["kind"] != "ApisixRoute":
            continue
        for r in resource["spec"]["http"]:
            plugins = {p["name"]: p for p in r["plugins"] if p.get("enable", True)}
            oidc = plugins.get("openid-connect")
            routes.append(
                Route(
                    name=r["name"],
                    uris=frozenset(r["match"]["paths"]),
                    methods=frozenset(r["match"]["methods"]),
                    hosts=frozenset(r["match"]["hosts"]),
                    priority=r["priority"],
                    plugins=frozenset(plugins),
                    oidc_unauth_action=oidc["config"].get("unauth_action", "auth") if oidc else None,
                )
            )
    return routes


def _route_for(routes: list[Route], path: str, method: str) -> Route | None:
    candidates = [
        (length, r.priority, r) for r in routes if (length := r.match_length(path, method)) is not None
    ]
    return max(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None


def _operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, item in openapi["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "an-id", template)
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                yield concrete, method.upper(), operation


def routing_problems(openapi: dict[str, Any], routes: list[Route]) -> list[str]:
    """What is wrong with how the routes serve this OpenAPI document (empty when all is right)."""
    problems = []
    global_security = openapi.get("security")
    for path, method, operation in _operations(openapi):
        route = _route_for(routes, path, method)
        if route is None:
            problems.append(f"{method} {path}: not routed")
            continue
        if path.startswith("/api/") and "/*" in route.uris:
            problems.append(f"{method} {path}: only the pages catch-all routes it ({route.name})")
        if HOST not in route.hosts:
            problems.append(f"{method} {path}: route {route.name} is not on {HOST}")
        if not route.plugins >= REQUIRED_PLUGINS:
            problems.append(f"{method} {path}: route {route.name} lacks {REQUIRED_PLUGINS - route.plugins}")
        if not {"limit-req", "limit-count"} & route.plugins:
            problems.append(f"{method} {path}: route {route.name} has no rate limit")
        # OpenAPI: an empty requirement ({}) in the list means a caller without a token is served too.
        requirements = operation.get("security", global_security) or []
        signed_in_only = bool(requirements) and {} not in requirements
        if signed_in_only and route.oidc_unauth_action not in ("deny", "auth"):
            problems.append(
                f"{method} {path}: needs a signed-in caller but {route.name} does not enforce openid-connect"
            )
        if SHOPPER_TAGS & set(operation.get("tags", [])) and route.oidc_unauth_action is None:
            problems.append(f"{method} {path}: acts for a shopper but {route.name} does not verify tokens")
    return problems


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    """The storefront's own OpenAPI document, from its app factory (nothing is started)."""
    auth = AuthSettings(issuer_url="https://keycloak.example.com/realms/folio")
    app = create_app(Settings(session_secret="x" * 32), auth)  # type: ignore[call-arg]
    document: dict[str, Any] = app.openapi()
    return document


@pytest.fixture(scope="module")
def chart_routes() -> Iterator[list[Route]]:
    chart = ChartCopy(CHART)
    try:
        yield _chart_routes(chart.render(load_values([CHART / "values.yaml"])))
    finally:
        chart.close()


def test_the_storefront_has_public_api_paths(openapi: dict[str, Any]) -> None:
    paths = set(openapi["paths"])
    assert {"/api/v1/books", "/api/v1/books/{book_id}", "/api/v1/cart", "/api/v1/orders", "/healthz"} <= paths


def test_standalone_config_routes_every_openapi_path(openapi: dict[str, Any]) -> None:
    assert routing_problems(openapi, _standalone_routes()) == []


def test_chart_routes_every_openapi_path(openapi: dict[str, Any], chart_routes: list[Route]) -> None:
    assert routing_problems(openapi, chart_routes) == []


def test_standalone_config_and_chart_route_the_same_way(chart_routes: list[Route]) -> None:
    assert sorted(_standalone_routes(), key=lambda r: r.name) == sorted(chart_routes, key=lambda r: r.name)


def test_a_secured_operation_without_enforcing_oidc_is_reported(openapi: dict[str, Any]) -> None:
    """Guard for the check itself: were the catalog list to need a signed-in caller (as catalog
    writes will), the public route that serves it must be flagged."""
    document = {
        "paths": {
            "/api/v1/books": {"post": {"tags": ["books"], "security": [{"oidc": []}]}},
            "/api/v1/cart": {"get": {"tags": ["cart"]}},
            "/api/v1/wishlist": {"get": {"tags": ["wishlist"]}},
        }
    }
    routes = _standalone_routes()
    problems = routing_problems(document, routes)
    assert any("POST /api/v1/books: only the pages catch-all" in p for p in problems)
    document["paths"]["/api/v1/books"] = {"get": {"tags": ["books"], "security": [{"oidc": []}]}}
    problems = routing_problems(document, routes)
    assert any("GET /api/v1/books: needs a signed-in caller" in p for p in problems)
    assert any("GET /api/v1/wishlist: only the pages catch-all" in p for p in problems)
    assert not any("/api/v1/cart" in p for p in problems)


def test_shopper_routes_verify_tokens_and_let_the_session_shopper_through() -> None:
    """Anonymous shoppers (signed session cookie) keep their cart; a bearer token, when sent, is checked."""
    routes = {r.name: r for r in _standalone_routes()}
    assert routes["api-shopper"].oidc_unauth_action == "pass"
    assert "limit-count" in routes["api-shopper"].plugins
    assert routes["api-catalog"].oidc_unauth_action is None
    assert "cors" in routes["api-catalog"].plugins


def test_standalone_config_has_no_secret_and_ends_as_apisix_expects() -> None:
    text = (REPO / "gateway" / "apisix.yaml").read_text()
    assert text.rstrip().endswith("#END")
    config = yaml.safe_load(text)
    (oidc,) = [r["plugins"]["openid-connect"] for r in config["routes"] if "openid-connect" in r["plugins"]]
    assert oidc["client_secret"].startswith("$env://")
    assert oidc["bearer_only"] is True
    assert oidc["use_jwks"] is True
