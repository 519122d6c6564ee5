"""Orders and how far each checkout saga got (SQLAlchemy Core; SQLite embedded, PostgreSQL in a cluster).

Every step change is a guarded UPDATE (`WHERE status = 'pending' AND step = <expected>`), so two
hands on one saga — a retried request and the recovery loop — cannot both move it.
"""

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from folio_platform import database

MIGRATIONS = Path(__file__).parent / "migrations"

_metadata = MetaData()
orders = Table(
    "orders",
    _metadata,
    Column("id", String(40), primary_key=True),
    Column("shopper_id", String(128), nullable=False),
    Column("idempotency_key", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", String(16), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("payment_id", String(40), nullable=False),
    Column("failure_reason", String(300), nullable=False),
    Column("failure_code", String(32), nullable=False),
    Column("failure_field", String(64), nullable=False),
    Column("email", String(254), nullable=False),
    Column("shipping_address", JSON, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)
order_lines = Table(
    "order_lines",
    _metadata,
    Column("order_id", String(40), ForeignKey("orders.id"), primary_key=True),
    Column("book_id", String(160), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("currency_code", String(3), nullable=False),
)


@dataclass(frozen=True)
class LineRecord:
    book_id: str
    title: str
    quantity: int
    unit_price_minor: int
    currency_code: str


@dataclass(frozen=True)
class OrderRecord:
    id: str
    shopper_id: str
    idempotency_key: str
    status: str  # pending, confirmed, failed
    step: str  # created, reserved, charged, done
    total_minor: int
    currency_code: str
    payment_id: str
    failure_reason: str
    failure_code: str
    failure_field: str
    email: str
    shipping_address: dict[str, str]
    created_at_ms: int
    updated_at_ms: int
    lines: tuple[LineRecord, ...] = field(default=())


def _now_ms() -> int:
    return int(time.time() * 1000)


class OrderStore:
    def __init__(self, url: str) -> None:
        self._db = database.Database.open(url, migrations=MIGRATIONS, name="orders-db")

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _load(connection: Connection, *where: Any) -> list[OrderRecord]:
        rows = connection.execute(select(orders).where(*where)).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        lines: dict[str, list[LineRecord]] = {i: [] for i in ids}
        for line in connection.execute(
            select(order_lines).where(order_lines.c.order_id.in_(ids)).order_by(order_lines.c.book_id)
        ):
            lines[line.order_id].append(LineRecord(*line[1:]))
        return [OrderRecord(**row._mapping, lines=tuple(lines[row.id])) for row in rows]

    async def claim(
        self, *, shopper_id: str, key: str, email: str, address: dict[str, str]
    ) -> tuple[OrderRecord, bool]:
        """(the order for this shopper and key, True if this call created it)."""

        def work(connection: Connection) -> tuple[OrderRecord, bool]:
            now = _now_ms()
            inserted = connection.execute(
                database.insert_ignoring_conflicts(connection, orders)
                .values(
                    id=f"ord_{uuid.uuid4().hex[:24]}",
                    shopper_id=shopper_id,
                    idempotency_key=key,
                    status="pending",
                    step="created",
                    total_minor=0,
                    currency_code="USD",
                    payment_id="",
                    failure_reason="",
                    failure_code="",
                    failure_field="",
                    email=email,
                    shipping_address=address,
                    created_at_ms=now,
                    updated_at_ms=now,
                )
                .returning(orders.c.id)
            ).first()
            [order] = self._load(
                connection, orders.c.shopper_id == shopper_id, orders.c.idempotency_key == key
            )
            return order, inserted is not None

        return await self._db.transaction(work)

    async def get(self, order_id: str) -> OrderRecord | None:
        found = await self._db.transaction(lambda c: self._load(c, orders.c.id == order_id))
        return found[0] if found else None

    async def _advance(self, order_id: str, from_step: str, **values: Any) -> bool:
        def work(connection: Connection) -> bool:
            moved = connection.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.status == "pending", orders.c.step == from_step)
                .values(updated_at_ms=_now_ms(), **values)
            )
            return bool(moved.rowcount)

        return await self._db.transaction(work)

    async def reserved(self, order_id: str, lines: Sequence[LineRecord]) -> bool:
        """created -> reserved, recording what was reserved and the total."""

        def work(connection: Connection) -> bool:
            moved = connection.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.status == "pending", orders.c.step == "created")
                .values(
                    step="reserved",
                    total_minor=sum(line.unit_price_minor * line.quantity for line in lines),
                    currency_code=lines[0].currency_code,
                    updated_at_ms=_now_ms(),
                )
            )
            if not moved.rowcount:
                return False
            connection.execute(
                insert(order_lines),
                [
                    {
                        "order_id": order_id,
                        "book_id": line.book_id,
                        "title": line.title,
                        "quantity": line.quantity,
                        "unit_price_minor": line.unit_price_minor,
                        "currency_code": line.currency_code,
                    }
                    for line in lines
                ],
            )
            return True

        return await self._db.transaction(work)

    async def charged(self, order_id: str, payment_id: str) -> bool:
        return await self._advance(order_id, "reserved", step="charged", payment_id=payment_id)

    async def confirmed(self, order_id: str) -> bool:
        return await self._advance(order_id, "charged", step="done", status="confirmed")

    async def failed(self, order_id: str, from_step: str, *, reason: str, code: str, field: str = "") -> bool:
        return await self._advance(
            order_id,
            from_step,
            step="done",
            status="failed",
            failure_reason=reason[:300],
            failure_code=code,
            failure_field=field,
        )

    async def for_shopper(self, shopper_id: str, *, offset: int, limit: int) -> tuple[list[OrderRecord], int]:
        def work(connection: Connection) -> tuple[list[OrderRecord], int]:
            total = connection.execute(
                select(func.count()).select_from(orders).where(orders.c.shopper_id == shopper_id)
            ).scalar_one()
            ids = (
                connection.execute(
                    select(orders.c.id)
                    .where(orders.c.shopper_id == shopper_id)
                    .order_by(orders.c.created_at_ms.desc(), orders.c.id)
                    .offset(offset)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            found = {o.id: o for o in self._load(connection, orders.c.id.in_(ids))}
            return [found[i] for i in ids], int(total)

        return await self._db.transaction(work)

    async def everything(self, *, offset: int, limit: int) -> tuple[list[OrderRecord], int]:
        def work(connection: Connection) -> tuple[list[OrderRecord], int]:
            total = connection.execute(select(func.count()).select_from(orders)).scalar_one()
            ids = (
                connection.execute(
                    select(orders.c.id)
                    .order_by(orders.c.created_at_ms, orders.c.id)
                    .offset(offset)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            found = {o.id: o for o in self._load(connection, orders.c.id.in_(ids))}
            return [found[i] for i in ids], int(total)

        return await self._db.transaction(work)

    async def stuck(self, *, older_than_ms: int) -> list[OrderRecord]:
        """Pending orders untouched since `older_than_ms`: sagas whose process died or gave up."""
        return await self._db.transaction(
            lambda c: self._load(c, orders.c.status == "pending", orders.c.updated_at_ms < older_than_ms)
        )
