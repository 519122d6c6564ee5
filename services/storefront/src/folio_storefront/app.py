"""The storefront application factory and entry point. Nothing is built at import."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from folio_platform.auth import AuthSettings, ServiceTokens, TokenVerifier
from folio_platform.center import CenterSettings, open_center
from folio_platform.deadlines import deadline_scope
from folio_platform.discovery import Discovery, StaticDiscovery
from folio_platform.errors import Unauthenticated
from folio_platform.heap import settle_heap
from folio_platform.http_telemetry import HttpServerTelemetry
from folio_platform.logging import configure_logging
from folio_platform.registry import ServiceChannel
from folio_platform.settings import load_settings
from folio_platform.telemetry import Telemetry, configure_telemetry
from folio_storefront import (
    admin_pages,
    api,
    assistant_routes,
    commerce_api,
    commerce_pages,
    health,
    pages,
    signin,
)
from folio_storefront.assistant_client import ASSISTANT, ASSISTANT_IDEMPOTENT_METHODS, AssistantClient
from folio_storefront.cart_client import CART, CART_IDEMPOTENT_METHODS, CartClient
from folio_storefront.catalog_client import CATALOG, CATALOG_SERVICE, CatalogClient
from folio_storefront.drills import MemoryLeakDrill
from folio_storefront.errors import install_error_handlers
from folio_storefront.headers import SecurityHeaders, add_docs_pages, shop_policy
from folio_storefront.inputs import refuse_control_characters
from folio_storefront.orders_client import ORDERS, ORDERS_SERVICE, OrdersClient
from folio_storefront.session_store import (
    Expiry,
    RedisSessionStore,
    SessionStore,
    SessionStoreUnavailable,
    SqliteSessionStore,
)
from folio_storefront.sessions import ServerSessions, Sessions
from folio_storefront.settings import Settings
from folio_storefront.shopper import SignIn

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 600.0


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


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is refused with 413 before it is buffered.

    A declared Content-Length is checked up front. A chunked body is counted as it arrives and
    cut off at the limit; whatever the app then answers is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            # Neither header: the request has no body (RFC 9112, 6.3), so there is nothing to count.
            await self.app(scope, receive, send)
            return
        declared = declared or b"0"
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        over = False

        async def counting_receive() -> Message:
            nonlocal received, over
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                over = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._refuse(send)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": {"code": "too_large", "message": f"the request body is over {self.max_bytes} bytes"}}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _money(minor_units: int) -> str:
    return f"${minor_units / 100:.2f}"


def _without_422(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document minus FastAPI's default 422: invalid input is answered 400 (errors.py).

    The bearer token is optional wherever it is declared (`{}`): the browser session acts without one.
    """
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
                if operation.get("security") and {} not in operation["security"]:
                    operation["security"].append({})
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
    return app.openapi_schema  # type: ignore[return-value]


def _sign_in(auth: AuthSettings) -> SignIn:
    """Identity for the storefront: verify tokens, get its own, and sign people in (OIDC + PKCE)."""
    from authlib.integrations.starlette_client import OAuth

    if not auth.client_id or auth.client_secret is None:
        raise SystemExit("invalid settings: FOLIO_AUTH_CLIENT_ID and FOLIO_AUTH_CLIENT_SECRET are required")
    oauth = OAuth()
    client = oauth.register(
        "folio",
        client_id=auth.client_id,
        client_secret=auth.client_secret.get_secret_value(),
        server_metadata_url=f"{auth.metadata_base}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    return SignIn(
        verifier=TokenVerifier.from_settings(auth),
        service_tokens=ServiceTokens.from_settings(auth),
        oauth_client=client,
        issuer=auth.issuer_url.rstrip("/"),
    )


async def open_session_store(settings: Settings) -> SessionStore:
    """Redis when FOLIO_STOREFRONT_REDIS_URL is set, else a SQLite file in the data dir."""
    expiry = Expiry(settings.session_idle_seconds, settings.session_absolute_seconds)
    if settings.redis_url:
        return RedisSessionStore(settings.redis_url, expiry)
    url = f"sqlite:///{(settings.data_dir / 'storefront-sessions.db').resolve()}"
    return await asyncio.to_thread(SqliteSessionStore, url, expiry)


async def _prune_sessions(store: SessionStore, every_seconds: float) -> None:
    while True:
        try:
            pruned = await store.prune()
            if pruned:
                log.info("expired sessions pruned", extra={"sessions": pruned})
        except SessionStoreUnavailable as error:
            log.warning("session store unavailable for pruning", extra={"error": str(error)})
        await asyncio.sleep(every_seconds)


async def _warm(app: FastAPI, *, owns_process: bool) -> None:
    """What the first shoppers would otherwise wait for, done beside the start (readiness does not
    wait for it): the issuer's keys, the storefront's own token (every guest's cart and orders
    are called with it) and the OpenAPI document, built on its first request (a few hundred ms
    each on a busy machine, all of it on the first cart call); then, in a process of its own, the
    heap is settled (`folio_platform.heap`: start-up objects leave the collector's walk)."""
    sign_in: SignIn = app.state.sign_in
    await sign_in.verifier.warm()
    try:
        await sign_in.service_tokens.token()
    except Unauthenticated as error:
        log.warning("no service token yet: the first guest call asks again", extra={"error": error.message})
    await asyncio.to_thread(app.openapi)
    if owns_process:
        settle_heap()


