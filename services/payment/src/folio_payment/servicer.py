"""folio.payment.v1.PaymentService: idempotent charges and refunds over the ledger and processor."""

import asyncio
import logging
import re
import time

import grpc

from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_payment.ledger import Ledger, PaymentRecord
from folio_payment.processor import CardProcessor, check_card
from folio_platform import pagination
from folio_platform.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)
KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = 1_000_000
PROCESSOR = "card processor"
STATUSES = {
    "succeeded": payment_pb2.PAYMENT_STATUS_SUCCEEDED,
    "declined": payment_pb2.PAYMENT_STATUS_DECLINED,
    "refunded": payment_pb2.PAYMENT_STATUS_REFUNDED,
    "pending": payment_pb2.PAYMENT_STATUS_UNSPECIFIED,
}

Context = grpc.aio.ServicerContext[object, object]


def _key(field: str, value: str) -> str:
    if not KEY.match(value):
        raise InvalidArgument(field, "must be 8-100 letters, digits, '-' or '_' (one per payment attempt)")
    return value


def payment_message(payment: PaymentRecord) -> payment_pb2.Payment:
    return payment_pb2.Payment(
        id=payment.id,
        idempotency_key=payment.idempotency_key,
        status=STATUSES[payment.status],
        amount=money_pb2.Money(currency_code=payment.currency_code, minor_units=payment.amount_minor),
        reference=payment.reference,
        card_brand=payment.card_brand,
        card_last4=payment.card_last4,
        decline_code=payment.decline_code,
        decline_message=payment.decline_message,
        created_at_unix_ms=payment.created_at_ms,
        refund_reason=payment.refund_reason,
    )


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    def __init__(self, ledger: Ledger, processor: CardProcessor, *, processor_timeout: float) -> None:
        self.ledger = ledger
        self.processor = processor
        self.processor_timeout = processor_timeout

    def _stale(self, payment: PaymentRecord) -> bool:
        """A pending claim older than any processor call can take: its caller died mid-charge."""
        return time.time() * 1000 - payment.created_at_ms > 2000 * self.processor_timeout

    async def Charge(self, request: payment_pb2.ChargeRequest, context: Context) -> payment_pb2.Payment:
        key = _key("idempotency_key", request.idempotency_key)
        amount = request.amount
        if not CURRENCY.match(amount.currency_code):
            raise InvalidArgument("amount.currency_code", "must be a three-letter code such as USD")
        if not 0 < amount.minor_units <= MAX_AMOUNT:
            raise InvalidArgument("amount.minor_units", f"must be between 1 and {MAX_AMOUNT}")
        card = request.card
        details = check_card(card.number, card.exp_month, card.exp_year, card.cvv)
        payment, created = await self.ledger.claim(
            key=key,
            amount_minor=amount.minor_units,
            currency=amount.currency_code,
            reference=request.reference[:100],
            brand=details.brand,
            last4=details.last4,
        )
        same = (payment.amount_minor, payment.currency_code, payment.card_last4) == (
            amount.minor_units,
            amount.currency_code,
            details.last4,
        )
        if not same:
            raise FailedPrecondition("idempotency key reused with a different amount or card")
        if not created:
            payment = await self._await_settled(payment)
            if payment.status != "pending":
                return payment_message(payment)
            # The claim's owner died before the processor answered: finish it here.
        try:
            decision = await asyncio.wait_for(
                self.processor.authorize(details, amount.minor_units, amount.currency_code),
                self.processor_timeout,
            )
        except TimeoutError:
            await self.ledger.abandon(payment.id)
            log.warning("card processor timed out", extra={"payment_id": payment.id})
            raise Unavailable(PROCESSOR, "card processor timed out; nothing was charged") from None
        settled = await self.ledger.settle(
            payment.id,
            approved=decision.approved,
            code=decision.decline_code,
            message=decision.decline_message,
        )
        return payment_message(settled)

    async def _await_settled(self, payment: PaymentRecord) -> PaymentRecord:
        """A concurrent duplicate waits for the first call's answer instead of charging again."""
        deadline = time.monotonic() + self.processor_timeout + 1
        while payment.status == "pending" and not self._stale(payment):
            if time.monotonic() > deadline:
                raise Unavailable(PROCESSOR, "this payment is still being processed; retry shortly")
            await asyncio.sleep(0.05)
            current = await self.ledger.by_key(payment.idempotency_key)
            if current is None:  # abandoned after a processor timeout
                raise Unavailable(PROCESSOR, "card processor timed out; nothing was charged")
            payment = current
        return payment

    async def Refund(self, request: payment_pb2.RefundRequest, context: Context) -> payment_pb2.Payment:
        key = _key("idempotency_key", request.idempotency_key)
        if not request.payment_id:
            raise InvalidArgument("payment_id", "is required")
        refunded = await self.ledger.refund(request.payment_id, refund_key=key, reason=request.reason[:200])
        return payment_message(refunded)

    async def GetPayment(
        self, request: payment_pb2.GetPaymentRequest, context: Context
    ) -> payment_pb2.Payment:
        key = _key("idempotency_key", request.idempotency_key)
        payment = await self.ledger.by_key(key)
        if payment is not None and payment.status == "pending":
            if not self._stale(payment):
                raise Unavailable(PROCESSOR, "this payment is still being processed; retry shortly")
            # Its caller died mid-charge and the processor never answered: nothing was charged.
            await self.ledger.abandon(payment.id)
            payment = None
        if payment is None:
            raise NotFound(f"no payment with idempotency key {key!r}")
        return payment_message(payment)

    async def ListPayments(
        self, request: payment_pb2.ListPaymentsRequest, context: Context
    ) -> payment_pb2.ListPaymentsResponse:
        size = pagination.page_size(request.page_size)
        offset = pagination.decode(request.page_token, "payments")
        items, total = await self.ledger.page(offset=offset, limit=size)
        return payment_pb2.ListPaymentsResponse(
            payments=[payment_message(p) for p in items],
            next_page_token=pagination.next_token(offset, size, total, "payments"),
            total_size=total,
        )
