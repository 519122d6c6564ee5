"""folio.payment.v1.PaymentService: request validation, the idempotent charge flow, proto mapping."""

import asyncio
import logging
import re
import time

import grpc
from opentelemetry import metrics

from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_payment.ledger import KEY_REUSED, ChargeAttempt, Ledger, PaymentRecord, PaymentStatus
from folio_payment.processor import CardDetails, CardProcessor, Clock, check_card, utc_now
from folio_platform import pagination
from folio_platform.auth import SUPPORT_ROLE, role, rules_for, services_only
from folio_platform.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")
CURRENCY = re.compile(r"[A-Z]{3}")
MAX_AMOUNT_MINOR = 1_000_000
MAX_REFERENCE = 100
MAX_REASON = 200
MAX_PAYMENT_ID = 40
PROCESSOR = "card processor"
TIMED_OUT = "card processor timed out; nothing was charged, try again"
IN_FLIGHT = "this payment is still being processed; ask again shortly"
# How often a duplicate Charge (or a GetPayment) looks again at a claim in flight.
POLL_SECONDS = 0.05
STATUSES = {
    # An in-flight charge shows as UNSPECIFIED in ListPayments; no other RPC returns one.
    PaymentStatus.PENDING: payment_pb2.PAYMENT_STATUS_UNSPECIFIED,
    PaymentStatus.SUCCEEDED: payment_pb2.PAYMENT_STATUS_SUCCEEDED,
    PaymentStatus.DECLINED: payment_pb2.PAYMENT_STATUS_DECLINED,
    PaymentStatus.REFUNDED: payment_pb2.PAYMENT_STATUS_REFUNDED,
}

Context = grpc.aio.ServicerContext[object, object]


def _key(field: str, value: str) -> str:
    if not KEY.fullmatch(value):
        raise InvalidArgument(field, "must be 8-100 letters, digits, '-' or '_' (one key per payment)")
    return value


