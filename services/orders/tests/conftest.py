"""The orders service against test doubles of cart, catalog and payment (doubles.py), served over
real gRPC, and wired to them exactly as in production (`connect_backends`: retries, deadlines).
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_orders.app import connect_backends
from folio_orders.reconcile import reconcile
from folio_orders.saga import Checkout
from folio_orders.servicer import ACCESS, OrdersServicer
from folio_orders.settings import Settings
from folio_orders.store import SqlOrderStore
from folio_orders.tables import MIGRATIONS
from folio_platform.auth import ServiceTokens
from folio_platform.database import Database
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.data import (
    EMAIL,
    GOOD_CARD_NUMBER,
    address_message,
    card_message,
)
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import PostgresServer

from .doubles import FakeCart, FakeCatalog, FakePayment, FakeServer

# No test waits for a plain call's deadline: far above any answer on a loaded machine.
CALL_TIMEOUT = 10.0
# The tests about a charge that times out wait this long: short, but well above an answer's time
# on a loaded machine (GetPayment and Refund share it).
CHARGE_TIMEOUT = 3.0
# What the tests' own calls to the orders service wait: a checkout may sit out a charge's timeout.
CLIENT_TIMEOUT = 30.0


def place_request(
    *, shopper: str = "anon-ada", key: str | None = None, number: str = GOOD_CARD_NUMBER
) -> orders_pb2.PlaceOrderRequest:
    return orders_pb2.PlaceOrderRequest(
        shopper_id=shopper,
        idempotency_key=key or uuid.uuid4().hex,
        email=EMAIL,
        card=card_message(number),
        shipping_address=address_message(),
    )


@dataclass
class World:
    """The orders service, its store and saga, and the three doubles it talks to."""

    url: str
    stub: orders_pb2_grpc.OrdersServiceStub
    store: SqlOrderStore
    checkout: Checkout
    cart: FakeCart
    catalog: FakeCatalog
    payment: FakePayment
    servers: dict[str, FakeServer]
    settings: Settings
    tokens: ServiceTokens
    operator: orders_pb2_grpc.OrdersServiceStub
    issuer: TestIssuer
    orders_port: int
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    request = staticmethod(place_request)

    async def restarted(self, store_wrapper: Callable[[SqlOrderStore], Any] = lambda s: s) -> Checkout:
        """A new process's saga over the same database (no memory of the old one)."""
        database = Database.connect(self.url)
        store = SqlOrderStore(database)
        backends, channels = connect_backends(self.settings, Telemetry(enabled=False), self.tokens.token)

        async def close() -> None:
            for channel in channels:
                await channel.close()
            database.close()

        self.closers.append(close)
        return Checkout(store_wrapper(store), backends)

    def channel_as(self, token: str | None) -> grpc.aio.Channel:
        """A channel to the orders service presenting `token` (the caller closes it)."""
        channel = self.issuer.channel(self.orders_port, token, default_timeout=CLIENT_TIMEOUT)
        self.closers.append(lambda: channel.close())
        return channel

    async def all_orders(self) -> list[orders_pb2.Order]:
        return list(
            (await self.operator.ListAllOrders(orders_pb2.ListAllOrdersRequest(page_size=100))).orders
        )

    async def assert_consistent(self) -> None:
        """Every terminal state is CONFIRMED with one charge or FAILED with none kept; no stock held."""
        orders = await self.all_orders()
        report = reconcile(orders, list(self.payment.payments.values()))
        assert report.ok, report.summary()
        pending = [o.id for o in orders if o.status == orders_pb2.ORDER_STATUS_PENDING]
        assert pending == [], f"orders left pending: {pending}"
        assert self.catalog.held() == [], f"stock still held by {self.catalog.held()}"
        for order in orders:
            state = self.catalog.reservations.get(order.id, ("none", {}))[0]
            if order.status == orders_pb2.ORDER_STATUS_CONFIRMED:
                assert state == "committed", f"{order.id} is confirmed but its stock is {state}"
            else:
                assert state in ("none", "released"), f"{order.id} failed but its stock is {state}"


