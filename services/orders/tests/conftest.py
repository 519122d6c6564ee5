"""The orders service against test doubles of cart, catalog and payment, served over real gRPC.

Each double (FakeCart, FakeCatalog, FakePayment) runs on its own in-process gRPC server, keeps
just enough state to check the saga's end states, and has switches: answer a method with an
error before doing anything (`fail`), do the work and then lose the reply (`fail_after`), be
slow before or after the work (`delay_before`, `delay_after`: a timeout for a caller that waits
less), hold a call until the test lets it go (`gate`), or be unreachable altogether (`await world.servers[...].stop()`). The orders service is
wired to them exactly as in production (`connect_backends`: retries, deadlines).
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.common.v1 import money_pb2
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_orders.app import connect_backends
from folio_orders.reconcile import reconcile
from folio_orders.saga import Checkout
from folio_orders.servicer import ACCESS, OrdersServicer
from folio_orders.settings import Settings
from folio_orders.store import SqlOrderStore
from folio_orders.tables import MIGRATIONS
from folio_platform.auth import ServiceTokens, rules_for, services_only
from folio_platform.database import Database
from folio_platform.errors import InvalidArgument, to_status
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.data import (
    BAD_LUHN_CARD_NUMBER,
    DECLINED_CARD_NUMBER,
    EMAIL,
    GOOD_CARD_NUMBER,
    address_message,
    card_message,
)
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import PostgresServer

# No test waits for a plain call's deadline: far above any answer on a loaded machine.
CALL_TIMEOUT = 10.0
# The tests about a charge that times out wait this long: short, but well above an answer's time
# on a loaded machine (GetPayment and Refund share it).
CHARGE_TIMEOUT = 3.0
# What the tests' own calls to the orders service wait: a checkout may sit out a charge's timeout.
CLIENT_TIMEOUT = 30.0


class _Switchboard:
    """Per-method switches and call counts shared by the three doubles."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, grpc.StatusCode] = {}
        self.fail_after: dict[str, grpc.StatusCode] = {}
        self.delay_before: dict[str, float] = {}
        self.delay_after: dict[str, float] = {}
        self.gate: dict[str, asyncio.Event] = {}
        self._started: dict[str, asyncio.Event] = {}

    def started(self, method: str) -> asyncio.Event:
        """Set once `method` has been called."""
        return self._started.setdefault(method, asyncio.Event())

    async def _before(self, method: str, context: Any) -> None:
        self.calls[method] += 1
        self.started(method).set()
        if method in self.gate:
            await self.gate[method].wait()
        if method in self.delay_before:
            await asyncio.sleep(self.delay_before[method])
        if method in self.fail:
            await context.abort(self.fail[method], f"{method} failed on purpose")

    async def _after(self, method: str, context: Any) -> None:
        if method in self.delay_after:
            await asyncio.sleep(self.delay_after[method])
        if method in self.fail_after:
            await context.abort(self.fail_after[method], f"{method} reply lost on purpose")


class FakeCart(_Switchboard, cart_pb2_grpc.CartServiceServicer):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, dict[str, int]] = {}

    async def GetCart(self, request, context):  # type: ignore[no-untyped-def]
        await self._before("GetCart", context)
        lines = self.items.get(request.shopper_id, {})
        cart = cart_pb2.Cart(
            shopper_id=request.shopper_id,
            items=[cart_pb2.CartItem(book_id=b, quantity=q) for b, q in lines.items()],
        )
        await self._after("GetCart", context)
        return cart

    async def RemoveItem(self, request, context):  # type: ignore[no-untyped-def]
        await self._before("RemoveItem", context)
        lines = self.items.get(request.shopper_id, {})
        lines.pop(request.book_id, None)
        if not lines:
            self.items.pop(request.shopper_id, None)
        await self._after("RemoveItem", context)
        return cart_pb2.Cart(shopper_id=request.shopper_id)



# The catalog's prices (the cart has none): what an order must charge.
PRICES = {"moby-dick": 1250, "dracula": 899, "emma": 1500}
TITLES = {"moby-dick": "Moby-Dick", "dracula": "Dracula", "emma": "Emma"}


