"""The payment ledger (SQLAlchemy Core): SQLite embedded, PostgreSQL in a cluster.

A charge is first *claimed* under its idempotency key (a pending row, unique key), then
settled with the processor's answer. The unique key is what makes a retried or concurrent
Charge with the same key reach the processor once.
"""

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    update,
)

from folio_platform import database
from folio_platform.errors import FailedPrecondition, NotFound

MIGRATIONS = Path(__file__).parent / "migrations"

_metadata = MetaData()
payments = Table(
    "payments",
    _metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(100), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("reference", String(100), nullable=False),
    Column("card_brand", String(16), nullable=False),
    Column("card_last4", String(4), nullable=False),
    Column("decline_code", String(40), nullable=False),
    Column("decline_message", String(200), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("refund_key", String(100), unique=True),
    Column("refund_reason", String(200), nullable=False),
    Column("refunded_at_ms", BigInteger),
)


@dataclass(frozen=True)
class PaymentRecord:
    id: str
    idempotency_key: str
    status: str  # pending, succeeded, declined, refunded
    amount_minor: int
    currency_code: str
    reference: str
    card_brand: str
    card_last4: str
    decline_code: str
    decline_message: str
    created_at_ms: int
    refund_key: str | None
    refund_reason: str
    refunded_at_ms: int | None


def _now_ms() -> int:
    return int(time.time() * 1000)


class Ledger:
    def __init__(self, url: str) -> None:
        self._db = database.Database.open(url, migrations=MIGRATIONS, name="payment-db")

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _one(connection: Connection, *where: object) -> PaymentRecord | None:
        row = connection.execute(select(payments).where(*where)).first()  # type: ignore[arg-type]
        return None if row is None else PaymentRecord(*row)

    async def claim(
        self, *, key: str, amount_minor: int, currency: str, reference: str, brand: str, last4: str
    ) -> tuple[PaymentRecord, bool]:
        """(the payment for `key`, True if this call created it as pending)."""

        def work(connection: Connection) -> tuple[PaymentRecord, bool]:
            values = {
                "id": f"pay_{uuid.uuid4().hex}",
                "idempotency_key": key,
                "status": "pending",
                "amount_minor": amount_minor,
                "currency_code": currency,
                "reference": reference,
                "card_brand": brand,
                "card_last4": last4,
                "decline_code": "",
                "decline_message": "",
                "created_at_ms": _now_ms(),
                "refund_key": None,
                "refund_reason": "",
                "refunded_at_ms": None,
            }
            inserted = connection.execute(
                database.insert_ignoring_conflicts(connection, payments)
                .values(**values)
                .returning(payments.c.id)
            ).first()
            if inserted is None:
                existing = self._one(connection, payments.c.idempotency_key == key)
                assert existing is not None
                return existing, False
            return PaymentRecord(**values), True  # type: ignore[arg-type]

        return await self._db.transaction(work)

    async def settle(
        self, payment_id: str, *, approved: bool, code: str = "", message: str = ""
    ) -> PaymentRecord:
        """pending -> succeeded or declined (a second settle changes nothing)."""

        def work(connection: Connection) -> PaymentRecord:
            connection.execute(
                update(payments)
                .where(payments.c.id == payment_id, payments.c.status == "pending")
                .values(
                    status="succeeded" if approved else "declined", decline_code=code, decline_message=message
                )
            )
            found = self._one(connection, payments.c.id == payment_id)
            assert found is not None
            return found

        return await self._db.transaction(work)

    async def abandon(self, payment_id: str) -> None:
        """Forget a pending claim the processor never answered: nothing was charged."""
        await self._db.transaction(
            lambda c: c.execute(
                delete(payments).where(payments.c.id == payment_id, payments.c.status == "pending")
            )
        )

    async def by_key(self, key: str) -> PaymentRecord | None:
        return await self._db.transaction(lambda c: self._one(c, payments.c.idempotency_key == key))

    async def refund(self, payment_id: str, *, refund_key: str, reason: str) -> PaymentRecord:
        """succeeded -> refunded, once; a refunded payment is returned as it is."""

        def work(connection: Connection) -> PaymentRecord:
            previous = self._one(connection, payments.c.refund_key == refund_key)
            if previous is not None and previous.id != payment_id:
                raise FailedPrecondition("idempotency key already used to refund another payment")
            connection.execute(
                update(payments)
                .where(payments.c.id == payment_id, payments.c.status == "succeeded")
                .values(
                    status="refunded", refund_key=refund_key, refund_reason=reason, refunded_at_ms=_now_ms()
                )
            )
            found = self._one(connection, payments.c.id == payment_id)
            if found is None:
                raise NotFound(f"no payment {payment_id!r}")
            if found.status != "refunded":
                raise FailedPrecondition(
                    f"only a succeeded payment can be refunded (this one is {found.status})"
                )
            return found

        return await self._db.transaction(work)

    async def page(self, *, offset: int, limit: int) -> tuple[list[PaymentRecord], int]:
        def work(connection: Connection) -> tuple[list[PaymentRecord], int]:
            total = connection.execute(select(func.count()).select_from(payments)).scalar_one()
            rows = connection.execute(
                select(payments).order_by(payments.c.created_at_ms, payments.c.id).offset(offset).limit(limit)
            )
            return [PaymentRecord(*row) for row in rows], int(total)

        return await self._db.transaction(work)
