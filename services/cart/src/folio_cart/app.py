"""Wiring: settings -> cart store (Redis or SQLite) -> gRPC server. Nothing happens at import."""

import contextlib
from collections.abc import AsyncIterator

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio_cart.drills import OutageDrillStore
from folio_cart.servicer import ACCESS, CartServicer
from folio_cart.settings import Settings
from folio_cart.store import CartStore, Limits, RedisCartStore, SqliteCartStore
from folio_cart.tables import MIGRATIONS
from folio_platform.auth import AuthSettings
from folio_platform.center import CenterSettings, open_center
from folio_platform.database import open_database
from folio_platform.grpc_server import run_service, serve_grpc
from folio_platform.settings import load_settings
from folio_platform.telemetry import configure_telemetry

SERVICE_NAME = cart_pb2.DESCRIPTOR.services_by_name["CartService"].full_name


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[CartStore]:
    """Redis when FOLIO_CART_REDIS_URL is set, else the SQLite file in the data dir; closed on exit."""
    limits = Limits(max_quantity=settings.max_quantity, max_lines=settings.max_lines)
    if settings.redis_url:
        store = RedisCartStore(settings.redis_url, limits, ttl_seconds=settings.ttl_days * 86400)
        try:
            yield store
        finally:
            await store.close()
        return
    async with open_database(settings.sqlite_url("cart.db"), MIGRATIONS, workers=4, name="cart-db") as db:
        yield SqliteCartStore(db, limits)


async def serve(settings: Settings, auth: AuthSettings) -> None:
    """Run the cart until SIGTERM/SIGINT."""
    telemetry = configure_telemetry("cart", metrics_port=settings.metrics_port, metrics_host=settings.host)
    try:
        async with (
            open_store(settings) as store,
            open_center("cart", load_settings(CenterSettings)) as center,
        ):
            servicer = CartServicer(
                OutageDrillStore(store, lambda: center.config.current.flags.cart.store_outage)
            )
            await serve_grpc(
                settings,
                register=lambda s: cart_pb2_grpc.add_CartServiceServicer_to_server(servicer, s),
                service_names=[SERVICE_NAME],
                telemetry=telemetry,
                auth_settings=auth,
                access=ACCESS,
                center=center,
            )
    finally:
        telemetry.shutdown()


def main() -> None:
    run_service("cart", Settings, serve)