def create_app(
    settings: Settings,
    auth: AuthSettings,
    *,
    discovery: Discovery | None = None,
    telemetry: Telemetry | None = None,
    center_settings: CenterSettings | None = None,
    owns_process: bool = False,
) -> FastAPI:
    """Build the storefront; backends, identity, config center and registry are connected in the
    lifespan, not here. `discovery` is the static fallback when a registry knows no instance;
    `owns_process`: the app is its process's main (see `_warm`)."""
    static = discovery or StaticDiscovery(settings.service_addresses)
    telemetry = telemetry or Telemetry(enabled=False)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["money"] = _money
    # The store is opened in the lifespan; the middleware reaches it through `sessions`.
    sessions = Sessions(
        Expiry(settings.session_idle_seconds, settings.session_absolute_seconds),
        settings.session_secret.get_secret_value(),
        cookie_secure=settings.cookie_secure,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_center("storefront", center_settings or CenterSettings()) as center:
            app.state.live_config = center.config
            discovery = await center.discovery(static, [CATALOG, CART, ORDERS, ASSISTANT])

            def channel(service: str, idempotent: list[str]) -> grpc.aio.Channel:
                return ServiceChannel(
                    discovery,
                    service,
                    idempotent_services=idempotent,
                    retries=settings.client_retries,
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
            app.state.orders = OrdersClient(
                channels[ORDERS], checkout_timeout=settings.checkout_timeout_seconds
            )
            # The assistant is optional: without an address its routes answer 503 and the shop runs on.
            if ASSISTANT in settings.service_addresses:
                channels[ASSISTANT] = channel(ASSISTANT, ASSISTANT_IDEMPOTENT_METHODS)
            app.state.assistant = (
                AssistantClient(channels[ASSISTANT], ask_timeout=settings.ask_timeout_seconds)
                if ASSISTANT in channels
                else None
            )
            app.state.templates = templates
            app.state.sign_in = _sign_in(auth)
            sessions.open(await open_session_store(settings))
            app.state.sessions = sessions
            pruning = asyncio.create_task(_prune_sessions(sessions.store, PRUNE_EVERY_SECONDS))
            warming = asyncio.create_task(_warm(app, owns_process=owns_process))
            app.state.public_url = settings.public_url.rstrip("/")
            instance = center.instance(settings.host, settings.port)
            await center.register(instance)
            try:
                yield
            finally:
                await center.deregister(instance)
                pruning.cancel()
                warming.cancel()
                await sessions.store.close()
                await app.state.sign_in.verifier.close()
                await app.state.sign_in.service_tokens.close()
                for open_channel in channels.values():
                    await open_channel.close(grace=settings.shutdown_grace_seconds)

    app = FastAPI(
        title="Folio storefront API",
        version="1.0.0",
        summary="Browse and search Folio's catalog of public-domain books.",
        description="Catalog routes are public and read-only. Cart and order routes act for the caller: "
        "a bearer access token from the identity provider (Keycloak), or the browser session (signed-in "
        "person or guest). Errors share one shape: "
        '`{"error": {"code", "message", "field"?, "dependency"?}}`.',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_control_characters)],
        # FastAPI's own OpenTelemetry stays off: the standard instrumentation below traces and
        # measures when telemetry is on, and FastAPI's per-request look at the global providers read
        # os.environ twice a request (a sixth of a catalog read's Python time at the edge).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.add_middleware(RequestDeadline, seconds=settings.request_timeout_seconds)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MemoryLeakDrill)
    app.add_middleware(ServerSessions, sessions=sessions)
    install_error_handlers(app, templates)
    add_docs_pages(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(commerce_api.router)
    app.include_router(pages.router)
    app.include_router(commerce_pages.router)
    app.include_router(assistant_routes.router)
    app.include_router(signin.router)
    app.include_router(admin_pages.router)

    @app.exception_handler(admin_pages.SignInFirst)
    async def sign_in_first(request: Request, _: Exception) -> Response:
        return RedirectResponse(f"/signin?next={request.url.path}", 303)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.openapi = lambda: _without_422(app)  # type: ignore[method-assign]
    # Outside Starlette's outermost middleware (ServerErrorMiddleware), so a 500 carries them too.
    build_stack = app.build_middleware_stack
    policy = shop_policy(auth.issuer_url)

    def middleware_stack() -> ASGIApp:
        inner = build_stack()
        if telemetry.enabled:
            # One server span per request and the RED histogram, around everything the app does.
            inner = HttpServerTelemetry(
                inner,
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
                excluded_paths=("/healthz", "/readyz", "/static/"),
            )
        return SecurityHeaders(inner, policy)

    app.build_middleware_stack = middleware_stack  # type: ignore[method-assign]
    return app


def main() -> None:
    settings = load_settings(Settings)
    auth = load_settings(AuthSettings)
    configure_logging("storefront", level=settings.log_level, fmt=settings.log_format)
    center_settings = load_settings(CenterSettings)
    telemetry = configure_telemetry(
        "storefront", metrics_port=settings.metrics_port, metrics_host=settings.host
    )
    try:
        uvicorn.run(
            create_app(
                settings, auth, telemetry=telemetry, center_settings=center_settings, owns_process=True
            ),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            # Named, not left to "auto": a missing one would otherwise fall back silently to the
            # pure-Python loop and parser, several times the CPU per request.
            loop="uvloop",
            http="httptools",
        )
    finally:
        telemetry.shutdown()
