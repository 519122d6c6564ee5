"""The orders service as the platform runs it: its store, channels to the services checkout calls,
the checkout saga and its recovery loop."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_orders.recovery import Backoff, recover_forever
from folio_orders.saga import Backends, Checkout
from folio_orders.servicer import ACCESS, OrdersServicer
from folio_orders.settings import Settings
from folio_orders.store import SqlOrderStore
from folio_orders.tables import MIGRATIONS
from folio_platform.auth import ServiceTokens, TokenSource
from folio_platform.database import open_database
from folio_platform.discovery import Discovery, StaticDiscovery
from folio_platform.grpc_client import idempotent_methods
from folio_platform.registry import ServiceChannel
from folio_platform.service import Runtime, Servicer, ServiceSpec, Serving, run_service
from folio_platform.telemetry import Telemetry

SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name
# Retried on UNAVAILABLE only where the proto marks a method safe to repeat (idempotency_level):
# stock calls by reservation id, Refund and GetPayment by key, cart reads and removals. Never
# Charge: a charge that got no answer is looked up with GetPayment, not sent again.
IDEMPOTENT = {
    "catalog": idempotent_methods(catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]),
    "cart": idempotent_methods(cart_pb2.DESCRIPTOR.services_by_name["CartService"]),
    "payment": idempotent_methods(payment_pb2.DESCRIPTOR.services_by_name["PaymentService"]),
}


def connect_backends(
    settings: Settings, telemetry: Telemetry, token_source: TokenSource, discovery: Discovery | None = None
) -> tuple[Backends, list[grpc.aio.Channel]]:
    """Stubs for cart, catalog and payment (and their channels, for the caller to close).

    Orders calls them as itself (its service account's token), whoever the shopper is; each
    channel follows the instances `discovery` finds (default: the static addresses).
    """
    discovery = discovery or StaticDiscovery(settings.service_addresses)
    channels: dict[str, grpc.aio.Channel] = {
        name: ServiceChannel(
            discovery,
            name,
            idempotent_services=methods,
            retries=settings.client_retries,
            default_timeout=settings.charge_timeout_seconds
            if name == "payment"
            else settings.call_timeout_seconds,
            telemetry=telemetry,
            token_source=token_source,
        )
        for name, methods in IDEMPOTENT.items()
    }
    backends = Backends(
        cart=cart_pb2_grpc.CartServiceStub(channels["cart"]),
        catalog=catalog_pb2_grpc.CatalogServiceStub(channels["catalog"]),
        payment=payment_pb2_grpc.PaymentServiceStub(channels["payment"]),
        call_timeout=settings.call_timeout_seconds,
        charge_timeout=settings.charge_timeout_seconds,
    )
    return backends, list(channels.values())


@asynccontextmanager
async def resources(runtime: Runtime[Settings]) -> AsyncIterator[Serving]:
    """The orders database, channels to cart, catalog and payment, the saga over them and its
    recovery loop (stopped before the channels close)."""
    settings, center = runtime.settings, runtime.center
    async with (
        open_database(settings.resolved_database_url(), MIGRATIONS, name="orders-db", durable=True) as db,
        ServiceTokens.from_settings(runtime.auth) as tokens,
    ):
        store = SqlOrderStore(db)
        discovery = await center.discovery(StaticDiscovery(settings.service_addresses), list(IDEMPOTENT))
        backends, channels = connect_backends(settings, runtime.telemetry, tokens.token, discovery)
        checkout = Checkout(store, backends)
        recovery = asyncio.create_task(
            recover_forever(
                checkout,
                interval=settings.recovery_interval_seconds,
                older_than=settings.recovery_after_seconds,
                limit=settings.recovery_batch,
                backoff=Backoff(
                    first=settings.recovery_interval_seconds, cap=settings.recovery_max_backoff_seconds
                ),
            )
        )
        servicer = OrdersServicer(store, checkout)
        try:
            yield Serving(
                servicers=[
                    Servicer(
                        SERVICE_NAME,
                        lambda s: orders_pb2_grpc.add_OrdersServiceServicer_to_server(servicer, s),
                    )
                ]
            )
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery
            for channel in channels:
                await channel.close(grace=None)


def spec() -> ServiceSpec[Settings]:
    return ServiceSpec(name="orders", settings=Settings, access=ACCESS, resources=resources)


def main() -> None:
    run_service(spec())
