"""The checkout saga: cart -> reserve stock -> charge -> commit stock -> confirm -> clear the ordered lines.

One state machine serves the live request, a retried request and the recovery loop: each step
is recorded before the next begins, and every remote call is idempotent (the reservation id is
the order id, the charge key is derived from it), so a saga interrupted anywhere can be driven
to an end — CONFIRMED with exactly one charge, or FAILED with nothing charged (or the charge
refunded) and the stock released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from opentelemetry import metrics

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_orders.store import LineRecord, OrderRecord, OrderStatus, OrderStore, Step
from folio_platform.deadlines import time_remaining
from folio_platform.errors import (
    FailedPrecondition,
    FolioError,
    InvalidArgument,
    Unavailable,
    field_violations,
)

log = logging.getLogger(__name__)
CART, CATALOG, PAYMENT = "cart", "catalog", "payment"
# A call that ended with one of these may or may not have been carried out.
_NO_ANSWER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_CARD_FIELDS = {"number", "exp_month", "exp_year", "cvv", "holder_name"}

EMPTY_CART = "your cart is empty"
INTERRUPTED = "checkout was interrupted; you were not charged"
PAYMENT_DOWN = "payment service unavailable, nothing was charged"
NOT_KEPT = "the books could not be kept for you; your payment was refunded"


@dataclass
class Backends:
    """The three services the saga calls, and how long each call may take."""

    cart: cart_pb2_grpc.CartServiceAsyncStub
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    payment: payment_pb2_grpc.PaymentServiceAsyncStub
    call_timeout: float
    # Charge (and GetPayment, which waits for a charge in flight) includes the card processor.
    charge_timeout: float


class _Refused(Exception):
    """A step said no for good: the saga ends FAILED with this reason (after compensating)."""

    def __init__(
        self, reason: str, code: str = "FAILED_PRECONDITION", field: str = "", *, kind: str = "other"
    ) -> None:
        super().__init__(reason)
        self.reason, self.code, self.field = reason, code, field
        # A short, fixed word for metrics (the reason itself is free text for the shopper).
        self.kind = kind


def charge_key(order_id: str) -> str:
    """The payment idempotency key of an order: a retry after a crash can never charge twice."""
    return f"order-{order_id}"


def failure_error(order: OrderRecord) -> FolioError:
    """The error a failed order answers with, the first time and on every retry."""
    if order.failure_code == "INVALID_ARGUMENT":
        field = order.failure_field or "card"
        return InvalidArgument(field, order.failure_reason.removeprefix(f"{field}: "))
    if order.failure_code == "UNAVAILABLE":
        return Unavailable(order.failure_field or PAYMENT, order.failure_reason)
    return FailedPrecondition(order.failure_reason)


def _budget(cap: float) -> float:
    """`cap`, or less when the caller's deadline leaves less (recovery has no deadline)."""
    remaining = time_remaining()
    return cap if remaining is None else max(0.0, min(cap, remaining))