class FakeCatalog(_Switchboard, catalog_pb2_grpc.CatalogServiceServicer):
    """Stock with reservations that are all-or-nothing and idempotent by id, as the proto says."""

    def __init__(self) -> None:
        super().__init__()
        self.stock: dict[str, int] = {"moby-dick": 5, "dracula": 1, "emma": 3}
        self.reservations: dict[str, tuple[str, dict[str, int]]] = {}

    def held(self) -> list[str]:
        return [r for r, (state, _) in self.reservations.items() if state == "held"]

    async def ReserveStock(self, request, context):  # type: ignore[no-untyped-def]
        await self._before("ReserveStock", context)
        wanted = {line.book_id: line.quantity for line in request.lines}
        if request.reservation_id in self.reservations:
            if self.reservations[request.reservation_id][1] != wanted:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "reservation holds other books")
        else:
            for book, quantity in wanted.items():
                if book not in self.stock:
                    await context.abort(grpc.StatusCode.NOT_FOUND, f"no book with id {book!r}")
                if self.stock[book] < quantity:
                    await context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"not enough stock: only {self.stock[book]} copies of {TITLES[book]} left",
                    )
            for book, quantity in wanted.items():
                self.stock[book] -= quantity
            self.reservations[request.reservation_id] = ("held", wanted)
        await self._after("ReserveStock", context)
        return self._message(request.reservation_id)

    async def ReleaseStock(self, request, context):  # type: ignore[no-untyped-def]
        await self._before("ReleaseStock", context)
        state, lines = self.reservations.get(request.reservation_id, ("unknown", {}))
        if state == "held":
            for book, quantity in lines.items():
                self.stock[book] += quantity
            self.reservations[request.reservation_id] = ("released", lines)
        await self._after("ReleaseStock", context)
        return self._message(request.reservation_id)

    async def CommitStock(self, request, context):  # type: ignore[no-untyped-def]
        await self._before("CommitStock", context)
        state, lines = self.reservations.get(request.reservation_id, ("unknown", {}))
        if state == "unknown":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such reservation")
        if state == "released":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the reservation was released")
        self.reservations[request.reservation_id] = ("committed", lines)
        await self._after("CommitStock", context)
        return self._message(request.reservation_id)

    def _message(self, reservation_id: str) -> catalog_pb2.Reservation:
        state, lines = self.reservations.get(reservation_id, ("released", {}))
        states = {"held": 1, "released": 2, "committed": 3}
        return catalog_pb2.Reservation(
            reservation_id=reservation_id,
            state=states[state],  # type: ignore[arg-type]
            lines=[
                catalog_pb2.ReservedLine(
                    book_id=b,
                    title=TITLES[b],
                    quantity=q,
                    unit_price=money_pb2.Money(currency_code="USD", minor_units=PRICES[b]),
                )
                for b, q in lines.items()
            ],
        )


class FakePayment(_Switchboard, payment_pb2_grpc.PaymentServiceServicer):
    """Charges idempotent by key; the declined test card declines, a bad Luhn number is INVALID_ARGUMENT."""

    def __init__(self) -> None:
        super().__init__()
        self.payments: dict[str, payment_pb2.Payment] = {}
        self.refund_keys: set[str] = set()
        # Set once a Charge has left the handler: answered, refused, or cancelled by its deadline.
        self.charge_ended = asyncio.Event()

    def charges(self) -> list[payment_pb2.Payment]:
        """Payments where money was taken (kept or refunded)."""
        taken = (payment_pb2.PAYMENT_STATUS_SUCCEEDED, payment_pb2.PAYMENT_STATUS_REFUNDED)
        return [p for p in self.payments.values() if p.status in taken]

    async def Charge(self, request, context):  # type: ignore[no-untyped-def]
        try:
            await self._before("Charge", context)
            if request.card.number == BAD_LUHN_CARD_NUMBER:
                await context.abort_with_status(
                    to_status(
                        InvalidArgument("card.number", "is not a valid card number; check it for a typo")
                    )
                )
            if request.idempotency_key not in self.payments:
                declined = request.card.number == DECLINED_CARD_NUMBER
                self.payments[request.idempotency_key] = payment_pb2.Payment(
                    id=f"pay_{uuid.uuid4().hex[:8]}",
                    idempotency_key=request.idempotency_key,
                    status=payment_pb2.PAYMENT_STATUS_DECLINED
                    if declined
                    else payment_pb2.PAYMENT_STATUS_SUCCEEDED,
                    amount=request.amount,
                    reference=request.reference,
                    decline_message="Your card was declined." if declined else "",
                )
            await self._after("Charge", context)
            return self.payments[request.idempotency_key]
        finally:
            self.charge_ended.set()

    async def GetPayment(self, request, context):  # type: ignore[no-untyped-def]
        await self._before("GetPayment", context)
        if request.idempotency_key not in self.payments:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no payment")
        await self._after("GetPayment", context)
        return self.payments[request.idempotency_key]

    async def Refund(self, request, context):  # type: ignore[no-untyped-def]
        await self._before("Refund", context)
        for payment in self.payments.values():
            if payment.id == request.payment_id:
                payment.status = payment_pb2.PAYMENT_STATUS_REFUNDED
                payment.refund_reason = request.reason
                self.refund_keys.add(request.idempotency_key)
                await self._after("Refund", context)
                return payment
        await context.abort(grpc.StatusCode.NOT_FOUND, "no payment")
        raise AssertionError("unreachable")

    async def ListPayments(self, request, context):  # type: ignore[no-untyped-def]
        return payment_pb2.ListPaymentsResponse(payments=list(self.payments.values()))


class FakeServer:
    """One double on its own port; `stop()` makes it unreachable, `start()` brings it back there.

    Like the real services it refuses any caller but orders' service account.
    """

    def __init__(self, register: Callable[[grpc.aio.Server], None], service: Any, issuer: TestIssuer) -> None:
        self._register = register
        self._auth = issuer.server_auth(
            rules_for(service, {m.name: services_only("folio-orders") for m in service.methods})
        )
        self.port = 0
        self.server: GrpcServer | None = None

    async def start(self) -> None:
        self.server = GrpcServer(
            register=self._register,
            service_names=[],
            address=f"127.0.0.1:{self.port}",
            telemetry=Telemetry(enabled=False),
            auth=self._auth,
            grace_seconds=0,
        )
        self.port = self.server.port
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


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
