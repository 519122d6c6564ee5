"""The payment ledger: one interface, one SQL implementation for SQLite and PostgreSQL.

A charge is first *claimed*: a pending row under its idempotency key, which is UNIQUE, so of
any number of concurrent or retried Charges with one key exactly one inserts the row and asks
the processor; the others read that row. The claim is then settled with the processor's
answer, or abandoned (deleted) when the processor did not answer, since nothing was charged.

Only the card's brand and last four digits are stored; the number and CVV never reach here.
"""

import logging
import time
import uuid
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from folio_payment.tables import payments
from folio_platform.database import Database, insert_ignoring_conflicts
from folio_platform.errors import FailedPrecondition, NotFound

KEY_REUSED = "idempotency key reused with a different request"


class PaymentStatus(StrEnum):
    """pending (claimed, the processor asked) -> succeeded | declined; succeeded -> refunded."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REFUNDED = "refunded"


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentRecord:
    id: str
    idempotency_key: str
    status: PaymentStatus
    amount_minor: int
    currency_code: str
    reference: str
    card_brand: str
    card_last4: str
    decline_code: str
    decline_message: str
    created_at_ms: int
    claimed_at_ms: int
    refund_key: str | None
    refund_reason: str
    refunded_at_ms: int | None


@dataclass(frozen=True)
class ChargeAttempt:
    """What a Charge asks for, as far as the ledger records it."""

    key: str
    amount_minor: int
    currency_code: str
    reference: str
    card_brand: str
    card_last4: str

    def matches(self, payment: PaymentRecord) -> bool:
        """Is `payment` what this attempt would have recorded (same amount, currency and card)?"""
        return (self.amount_minor, self.currency_code, self.card_last4) == (
            payment.amount_minor,
            payment.currency_code,
            payment.card_last4,
        )


class Ledger(Protocol):
    """What the payment servicer needs from storage."""

    async def claim(self, attempt: ChargeAttempt) -> tuple[PaymentRecord, bool]:
        """(the payment recorded for the attempt's key, True if this call created it as pending)."""
        ...

    async def take_over(self, claim: PaymentRecord) -> PaymentRecord | None:
        """Re-claim a pending payment whose claimant died; None if someone else got there first."""
        ...

    async def settle(self, claim: PaymentRecord, *, approved: bool, code: str, message: str) -> PaymentRecord:
        """pending -> succeeded or declined; a payment already settled is returned as it is."""
        ...

    async def abandon(self, claim: PaymentRecord) -> bool:
        """Delete a pending claim the processor never answered (nothing was charged)."""
        ...

    async def by_key(self, key: str) -> PaymentRecord | None: ...

    async def refund(self, payment_id: str, *, refund_key: str, reason: str) -> PaymentRecord:
        """succeeded -> refunded, once; a payment already refunded is returned as it is."""
        ...

    async def page(self, *, offset: int, limit: int) -> tuple[list[PaymentRecord], int]:
        """(payments oldest first, total count)."""
        ...


def _now_ms() -> int:
    return int(time.time() * 1000)


# The ledger's lookups and a charge's settling UPDATE, built once (building a statement costs more
# than running it on SQLite); values are bound when they run, and the UPDATE sets the columns its
# parameters name.
_BY_ID = select(payments).where(payments.c.id == bindparam("payment_id"))
_BY_KEY = select(payments).where(payments.c.idempotency_key == bindparam("key"))
_BY_REFUND_KEY = select(payments).where(payments.c.refund_key == bindparam("refund_key"))
_SETTLE = update(payments).where(
    payments.c.id == bindparam("payment_id"), payments.c.status == PaymentStatus.PENDING
)


def _one(connection: Connection, lookup: Any, **params: str) -> PaymentRecord | None:
    """The payment `lookup` (one of the statements above) finds with `params`, if any."""
    row = connection.execute(lookup, params).first()
    return None if row is None else _record(row)


def _record(row: Any) -> PaymentRecord:
    return PaymentRecord(**{**row._asdict(), "status": PaymentStatus(row.status)})


class SqlLedger:
    """Ledger over SQLAlchemy Core. Every write transaction starts with its write, so SQLite
    takes the write lock first and concurrent writers queue on busy_timeout instead of failing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, attempt: ChargeAttempt) -> tuple[PaymentRecord, bool]:
        now = _now_ms()
        new = PaymentRecord(
            id=f"pay_{uuid.uuid4().hex}",
            idempotency_key=attempt.key,
            status=PaymentStatus.PENDING,
            amount_minor=attempt.amount_minor,
            currency_code=attempt.currency_code,
            reference=attempt.reference,
            card_brand=attempt.card_brand,
            card_last4=attempt.card_last4,
            decline_code="",
            decline_message="",
            created_at_ms=now,
            claimed_at_ms=now,
            refund_key=None,
            refund_reason="",
            refunded_at_ms=None,
        )

        def work(connection: Connection) -> tuple[PaymentRecord, bool]:
            inserted = connection.execute(
                insert_ignoring_conflicts(connection, payments).values(**asdict(new)).returning(payments.c.id)
            ).first()
            if inserted is not None:
                return new, True
            # Lost the race (or a retry): the winner's row is committed and visible now.
            existing = _one(connection, _BY_KEY, key=attempt.key)
            assert existing is not None
            return existing, False

        return await self._db.transaction(work)

    async def take_over(self, claim: PaymentRecord) -> PaymentRecord | None:
        now = _now_ms()

        def work(connection: Connection) -> PaymentRecord | None:
            # Compare-and-set on the claim time: of several retries, one takes the claim over.
            taken = connection.execute(
                update(payments)
                .where(
                    payments.c.id == claim.id,
                    payments.c.status == PaymentStatus.PENDING,
                    payments.c.claimed_at_ms == claim.claimed_at_ms,
                )
                .values(claimed_at_ms=now)
            )
            return replace(claim, claimed_at_ms=now) if taken.rowcount else None

        return await self._db.transaction(work)

    async def settle(self, claim: PaymentRecord, *, approved: bool, code: str, message: str) -> PaymentRecord:
        status = PaymentStatus.SUCCEEDED if approved else PaymentStatus.DECLINED
        outcome = {"status": status, "decline_code": code, "decline_message": message}

        def work(connection: Connection) -> PaymentRecord:
            connection.execute(_SETTLE, {"payment_id": claim.id, **outcome})
            found = _one(connection, _BY_ID, payment_id=claim.id)
            if found is not None:
                return found
            # The claim was given up for dead while the processor was still answering: the
            # answer must still be recorded (reconciliation will flag an approved orphan).
            log.error("processor answered an abandoned claim", extra={"payment_id": claim.id, **outcome})
            settled = replace(claim, status=status, decline_code=code, decline_message=message)
            connection.execute(insert_ignoring_conflicts(connection, payments).values(**asdict(settled)))
            return settled

        return await self._db.transaction(work)

    async def abandon(self, claim: PaymentRecord) -> bool:
        def work(connection: Connection) -> bool:
            gone = connection.execute(
                delete(payments).where(
                    payments.c.id == claim.id,
                    payments.c.status == PaymentStatus.PENDING,
                    payments.c.claimed_at_ms == claim.claimed_at_ms,
                )
            )
            return bool(gone.rowcount)

        return await self._db.transaction(work)

    async def by_key(self, key: str) -> PaymentRecord | None:
        return await self._db.read(lambda connection: _one(connection, _BY_KEY, key=key), by_key=True)

    async def refund(self, payment_id: str, *, refund_key: str, reason: str) -> PaymentRecord:
        other = payments.alias("other")
        key_free = ~exists().where(and_(other.c.refund_key == refund_key, other.c.id != payment_id))

        def work(connection: Connection) -> PaymentRecord:
            connection.execute(
                update(payments)
                .where(payments.c.id == payment_id, payments.c.status == PaymentStatus.SUCCEEDED, key_free)
                .values(
                    status=PaymentStatus.REFUNDED,
                    refund_key=refund_key,
                    refund_reason=reason,
                    refunded_at_ms=_now_ms(),
                )
            )
            found = _one(connection, _BY_ID, payment_id=payment_id)
            if found is None:
                raise NotFound(f"no payment with id {payment_id!r}")
            if found.status == PaymentStatus.REFUNDED:
                return found
            if _one(connection, _BY_REFUND_KEY, refund_key=refund_key) is not None:
                raise FailedPrecondition(KEY_REUSED)
            if found.status == PaymentStatus.PENDING:
                raise FailedPrecondition("the payment is still being processed; refund it once it succeeded")
            raise FailedPrecondition(
                f"only a succeeded payment can be refunded (this one was {found.status})"
            )

        try:
            return await self._db.transaction(work)
        except IntegrityError:
            # Two refunds with one key for two payments at once: the unique key let one through.
            raise FailedPrecondition(KEY_REUSED) from None

    async def page(self, *, offset: int, limit: int) -> tuple[list[PaymentRecord], int]:
        def work(connection: Connection) -> tuple[list[PaymentRecord], int]:
            total = connection.execute(select(func.count()).select_from(payments)).scalar_one()
            rows = connection.execute(
                select(payments).order_by(payments.c.created_at_ms, payments.c.id).offset(offset).limit(limit)
            )
            return [_record(row) for row in rows], int(total)

        return await self._db.read(work)
