"""The storefront application factory and entry point. Nothing is built at import."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from folio_platform.deadlines import deadline_scope
from folio_platform.discovery import Discovery, StaticDiscovery
from folio_platform.grpc_client import create_channel
from folio_platform.logging import configure_logging
from folio_platform.settings import load_settings
from folio_platform.telemetry import Telemetry, configure_telemetry
from folio_storefront import api, assistant_routes, commerce_api, commerce_pages, health, pages
from folio_storefront.assistant_client import ASSISTANT, ASSISTANT_IDEMPOTENT_METHODS, AssistantClient
from folio_storefront.cart_client import CART, CART_IDEMPOTENT_METHODS, CartClient
from folio_storefront.catalog_client import CATALOG, CATALOG_SERVICE, CatalogClient
from folio_storefront.errors import install_error_handlers
from folio_storefront.orders_client import ORDERS, ORDERS_SERVICE, OrdersClient
from folio_storefront.settings import Settings

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


class RequestDeadline:
    """ASGI middleware: each request's backend calls share one time budget."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with deadline_scope(self.seconds):
            await self.app(scope, receive, send)


def _money(minor_units: int) -> str:
    return f"${minor_units / 100:.2f}"


def _without_422(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document minus FastAPI's default 422: invalid input is answered 400 (errors.py)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
    return app.openapi_schema  # type: ignore[return-value]


def create_app(
    settings: Settings, *, discovery: Discovery | None = None, telemetry: Telemetry | None = None
) -> FastAPI:
    """Build the storefront; backends are connected in the lifespan, not here."""
    discovery = discovery or StaticDiscovery(settings.service_addresses)
    telemetry = telemetry or Telemetry(enabled=False)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["money"] = _money

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def channel(service: str, idempotent: list[str]) -> grpc.aio.Channel:
            return create_channel(
                discovery.resolve(service),
                idempotent_services=idempotent,
                default_timeout=settings.backend_timeout_seconds,
                telemetry=telemetry,
            )

        channels = {
            CATALOG: channel(CATALOG, [CATALOG_SERVICE]),
            CART: channel(CART, CART_IDEMPOTENT_METHODS),
            # PlaceOrder is made safe to repeat by its idempotency key, and reads are reads.
            ORDERS: channel(ORDERS, [ORDERS_SERVICE]),
        }
        app.state.catalog = CatalogClient(channels[CATALOG])
        app.state.cart = CartClient(channels[CART])
        app.state.orders = OrdersClient(channels[ORDERS], checkout_timeout=settings.checkout_timeout_seconds)
        # The assistant is optional: without an address its routes answer 503 and the shop runs on.
        if ASSISTANT in settings.service_addresses:
            channels[ASSISTANT] = channel(ASSISTANT, ASSISTANT_IDEMPOTENT_METHODS)
        app.state.assistant = (
            AssistantClient(channels[ASSISTANT], ask_timeout=settings.ask_timeout_seconds)
            if ASSISTANT in channels
            else None
        )
        app.state.templates = templates
        try:
            yield
        finally:
            for open_channel in channels.values():
                await open_channel.close(grace=settings.shutdown_grace_seconds)

    app = FastAPI(
        title="Folio storefront API",
        version="1.0.0",
        summary="Browse and search Folio's catalog of public-domain books.",
        description="Every route is public (anonymous, read-only). Errors share one shape: "
        '`{"error": {"code", "message", "field"?, "dependency"?}}`.',
        lifespan=lifespan,
    )
    app.add_middleware(RequestDeadline, seconds=settings.request_timeout_seconds)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie="folio_session",
        max_age=30 * 24 * 3600,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    install_error_handlers(app, templates)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(commerce_api.router)
    app.include_router(pages.router)
    app.include_router(commerce_pages.router)
    app.include_router(assistant_routes.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.openapi = lambda: _without_422(app)  # type: ignore[method-assign]
    if telemetry.enabled:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,static")
    return app


def main() -> None:
    settings = load_settings(Settings)
    configure_logging("storefront", level=settings.log_level, fmt=settings.log_format)
    telemetry = configure_telemetry("storefront")
    try:
        uvicorn.run(
            create_app(settings, telemetry=telemetry),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    finally:
        telemetry.shutdown()
