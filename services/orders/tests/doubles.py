"""Test doubles of cart, catalog and payment for the orders service's tests, each served over real
gRPC on its own in-process server (FakeServer).

Each keeps just enough state to check the saga's end states, and has switches: answer a method with
an error before doing anything (`fail`), do the work and then lose the reply (`fail_after`), be slow
before or after the work (`delay_before`, `delay_after`: a timeout for a caller that waits less),
hold a call until the test lets it go (`gate`), or be unreachable altogether (`FakeServer.stop()`).
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_platform.auth import rules_for, services_only
from folio_platform.errors import InvalidArgument, to_status
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.data import (
    BAD_LUHN_CARD_NUMBER,
    DECLINED_CARD_NUMBER,
)
from folio_testing.issuer import TestIssuer


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
