"""The cart as the platform runs it: a cart store (Redis or SQLite) behind the CartService."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio_cart.drills import OutageDrillStore
from folio_cart.servicer import ACCESS, CartServicer
from folio_cart.settings import Settings
from folio_cart.store import CartStore, Limits, RedisCartStore, SqliteCartStore
from folio_cart.tables import MIGRATIONS
from folio_platform.database import open_database
from folio_platform.service import Runtime, Servicer, ServiceSpec, Serving, run_service

SERVICE_NAME = cart_pb2.DESCRIPTOR.services_by_name["CartService"].full_name


@asynccontextmanager
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


@asynccontextmanager
async def resources(runtime: Runtime[Settings]) -> AsyncIterator[Serving]:
    """The cart store, behind its outage drill, and the servicer over it."""
    config = runtime.center.config
    async with open_store(runtime.settings) as store:
        servicer = CartServicer(OutageDrillStore(store, lambda: config.current.flags.cart.store_outage))
        yield Serving(
            servicers=[
                Servicer(SERVICE_NAME, lambda s: cart_pb2_grpc.add_CartServiceServicer_to_server(servicer, s))
            ]
        )


def spec() -> ServiceSpec[Settings]:
    return ServiceSpec(name="cart", settings=Settings, access=ACCESS, resources=resources)


def main() -> None:
    run_service(spec())
