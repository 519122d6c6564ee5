"""The checkout saga: cart -> reserve stock -> charge -> commit stock -> confirm -> empty cart.

One state machine serves the live request and the recovery loop: each step is recorded
before the next begins, every remote call is idempotent (the reservation id is the order
id, the charge key is derived from it), so a saga interrupted anywhere can be driven to an
end — CONFIRMED with exactly one charge, or FAILED with nothing charged or the charge refunded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

import grpc

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_orders.store import LineRecord, OrderRecord, OrderStore
from folio_platform.errors import (
    FailedPrecondition,
    FolioError,
    InvalidArgument,
    Unavailable,
    field_violations,
)

log = logging.getLogger(__name__)
CART, CATALOG, PAYMENT = "cart", "catalog", "payment"
_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)


@dataclass
class Backends:
    cart: cart_pb2_grpc.CartServiceAsyncStub
    catalog: catalog_pb2_grpc.CatalogServiceAsyncStub
    payment: payment_pb2_grpc.PaymentServiceAsyncStub
    call_timeout: float
    charge_timeout: float


class _Refused(Exception):
    """A step said no for good: the saga fails with this reason (after compensating)."""

    def __init__(self, reason: str, code: str = "FAILED_PRECONDITION", field: str = "") -> None:
        super().__init__(reason)
        self.reason, self.code, self.field = reason, code, field


def charge_key(order_id: str) -> str:
    """The payment idempotency key of an order: a retry after a crash can never charge twice."""
    return f"order-{order_id}"


def failure_error(order: OrderRecord) -> FolioError:
    """The error a failed order answers with, the first time and on every retry."""
    if order.failure_code == "INVALID_ARGUMENT":
        return InvalidArgument(order.failure_field or "card", order.failure_reason)
    return FailedPrecondition(order.failure_reason)


class Checkout:
    def __init__(self, store: OrderStore, backends: Backends) -> None:
        self.store = store
        self.backends = backends
        # One hand per order inside this process; the store's guarded steps cover other processes.
        self._locks: dict[str, asyncio.Lock] = {}

    async def advance(self, order: OrderRecord, card: payment_pb2.Card | None = None) -> OrderRecord:
        """Drive a pending order as far as it will go; `card` is None when recovering."""
        lock = self._locks.setdefault(order.id, asyncio.Lock())
        try:
            async with lock:
                return await self._advance(order, card)
        finally:
            # Forget the lock once nobody holds or waits for it, so the table does not grow forever.
            if not lock.locked() and self._locks.get(order.id) is lock:
                del self._locks[order.id]

    async def _advance(self, order: OrderRecord, card: payment_pb2.Card | None) -> OrderRecord:
        order = await self._reload(order)
        try:
            if order.status == "pending" and order.step == "created" and card is None:
                # Recovering: the process may have died after reserving but before recording it.
                await self._release(order)
                raise _Refused("checkout was interrupted before payment; you were not charged")
            if order.status == "pending" and order.step == "created":
                await self._reserve(order)
                order = await self._reload(order)
            if order.status == "pending" and order.step == "reserved":
                await self._charge(order, card)
                order = await self._reload(order)
            if order.status == "pending" and order.step == "charged":
                await self._commit(order)
                order = await self._reload(order)
        except _Refused as refused:
            await self.store.failed(
                order.id, order.step, reason=refused.reason, code=refused.code, field=refused.field
            )
            order = await self._reload(order)
        if order.status == "confirmed":
            await self._empty_cart(order)
        return order

    async def _reload(self, order: OrderRecord) -> OrderRecord:
        current = await self.store.get(order.id)
        assert current is not None
        return current

    async def _call[T](self, dependency: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            if error.code() in _DOWN:
                # The saga stays pending where it is; a retry or the recovery loop resumes it.
                raise Unavailable(dependency) from None
            raise

    async def _reserve(self, order: OrderRecord) -> None:
        b = self.backends
        cart = await self._call(
            CART, b.cart.GetCart(cart_pb2.GetCartRequest(shopper_id=order.shopper_id), timeout=b.call_timeout)
        )
        if not cart.items:
            raise _Refused("your cart is empty")
        request = catalog_pb2.ReserveStockRequest(
            reservation_id=order.id,
            lines=[catalog_pb2.StockRequestLine(book_id=i.book_id, quantity=i.quantity) for i in cart.items],
        )
        try:
            reservation = await self._call(CATALOG, b.catalog.ReserveStock(request, timeout=b.call_timeout))
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                raise _Refused(error.details() or "some books are no longer available") from None
            raise
        lines = [
            LineRecord(r.book_id, r.title, r.quantity, r.unit_price.minor_units, r.unit_price.currency_code)
            for r in reservation.lines
        ]
        await self.store.reserved(order.id, lines)

    async def _release(self, order: OrderRecord) -> None:
        b = self.backends
        request = catalog_pb2.ReleaseStockRequest(reservation_id=order.id)
        await self._call(CATALOG, b.catalog.ReleaseStock(request, timeout=b.call_timeout))

    async def _charge(self, order: OrderRecord, card: payment_pb2.Card | None) -> None:
        b = self.backends
        key = charge_key(order.id)
        payment = await self._existing_payment(key)
        if payment is None and card is None:
            # Recovering an interrupted checkout whose charge never happened: give the stock back.
            await self._release(order)
            raise _Refused("checkout was interrupted before payment; you were not charged")
        if payment is None:
            assert card is not None
            request = payment_pb2.ChargeRequest(
                idempotency_key=key,
                card=card,
                reference=order.id,
                amount=money_pb2.Money(currency_code=order.currency_code, minor_units=order.total_minor),
            )
            try:
                payment = await b.payment.Charge(request, timeout=b.charge_timeout)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    await self._release(order)
                    violations = field_violations(error)
                    field = violations[0][0] if violations else "card"
                    reason = violations[0][1] if violations else (error.details() or "invalid card")
                    raise _Refused(f"{field}: {reason}", "INVALID_ARGUMENT", field) from None
                if error.code() in _DOWN:
                    # Unknown outcome: ask once; if still unknown the saga waits for recovery.
                    payment = await self._existing_payment(key)
                    if payment is None:
                        await self._release(order)
                        raise _Refused("the payment service did not answer; you were not charged") from None
                else:
                    raise
        if payment.status == payment_pb2.PAYMENT_STATUS_DECLINED:
            await self._release(order)
            raise _Refused(payment.decline_message or "your card was declined")
        if payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED:
            await self._release(order)
            raise _Refused("the payment was refunded")
        if not await self.store.charged(order.id, payment.id):
            # Someone else ended this saga while we charged (recovery gave up on it): undo our charge.
            await self._refund(payment.id, order.id, "checkout was already ended")

    async def _existing_payment(self, key: str) -> payment_pb2.Payment | None:
        b = self.backends
        try:
            return await self._call(
                PAYMENT,
                b.payment.GetPayment(
                    payment_pb2.GetPaymentRequest(idempotency_key=key), timeout=b.call_timeout
                ),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    async def _refund(self, payment_id: str, order_id: str, reason: str) -> None:
        b = self.backends
        request = payment_pb2.RefundRequest(
            idempotency_key=f"refund-{order_id}", payment_id=payment_id, reason=reason
        )
        await self._call(PAYMENT, b.payment.Refund(request, timeout=b.call_timeout))

    async def _commit(self, order: OrderRecord) -> None:
        b = self.backends
        try:
            request = catalog_pb2.CommitStockRequest(reservation_id=order.id)
            await self._call(CATALOG, b.catalog.CommitStock(request, timeout=b.call_timeout))
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                raise
            await self._refund(order.payment_id, order.id, "the books could not be kept for you")
            raise _Refused("the books could not be kept for you; your payment was refunded") from None
        await self.store.confirmed(order.id)

    async def _empty_cart(self, order: OrderRecord) -> None:
        b = self.backends
        try:
            request = cart_pb2.EmptyCartRequest(shopper_id=order.shopper_id)
            await b.cart.EmptyCart(request, timeout=b.call_timeout)
        except grpc.aio.AioRpcError as error:
            # The order stands; a cart left full is an annoyance, not an inconsistency.
            log.warning("could not empty the cart", extra={"order_id": order.id, "code": error.code().name})