def _text(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidArgument(field, f"is too long ({len(value)} characters; at most {limit})")
    return value


def _check_amount(amount: money_pb2.Money) -> None:
    if not CURRENCY.fullmatch(amount.currency_code):
        raise InvalidArgument("amount.currency_code", "must be a three-letter ISO 4217 code such as USD")
    if not 0 < amount.minor_units <= MAX_AMOUNT_MINOR:
        raise InvalidArgument(
            "amount.minor_units", f"must be between 1 and {MAX_AMOUNT_MINOR} (got {amount.minor_units})"
        )


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


# Only orders moves money; support staff (customer service, finance) and orders' reconciliation
# may read the whole ledger.
_ORDERS = services_only("folio-orders")
ACCESS = rules_for(
    payment_pb2.DESCRIPTOR.services_by_name["PaymentService"],
    {
        "Charge": _ORDERS,
        "Refund": _ORDERS,
        "GetPayment": _ORDERS,
        "ListPayments": role(SUPPORT_ROLE, services=("folio-orders",)),
    },
)


class PaymentServicer(payment_pb2_grpc.PaymentServiceServicer):
    def __init__(
        self,
        ledger: Ledger,
        processor: CardProcessor,
        *,
        processor_timeout: float,
        clock: Clock = utc_now,
    ) -> None:
        self.ledger = ledger
        self.processor = processor
        self.processor_timeout = processor_timeout
        self.clock = clock
        meter = metrics.get_meter("folio_payment")
        # Outcomes of asking the card processor (a replayed Charge is not asked again, so not counted).
        self.outcomes = meter.create_counter(
            "folio.payment.charges", unit="{charge}", description="Card processor answers, by outcome"
        )
        self.refunds = meter.create_counter(
            "folio.payment.refunds", unit="{refund}", description="Refund requests answered (replays too)"
        )

    def _abandoned(self, claim: PaymentRecord) -> bool:
        """A pending claim older than any processor call can take: its claimant died mid-charge."""
        return time.time() * 1000 - claim.claimed_at_ms > 2000 * self.processor_timeout

    async def Charge(self, request: payment_pb2.ChargeRequest, context: Context) -> payment_pb2.Payment:
        key = _key("idempotency_key", request.idempotency_key)
        _check_amount(request.amount)
        reference = _text("reference", request.reference, MAX_REFERENCE)
        card = request.card
        details = check_card(card.number, card.exp_month, card.exp_year, card.cvv, now=self.clock)
        attempt = ChargeAttempt(
            key=key,
            amount_minor=request.amount.minor_units,
            currency_code=request.amount.currency_code,
            reference=reference,
            card_brand=details.brand,
            card_last4=details.last4,
        )
        payment, created = await self._claim(attempt)
        if not attempt.matches(payment):
            raise FailedPrecondition(KEY_REUSED)
        if not created:
            outcome = await self._outcome(payment, take_over=True)
            if outcome.status != PaymentStatus.PENDING:
                return payment_message(outcome)
            payment = outcome  # taken over from a claimant that died: ask the processor now
        return payment_message(await self._authorize(payment, details))

    async def _claim(self, attempt: ChargeAttempt) -> tuple[PaymentRecord, bool]:
        """Claim the key; a claim made for a caller who gave up meanwhile is dropped again."""
        claiming = asyncio.ensure_future(self.ledger.claim(attempt))
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            payment, created = await claiming
            if created:
                await self.ledger.abandon(payment)
            raise

    async def _authorize(self, claim: PaymentRecord, card: CardDetails) -> PaymentRecord:
        """Ask the processor for `claim` and record its answer; on timeout record nothing."""
        try:
            decision = await asyncio.wait_for(
                self.processor.authorize(card, claim.amount_minor, claim.currency_code),
                self.processor_timeout,
            )
        except (TimeoutError, asyncio.CancelledError) as stopped:
            # The processor call was cut off (our timeout, or the caller gave up): nothing was
            # taken, so the claim goes and the key may be charged again.
            await asyncio.shield(self.ledger.abandon(claim))
            if isinstance(stopped, asyncio.CancelledError):
                raise
            log.warning("card processor timed out", extra={"payment_id": claim.id})
            self.outcomes.add(1, {"outcome": "processor_timeout"})
            raise Unavailable(PROCESSOR, TIMED_OUT) from None
        self.outcomes.add(1, {"outcome": "approved" if decision.approved else "declined"})
        return await self.ledger.settle(
            claim, approved=decision.approved, code=decision.decline_code, message=decision.decline_message
        )

    async def _outcome(self, payment: PaymentRecord, *, take_over: bool) -> PaymentRecord:
        """The payment once its in-flight charge has settled, waiting for it if need be.

        A claim left by a dead process is taken over (returned still pending, for the caller to
        charge) when `take_over`, otherwise abandoned (NotFound: it was never charged).
        """
        deadline = time.monotonic() + self.processor_timeout + 1
        while payment.status == PaymentStatus.PENDING:
            if self._abandoned(payment):
                if take_over:
                    taken = await self.ledger.take_over(payment)
                    if taken is not None:
                        return taken
                elif await self.ledger.abandon(payment):
                    raise NotFound(f"no payment with idempotency key {payment.idempotency_key!r}")
            elif time.monotonic() > deadline:
                raise Unavailable(PROCESSOR, IN_FLIGHT)
            else:
                await asyncio.sleep(POLL_SECONDS)
            current = await self.ledger.by_key(payment.idempotency_key)
            if current is None:
                # The first attempt's processor call timed out and its claim was dropped.
                if take_over:
                    raise Unavailable(PROCESSOR, TIMED_OUT)
                raise NotFound(f"no payment with idempotency key {payment.idempotency_key!r}")
            payment = current
        return payment

    async def Refund(self, request: payment_pb2.RefundRequest, context: Context) -> payment_pb2.Payment:
        key = _key("idempotency_key", request.idempotency_key)
        if not request.payment_id:
            raise InvalidArgument("payment_id", "is required: the id Charge returned")
        payment_id = _text("payment_id", request.payment_id, MAX_PAYMENT_ID)
        reason = _text("reason", request.reason, MAX_REASON)
        refunded = await self.ledger.refund(payment_id, refund_key=key, reason=reason)
        self.refunds.add(1)
        return payment_message(refunded)

    async def GetPayment(
        self, request: payment_pb2.GetPaymentRequest, context: Context
    ) -> payment_pb2.Payment:
        key = _key("idempotency_key", request.idempotency_key)
        payment = await self.ledger.by_key(key)
        if payment is None:
            raise NotFound(f"no payment with idempotency key {key!r}")
        return payment_message(await self._outcome(payment, take_over=False))

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