CONFIRMED, FAILED, PENDING = (
    orders_pb2.ORDER_STATUS_CONFIRMED,
    orders_pb2.ORDER_STATUS_FAILED,
    orders_pb2.ORDER_STATUS_PENDING,
)
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


async def fails(call: object) -> grpc.aio.AioRpcError:
    """The error a call ends with (the test fails if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def only_order(world: World) -> orders_pb2.Order:
    [order] = await world.all_orders()
    return order


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'orders.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh orders database on each backend the store supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orders.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlOrderStore]:
    with Database.open(database_url, MIGRATIONS) as database:
        yield SqlOrderStore(database)


def _service(module: Any, name: str) -> Any:
    return module.DESCRIPTOR.services_by_name[name]


async def _world(url: str, tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[World]:
    cart, catalog, payment = FakeCart(), FakeCatalog(), FakePayment()
    servers = {
        "cart": FakeServer(
            lambda s: cart_pb2_grpc.add_CartServiceServicer_to_server(cart, s),
            _service(cart_pb2, "CartService"),
            issuer,
        ),
        "catalog": FakeServer(
            lambda s: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(catalog, s),
            _service(catalog_pb2, "CatalogService"),
            issuer,
        ),
        "payment": FakeServer(
            lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(payment, s),
            _service(payment_pb2, "PaymentService"),
            issuer,
        ),
    }
    for server in servers.values():
        await server.start()
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        service_addresses={name: server.address for name, server in servers.items()},
        call_timeout_seconds=CALL_TIMEOUT,
        charge_timeout_seconds=CHARGE_TIMEOUT,
    )
    database = Database.open(url, MIGRATIONS)
    store = SqlOrderStore(database)
    tokens = ServiceTokens(
        issuer=issuer.url, client_id="folio-orders", client_secret=issuer.clients["folio-orders"]
    )
    backends, channels = connect_backends(settings, Telemetry(enabled=False), tokens.token)
    checkout = Checkout(store, backends)
    servicer = OrdersServicer(store, checkout)
    orders_server = GrpcServer(
        register=lambda s: orders_pb2_grpc.add_OrdersServiceServicer_to_server(servicer, s),
        service_names=["folio.orders.v1.OrdersService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth(ACCESS),
        grace_seconds=0,
    )
    await orders_server.start()
    # The storefront's view: guests' orders through its service account; orders' own token for ListAllOrders.
    orders_channel = issuer.channel(
        orders_server.port, issuer.service_token("folio-storefront"), default_timeout=CLIENT_TIMEOUT
    )
    operator_channel = issuer.channel(
        orders_server.port, issuer.service_token("folio-orders"), default_timeout=CLIENT_TIMEOUT
    )
    world = World(
        url=url,
        stub=orders_pb2_grpc.OrdersServiceStub(orders_channel),
        store=store,
        checkout=checkout,
        cart=cart,
        catalog=catalog,
        payment=payment,
        servers=servers,
        settings=settings,
        tokens=tokens,
        operator=orders_pb2_grpc.OrdersServiceStub(operator_channel),
        issuer=issuer,
        orders_port=orders_server.port,
    )
    yield world
    for close in world.closers:
        await close()
    await orders_channel.close()
    await operator_channel.close()
    await orders_server.stop()
    await tokens.close()
    for channel in channels:
        await channel.close()
    for server in servers.values():
        await server.stop()
    database.close()


@pytest.fixture
async def world(sqlite_url: str, tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[World]:
    """The service on SQLite (the saga's logic does not depend on the database)."""
    async for world in _world(sqlite_url, tmp_path, issuer):
        yield world


@pytest.fixture
async def any_db_world(database_url: str, tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[World]:
    """The service on SQLite and on PostgreSQL, for the behaviour that leans on the database."""
    async for world in _world(database_url, tmp_path, issuer):
        yield world
