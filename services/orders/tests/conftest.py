"""The orders service against test doubles of cart, catalog and payment, served over real gRPC.

The doubles (FakeCart, FakeCatalog, FakePayment) keep just enough state to check the saga's
end states, and have switches to refuse, decline, fail or vanish at a chosen call.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.common.v1 import money_pb2
from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_orders.saga import Backends, Checkout
from folio_orders.servicer import OrdersServicer
from folio_orders.store import OrderStore
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.plugin import PostgresServer

PRICE = 1250  # every fake book costs 12.50


class FakeCart(cart_pb2_grpc.CartServiceServicer):
    def __init__(self) -> None:
        self.items: dict[str, dict[str, int]] = {}
        self.down = False

    async def GetCart(self, request, context):  # type: ignore[no-untyped-def]
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "cart store is unavailable")
        lines = self.items.get(request.shopper_id, {})
        return cart_pb2.Cart(
            shopper_id=request.shopper_id,
            items=[cart_pb2.CartItem(book_id=b, quantity=q) for b, q in lines.items()],
        )

    async def EmptyCart(self, request, context):  # type: ignore[no-untyped-def]
        self.items.pop(request.shopper_id, None)
        return cart_pb2.Cart(shopper_id=request.shopper_id)


class FakeCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self) -> None:
        self.stock: dict[str, int] = {"moby-dick": 5, "dracula": 1}
        self.reservations: dict[str, tuple[str, dict[str, int]]] = {}
        self.down = False

    async def ReserveStock(self, request, context):  # type: ignore[no-untyped-def]
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "catalog is unavailable")
        if request.reservation_id not in self.reservations:
            wanted = {line.book_id: line.quantity for line in request.lines}
            for book, quantity in wanted.items():
                if book not in self.stock:
                    await context.abort(grpc.StatusCode.NOT_FOUND, f"no book with id {book!r}")
                if self.stock[book] < quantity:
                    await context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION, f"only {self.stock[book]} copies of {book} left"
                    )
            for book, quantity in wanted.items():
                self.stock[book] -= quantity
            self.reservations[request.reservation_id] = ("held", wanted)
        return self._message(request.reservation_id)

    async def ReleaseStock(self, request, context):  # type: ignore[no-untyped-def]
        state, lines = self.reservations.get(request.reservation_id, ("released", {}))
        if state == "held":
            for book, quantity in lines.items():
                self.stock[book] += quantity
            self.reservations[request.reservation_id] = ("released", lines)
        return self._message(request.reservation_id)

    async def CommitStock(self, request, context):  # type: ignore[no-untyped-def]
        state, lines = self.reservations[request.reservation_id]
        if state == "released":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "released")
        self.reservations[request.reservation_id] = ("committed", lines)
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
                    title=b.title(),
                    quantity=q,
                    unit_price=money_pb2.Money(currency_code="USD", minor_units=PRICE),
                )
                for b, q in lines.items()
            ],
        )


class FakePayment(payment_pb2_grpc.PaymentServiceServicer):
    def __init__(self) -> None:
        self.payments: dict[str, payment_pb2.Payment] = {}
        self.charge_calls = 0
        self.charge_down = False  # Charge answers UNAVAILABLE without charging
        self.charge_then_down = False  # Charge charges, then answers UNAVAILABLE (lost reply)
        self.down = False  # every call UNAVAILABLE

    async def Charge(self, request, context):  # type: ignore[no-untyped-def]
        self.charge_calls += 1
        if self.down or self.charge_down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "payment is unavailable")
        if request.card.number == "4242424242424241":
            from folio_platform.errors import InvalidArgument, to_status

            await context.abort_with_status(
                to_status(InvalidArgument("card.number", "is not a valid card number"))
            )
        if request.idempotency_key not in self.payments:
            declined = request.card.number == "4000000000000002"
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
        if self.charge_then_down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "reply lost")
        return self.payments[request.idempotency_key]

    async def GetPayment(self, request, context):  # type: ignore[no-untyped-def]
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "payment is unavailable")
        if request.idempotency_key not in self.payments:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no payment")
        return self.payments[request.idempotency_key]

    async def Refund(self, request, context):  # type: ignore[no-untyped-def]
        for key, payment in self.payments.items():
            if payment.id == request.payment_id:
                payment.status = payment_pb2.PAYMENT_STATUS_REFUNDED
                self.payments[key] = payment
                return payment
        await context.abort(grpc.StatusCode.NOT_FOUND, "no payment")
        return None

    async def ListPayments(self, request, context):  # type: ignore[no-untyped-def]
        return payment_pb2.ListPaymentsResponse(payments=list(self.payments.values()))


@dataclass
class World:
    """The orders service, its store and saga, and the three doubles it talks to."""

    stub: orders_pb2_grpc.OrdersServiceStub
    store: OrderStore
    checkout: Checkout
    cart: FakeCart
    catalog: FakeCatalog
    payment: FakePayment
    price: int = PRICE

    def request(
        self, shopper: str = "anon-ada", key: str | None = None, number: str = "4242424242424242"
    ) -> orders_pb2.PlaceOrderRequest:
        return orders_pb2.PlaceOrderRequest(
            shopper_id=shopper,
            idempotency_key=key or uuid.uuid4().hex,
            email="ada@example.org",
            card=payment_pb2.Card(number=number, exp_month=12, exp_year=2035, cvv="123"),
            shipping_address=orders_pb2.ShippingAddress(
                name="Ada", line1="1 Road", city="Paris", postal_code="75001", country="FR"
            ),
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def orders_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The orders store on each database it supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'orders.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
async def world(orders_url: str) -> AsyncIterator[World]:
    cart, catalog, payment = FakeCart(), FakeCatalog(), FakePayment()

    def register(server: grpc.aio.Server) -> None:
        cart_pb2_grpc.add_CartServiceServicer_to_server(cart, server)
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(catalog, server)
        payment_pb2_grpc.add_PaymentServiceServicer_to_server(payment, server)

    doubles = GrpcServer(
        register=register,
        service_names=[],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
    )
    await doubles.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{doubles.port}")
    store = OrderStore(orders_url)
    checkout = Checkout(
        store,
        Backends(
            cart=cart_pb2_grpc.CartServiceStub(channel),
            catalog=catalog_pb2_grpc.CatalogServiceStub(channel),
            payment=payment_pb2_grpc.PaymentServiceStub(channel),
            call_timeout=2,
            charge_timeout=2,
        ),
    )
    servicer = OrdersServicer(store, checkout)
    server = GrpcServer(
        register=lambda s: orders_pb2_grpc.add_OrdersServiceServicer_to_server(servicer, s),
        service_names=["folio.orders.v1.OrdersService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
    )
    await server.start()
    orders_channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield World(orders_pb2_grpc.OrdersServiceStub(orders_channel), store, checkout, cart, catalog, payment)
    await orders_channel.close()
    await channel.close()
    await server.stop()
    await doubles.stop()
    store.close()