class _OrderLocks:
    """One hand per order inside this process; the store's guarded steps cover other processes."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, order_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(order_id, (asyncio.Lock(), 0))
        self._locks[order_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[order_id]
            if users == 1:
                del self._locks[order_id]
            else:
                self._locks[order_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class CheckoutMetrics:
    """Business metrics of checkout: orders placed, revenue, failures by reason (OpenTelemetry API;
    no-ops unless telemetry is on)."""

    def __init__(self) -> None:
        meter = metrics.get_meter("folio_orders.checkout")
        self.orders = meter.create_counter(
            "folio.orders.placed", unit="{order}", description="Orders confirmed"
        )
        self.revenue = meter.create_counter(
            "folio.orders.revenue",
            unit="{currency_unit}",
            description="Value of confirmed orders, in major currency units (e.g. dollars), by currency",
        )
        self.failures = meter.create_counter(
            "folio.checkout.failures",
            unit="{checkout}",
            description="Checkouts that did not end in an order, by reason",
        )

    def placed(self, order: OrderRecord) -> None:
        self.orders.add(1, {"currency": order.currency_code})
        self.revenue.add(order.total_minor / 100, {"currency": order.currency_code})


class Checkout:
    """Drives orders through the saga; shared by PlaceOrder and the recovery loop."""

    def __init__(self, store: OrderStore, backends: Backends) -> None:
        self.store = store
        self.backends = backends
        self.locks = _OrderLocks()
        self.metrics = CheckoutMetrics()

    async def advance(self, order: OrderRecord, card: payment_pb2.Card | None = None) -> OrderRecord:
        """Drive a pending order as far as it will go, and return it as it then is.

        `card` is the shopper's card on a live request and None when recovering: without a card
        a saga that has not charged can only be ended (stock released, FAILED, nothing charged).
        Raises Unavailable, leaving the order pending where it stopped, when a dependency cannot
        answer; a retry with the same key or the recovery loop takes it from there.
        """
        async with self.locks.hold(order.id):
            order = await self._reload(order.id)
            if order.status != OrderStatus.PENDING:
                return order
            # Each step answers the order as it left it (as its own transaction read it back).
            try:
                if order.step == Step.CREATED:
                    order = await self._reserve(order, card)
                if order.status == OrderStatus.PENDING and order.step == Step.RESERVED:
                    order = await self._charge(order, card)
                if order.status == OrderStatus.PENDING and order.step == Step.CHARGED:
                    order = await self._commit(order)
            except _Refused as refused:
                self.metrics.failures.add(1, {"reason": refused.kind})
                log.info(
                    "checkout failed",
                    extra={"order_id": order.id, "step": order.step, "reason": refused.reason},
                )
                order = await self.store.failed(
                    order.id, order.step, reason=refused.reason, code=refused.code, field=refused.field
                ) or await self._reload(order.id)
            except Unavailable:
                # The order stays pending for a retry or the recovery loop; the shopper saw a 503.
                self.metrics.failures.add(1, {"reason": "dependency_unavailable"})
                raise
            if order.status == OrderStatus.CONFIRMED:
                self.metrics.placed(order)
                await self._empty_cart(order)
            return order

    async def _reload(self, order_id: str) -> OrderRecord:
        """The order as stored now (after a step that found it moved by another hand)."""
        current = await self.store.get(order_id)
        assert current is not None, f"order {order_id} vanished"
        return current

    async def _call[T](
        self, dependency: str, call: Awaitable[T], *, answers: tuple[grpc.StatusCode, ...] = ()
    ) -> T:
        """Await a call; a status in `answers` is raised for the step to act on, any other failure
        means `dependency` cannot do its part now (Unavailable: the saga stays where it is)."""
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            if error.code() in answers:
                raise
            log.warning(
                "dependency failed",
                extra={"dependency": dependency, "code": error.code().name, "details": error.details()},
            )
            raise Unavailable(
                dependency, f"{dependency} is unavailable; retry shortly with the same idempotency key"
            ) from None

    async def _reserve(self, order: OrderRecord, card: payment_pb2.Card | None) -> OrderRecord:
        """created -> reserved: read the cart and hold its books at the catalog's prices."""
        if card is None:
            # Recovering: the process may have died after ReserveStock but before recording it.
            await self._release(order)
            raise _Refused(INTERRUPTED, kind="interrupted")
        b = self.backends
        cart = await self._call(
            CART,
            b.cart.GetCart(
                cart_pb2.GetCartRequest(shopper_id=order.shopper_id), timeout=_budget(b.call_timeout)
            ),
        )
        if not cart.items:
            raise _Refused(EMPTY_CART, kind="empty_cart")
        request = catalog_pb2.ReserveStockRequest(
            reservation_id=order.id,
            lines=[catalog_pb2.StockRequestLine(book_id=i.book_id, quantity=i.quantity) for i in cart.items],
        )
        try:
            reservation = await self._call(
                CATALOG,
                b.catalog.ReserveStock(request, timeout=_budget(b.call_timeout)),
                answers=(grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND),
            )
        except grpc.aio.AioRpcError as error:
            # Usually nothing is held; but an earlier attempt under this id may hold other books.
            await self._release(order)
            raise _Refused(
                error.details() or "some of these books are no longer available", kind="out_of_stock"
            ) from None
        lines = [
            LineRecord(r.book_id, r.title, r.quantity, r.unit_price.minor_units, r.unit_price.currency_code)
            for r in reservation.lines
        ]
        if len({line.currency_code for line in lines}) != 1:
            await self._release(order)
            raise _Refused(
                "these books cannot be bought together (priced in different currencies)",
                kind="mixed_currency",
            )
        return await self.store.reserved(order.id, lines) or await self._reload(order.id)

    async def _release(self, order: OrderRecord) -> None:
        b = self.backends
        request = catalog_pb2.ReleaseStockRequest(reservation_id=order.id)
        await self._call(CATALOG, b.catalog.ReleaseStock(request, timeout=_budget(b.call_timeout)))

    async def _charge(self, order: OrderRecord, card: payment_pb2.Card | None) -> OrderRecord:
        """reserved -> charged: take the total once, whatever happened to earlier attempts."""
        key = charge_key(order.id)
        if card is not None:
            # Charge is idempotent by key: a retry is answered with an earlier attempt's payment.
            payment = await self._charge_card(order, card, key)
        else:
            found = await self._payment_for(key)
            if found is None:
                # Recovering a checkout that stopped before its charge: give the stock back.
                await self._release(order)
                raise _Refused(INTERRUPTED, kind="interrupted")
            payment = found
        if payment.status == payment_pb2.PAYMENT_STATUS_DECLINED:
            await self._release(order)
            raise _Refused(payment.decline_message or "your card was declined", kind="card_declined")
        if payment.status != payment_pb2.PAYMENT_STATUS_SUCCEEDED:
            await self._release(order)
            raise _Refused("the payment was given back; you were not charged", kind="payment_reversed")
        charged = await self.store.charged(order.id, payment.id)
        if charged is not None:
            return charged
        current = await self._reload(order.id)
        if current.payment_id != payment.id:
            # Another hand ended this saga (finding no charge) while ours was in flight.
            await self._refund(order, payment.id, "the checkout had already been cancelled")
        return current

    async def _charge_card(self, order: OrderRecord, card: payment_pb2.Card, key: str) -> payment_pb2.Payment:
        b = self.backends
        request = payment_pb2.ChargeRequest(
            idempotency_key=key,
            card=card,
            reference=order.id,
            amount=money_pb2.Money(currency_code=order.currency_code, minor_units=order.total_minor),
        )
        try:
            return await b.payment.Charge(request, timeout=_budget(b.charge_timeout))
        except grpc.aio.AioRpcError as error:
            refused = error.code() == grpc.StatusCode.INVALID_ARGUMENT
            if not refused:
                # No (usable) answer: the money may or may not have been taken.
                log.warning("charge outcome unknown", extra={"order_id": order.id, "code": error.code().name})
            # Ask the ledger: an earlier attempt under this key may have charged, and a retry with
            # another card (refused as a reused key) or a mistyped one must end with that payment.
            payment = await self._payment_for(key)
            if payment is not None:
                return payment
            await self._release(order)
            if refused:
                raise _card_refusal(error) from None
            if error.code() in _NO_ANSWER:
                raise _Refused(PAYMENT_DOWN, "UNAVAILABLE", PAYMENT, kind="payment_unavailable") from None
            raise _Refused(
                f"the payment could not be taken ({error.details()}); you were not charged",
                kind="payment_error",
            ) from None

    async def _payment_for(self, key: str) -> payment_pb2.Payment | None:
        """The payment recorded for `key`, None if there is none (Unavailable if payment cannot say)."""
        b = self.backends
        try:
            return await self._call(
                PAYMENT,
                b.payment.GetPayment(
                    payment_pb2.GetPaymentRequest(idempotency_key=key), timeout=_budget(b.charge_timeout)
                ),
                answers=(grpc.StatusCode.NOT_FOUND,),
            )
        except grpc.aio.AioRpcError:
            return None

    async def _refund(self, order: OrderRecord, payment_id: str, reason: str) -> None:
        b = self.backends
        request = payment_pb2.RefundRequest(
            idempotency_key=f"refund-{order.id}", payment_id=payment_id, reason=reason
        )
        await self._call(PAYMENT, b.payment.Refund(request, timeout=_budget(b.charge_timeout)))
        log.info("payment refunded", extra={"order_id": order.id, "payment_id": payment_id})

    async def _commit(self, order: OrderRecord) -> OrderRecord:
        """charged -> committed (CONFIRMED); if the catalog will not sell the books, refund."""
        b = self.backends
        try:
            request = catalog_pb2.CommitStockRequest(reservation_id=order.id)
            await self._call(
                CATALOG,
                b.catalog.CommitStock(request, timeout=_budget(b.call_timeout)),
                answers=(grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND),
            )
        except grpc.aio.AioRpcError:
            await self._refund(order, order.payment_id, "the books could not be kept")
            await self._release(order)
            raise _Refused(NOT_KEPT, kind="not_kept") from None
        return await self.store.confirmed(order.id) or await self._reload(order.id)

    async def _empty_cart(self, order: OrderRecord) -> None:
        """Take the books it ordered out of the shopper's cart; a line added during checkout stays."""
        b = self.backends
        removals = [
            b.cart.RemoveItem(
                cart_pb2.RemoveItemRequest(shopper_id=order.shopper_id, book_id=line.book_id),
                timeout=_budget(b.call_timeout),
            )
            for line in order.lines
        ]
        for outcome in await asyncio.gather(*removals, return_exceptions=True):
            if isinstance(outcome, grpc.aio.AioRpcError):
                # The order stands; a line left in the cart is an annoyance, not an inconsistency.
                log.warning(
                    "could not take an ordered book out of the cart",
                    extra={"order_id": order.id, "code": outcome.code().name},
                )
            elif isinstance(outcome, BaseException):
                raise outcome


def _card_refusal(error: grpc.aio.AioRpcError) -> _Refused:
    """Payment's INVALID_ARGUMENT, naming the card field the shopper must fix."""
    violations = field_violations(error)
    field, description = violations[0] if violations else ("card", error.details() or "was refused")
    if field in _CARD_FIELDS:
        field = f"card.{field}"
    if field == "card" or field.startswith("card."):
        return _Refused(f"{field}: {description}", "INVALID_ARGUMENT", field, kind="invalid_card")
    # Not the shopper's card (e.g. an amount beyond what payment accepts): nothing was charged.
    return _Refused(
        f"the payment could not be taken ({field}: {description}); you were not charged", kind="payment_error"
    )
