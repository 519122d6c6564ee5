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
from folio_payment.processor import (
    CardDetails,
    CardProcessor,
    Clock,
    Decision,
    ProcessorUnavailable,
    check_card,
    utc_now,
)
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
UNKNOWN = (
    "card processor did not answer and cannot yet say whether it charged; "
    "ask again with the same idempotency key shortly"
)
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
        lookup_timeout: float = 1.0,
        clock: Clock = utc_now,
    ) -> None:
        self.ledger = ledger
        self.processor = processor
        self.processor_timeout = processor_timeout
        self.lookup_timeout = lookup_timeout
        self.clock = clock
        # Resolutions that outlive the request that started them (its caller gave up).
        self._resolving: set[asyncio.Task[PaymentRecord | None]] = set()
        meter = metrics.get_meter("folio_payment")
        # Outcomes of asking the card processor (a replayed Charge is not asked again, so not counted).
        self.outcomes = meter.create_counter(
            "folio.payment.charges", unit="{charge}", description="Card processor answers, by outcome"
        )
        self.refunds = meter.create_counter(
            "folio.payment.refunds", unit="{refund}", description="Refund requests answered (replays too)"
        )

    def _abandoned(self, claim: PaymentRecord) -> bool:
        """A pending claim older than any charge can take (authorize, then lookup): its claimant died."""
        return time.time() * 1000 - claim.claimed_at_ms > 2000 * (
            self.processor_timeout + self.lookup_timeout
        )

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
        """Ask the processor for `claim`, under its key, and record its answer.

        When no answer comes (our timeout, the processor unreachable, the caller gone), whether it
        authorized is unknown: the processor is asked by key before anything is recorded.
        """
        try:
            decision = await asyncio.wait_for(
                self.processor.authorize(
                    claim.idempotency_key, card, claim.amount_minor, claim.currency_code
                ),
                self.processor_timeout,
            )
        except asyncio.CancelledError:
            self._resolve_in_background(claim)
            raise
        except (TimeoutError, ProcessorUnavailable):
            log.warning("card processor did not answer; asking it by key", extra={"payment_id": claim.id})
            self.outcomes.add(1, {"outcome": "processor_timeout"})
            # Shielded: a caller giving up now does not stop the outcome being recorded.
            resolved = await asyncio.shield(self._resolve_in_background(claim))
            if resolved is None:
                raise Unavailable(PROCESSOR, TIMED_OUT) from None
            return resolved
        return await self._settle(claim, decision, answered_by="authorize")

    async def _settle(self, claim: PaymentRecord, decision: Decision, *, answered_by: str) -> PaymentRecord:
        outcome = "approved" if decision.approved else "declined"
        self.outcomes.add(1, {"outcome": outcome, "answered_by": answered_by})
        return await self.ledger.settle(
            claim, approved=decision.approved, code=decision.decline_code, message=decision.decline_message
        )

    async def _looked_up(self, claim: PaymentRecord) -> PaymentRecord | None:
        """The claim settled with what the processor decided under its key; None if it authorized
        nothing under it; Unavailable (the claim left pending) if it cannot tell."""
        try:
            decision = await asyncio.wait_for(
                self.processor.lookup(claim.idempotency_key), self.lookup_timeout
            )
        except (TimeoutError, ProcessorUnavailable):
            log.warning("charge outcome unknown", extra={"payment_id": claim.id})
            self.outcomes.add(1, {"outcome": "unknown"})
            raise Unavailable(PROCESSOR, UNKNOWN) from None
        if decision is None:
            return None
        return await self._settle(claim, decision, answered_by="lookup")

    async def _resolve(self, claim: PaymentRecord) -> PaymentRecord | None:
        """Record what the processor did under the claim's key: the settled payment, or None when it
        authorized nothing (the claim is dropped and the key free to charge again)."""
        settled = await self._looked_up(claim)
        if settled is None:
            await self.ledger.abandon(claim)
        return settled

    def _resolve_in_background(self, claim: PaymentRecord) -> asyncio.Task[PaymentRecord | None]:
        """`_resolve(claim)` as a task of its own, which a caller giving up does not cancel."""
        task = asyncio.ensure_future(self._resolve(claim))
        self._resolving.add(task)

        def done(finished: asyncio.Task[PaymentRecord | None]) -> None:
            self._resolving.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                # Still unknown: the claim stays pending for GetPayment or a retried Charge.
                log.info("charge outcome left pending", extra={"payment_id": claim.id})

        task.add_done_callback(done)
        return task

    async def _outcome(self, payment: PaymentRecord, *, take_over: bool) -> PaymentRecord:
        """The payment once its in-flight charge has settled, waiting for it if need be.

        A claim left by a dead process is resolved by asking the processor by key: what it decided
        is recorded and returned; if it authorized nothing, the claim is taken over (returned still
        pending, for the caller to charge) when `take_over`, otherwise dropped (NotFound).
        """
        deadline = time.monotonic() + self.processor_timeout + self.lookup_timeout + 1
        while payment.status == PaymentStatus.PENDING:
            if self._abandoned(payment):
                settled = await self._looked_up(payment)
                if settled is not None:
                    return settled
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
                # The first attempt's processor authorized nothing and its claim was dropped.
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
