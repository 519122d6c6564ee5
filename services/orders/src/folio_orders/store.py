"""Orders and how far each checkout saga got (SQLAlchemy Core; SQLite embedded, PostgreSQL in a cluster).

Every step change is a guarded UPDATE (`WHERE status = 'pending' AND step = <expected>`), so two
hands on one saga — a retried request and the recovery loop, or two replicas — cannot both move it.
"""

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from folio_orders.tables import order_lines, orders
from folio_platform.database import Database, insert_ignoring_conflicts


class OrderStatus(StrEnum):
    """What the shopper sees: pending until the saga ends, then confirmed or failed for good."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class Step(StrEnum):
    """The last saga step a pending order completed (see saga.py)."""

    CREATED = "created"
    RESERVED = "reserved"
    CHARGED = "charged"
    COMMITTED = "committed"


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
    status: OrderStatus
    step: Step
    total_minor: int
    currency_code: str
    payment_id: str
    failure_reason: str
    failure_code: str  # the gRPC status a failed checkout answers with (again on every retry)
    failure_field: str  # the request field (or dependency) that status names
    email: str
    shipping_address: dict[str, str]
    created_at_ms: int
    updated_at_ms: int
    lines: tuple[LineRecord, ...] = field(default=())
    recovery_attempts: int = 0  # recovery passes that found it stuck and could not end it
    recover_after_ms: int = 0  # recovery leaves it alone until then


@dataclass(frozen=True)
class CoPurchase:
    """Two books (book_a < book_b) and how many distinct confirmed orders hold both."""

    book_a: str
    book_b: str
    orders: int


class OrderStore(Protocol):
    """What the saga, the recovery loop and the servicer need from storage."""

    async def claim(
        self, *, shopper_id: str, key: str, email: str, address: dict[str, str]
    ) -> tuple[OrderRecord, bool]: ...

    async def get(self, order_id: str) -> OrderRecord | None: ...

    # Each step answers the order as the step left it, or None when the order was not at the step
    # it moves from (another hand moved it first).

    async def reserved(self, order_id: str, lines: Sequence[LineRecord]) -> OrderRecord | None: ...

    async def charged(self, order_id: str, payment_id: str) -> OrderRecord | None: ...

    async def confirmed(self, order_id: str) -> OrderRecord | None: ...

    async def failed(
        self, order_id: str, from_step: Step, *, reason: str, code: str, field: str = ""
    ) -> OrderRecord | None: ...

    async def for_shopper(
        self, shopper_id: str, *, offset: int, limit: int
    ) -> tuple[list[OrderRecord], int]: ...

    async def everything(self, *, offset: int, limit: int) -> tuple[list[OrderRecord], int]: ...

    async def stuck(self, *, older_than_ms: int, limit: int = 100) -> list[OrderRecord]: ...

    async def postpone(self, order_id: str, *, until_ms: int) -> bool: ...

    async def co_purchases(
        self, *, min_orders: int, offset: int, limit: int
    ) -> tuple[list[CoPurchase], int]: ...


# The saga's statements are built once (building one costs more than running it on SQLite); their
# values are bound when they run. A step's UPDATE sets the columns its parameters name.
_ORDER_BY_ID = select(orders).where(orders.c.id == bindparam("order_id"))
_LINES_OF_ORDERS = (
    select(order_lines)
    .where(order_lines.c.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(order_lines.c.book_id)
)
_MOVE = update(orders).where(
    orders.c.id == bindparam("order_id"),
    orders.c.status == OrderStatus.PENDING,
    orders.c.step == bindparam("from_step"),
)


def now_ms() -> int:
    return int(time.time() * 1000)


class SqlOrderStore:
    """OrderStore over SQLAlchemy Core, each call one unit of work on the platform's thread pool."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    def _load(cls, connection: Connection, *where: Any) -> list[OrderRecord]:
        return cls._records(connection, connection.execute(select(orders).where(*where)).all())

    @classmethod
    def _by_id(cls, connection: Connection, order_id: str) -> OrderRecord | None:
        found = cls._records(connection, connection.execute(_ORDER_BY_ID, {"order_id": order_id}).all())
        return found[0] if found else None

    @staticmethod
    def _records(connection: Connection, rows: Sequence[Row[Any]]) -> list[OrderRecord]:
        """Records for order rows, with their lines read in one more query."""
        if not rows:
            return []
        ids = [row.id for row in rows]
        lines: dict[str, list[LineRecord]] = {i: [] for i in ids}
        for line in connection.execute(_LINES_OF_ORDERS, {"ids": ids}):
            lines[line.order_id].append(
                LineRecord(line.book_id, line.title, line.quantity, line.unit_price_minor, line.currency_code)
            )
        return [
            OrderRecord(
                **{**row._mapping, "status": OrderStatus(row.status), "step": Step(row.step)},
                lines=tuple(lines[row.id]),
            )
            for row in rows
        ]

    @classmethod
    def _page(cls, connection: Connection, ids: Sequence[str]) -> list[OrderRecord]:
        found = {o.id: o for o in cls._load(connection, orders.c.id.in_(ids))}
        return [found[i] for i in ids]

    async def claim(
        self, *, shopper_id: str, key: str, email: str, address: dict[str, str]
    ) -> tuple[OrderRecord, bool]:
        """(the order for this shopper and key, True if this call created it).

        Insert first and let UNIQUE(shopper_id, idempotency_key) pick the winner, so
        concurrent identical checkouts end up on one order.
        """

        def work(connection: Connection) -> tuple[OrderRecord, bool]:
            now = now_ms()
            inserted = connection.execute(
                insert_ignoring_conflicts(connection, orders)
                .values(
                    id=f"ord_{uuid.uuid4().hex[:24]}",
                    shopper_id=shopper_id,
                    idempotency_key=key,
                    status=OrderStatus.PENDING,
                    step=Step.CREATED,
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
        return await self._db.read(lambda c: self._by_id(c, order_id), by_key=True)

    @staticmethod
    def _move(connection: Connection, order_id: str, from_step: Step, **values: Any) -> bool:
        # _MOVE sets the columns its parameters name and would pass over a misspelt one.
        if unknown := values.keys() - orders.c.keys():
            raise ValueError(f"not columns of orders: {sorted(unknown)}")
        moved = connection.execute(
            _MOVE, {"order_id": order_id, "from_step": from_step, "updated_at_ms": now_ms(), **values}
        )
        return bool(moved.rowcount)

    @classmethod
    def _moved(
        cls, connection: Connection, order_id: str, from_step: Step, **values: Any
    ) -> OrderRecord | None:
        """`_move`, then the order as it now is, read in the same transaction (the saga goes on
        from it without reading it again)."""
        if not cls._move(connection, order_id, from_step, **values):
            return None
        return cls._by_id(connection, order_id)

    async def reserved(self, order_id: str, lines: Sequence[LineRecord]) -> OrderRecord | None:
        """created -> reserved, recording what was reserved (at the catalog's prices) and the total."""

        def work(connection: Connection) -> OrderRecord | None:
            total = sum(line.unit_price_minor * line.quantity for line in lines)
            currency = lines[0].currency_code if lines else "USD"
            if not self._move(
                connection,
                order_id,
                Step.CREATED,
                step=Step.RESERVED,
                total_minor=total,
                currency_code=currency,
            ):
                return None
            if lines:
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
            return self._by_id(connection, order_id)

        return await self._db.transaction(work)

    async def charged(self, order_id: str, payment_id: str) -> OrderRecord | None:
        """reserved -> charged, recording the payment."""
        return await self._db.transaction(
            lambda c: self._moved(c, order_id, Step.RESERVED, step=Step.CHARGED, payment_id=payment_id)
        )

    async def confirmed(self, order_id: str) -> OrderRecord | None:
        """charged -> committed: the order is CONFIRMED."""
        return await self._db.transaction(
            lambda c: self._moved(
                c, order_id, Step.CHARGED, step=Step.COMMITTED, status=OrderStatus.CONFIRMED
            )
        )

    async def failed(
        self, order_id: str, from_step: Step, *, reason: str, code: str, field: str = ""
    ) -> OrderRecord | None:
        """pending at `from_step` -> FAILED (the step stays: it says how far the saga got)."""
        return await self._db.transaction(
            lambda c: self._moved(
                c,
                order_id,
                from_step,
                status=OrderStatus.FAILED,
                failure_reason=reason[:300],
                failure_code=code,
                failure_field=field[:64],
            )
        )

    async def for_shopper(self, shopper_id: str, *, offset: int, limit: int) -> tuple[list[OrderRecord], int]:
        """One page of the shopper's orders, newest first, and how many they have."""
        newest_first = (orders.c.created_at_ms.desc(), orders.c.id.desc())
        return await self._listed(
            [orders.c.shopper_id == shopper_id], newest_first, offset=offset, limit=limit
        )

    async def everything(self, *, offset: int, limit: int) -> tuple[list[OrderRecord], int]:
        """One page of every order, oldest first, and how many there are."""
        return await self._listed([], (orders.c.created_at_ms, orders.c.id), offset=offset, limit=limit)

    async def _listed(
        self, where: list[Any], order_by: tuple[Any, ...], *, offset: int, limit: int
    ) -> tuple[list[OrderRecord], int]:
        def work(connection: Connection) -> tuple[list[OrderRecord], int]:
            total = connection.execute(select(func.count()).select_from(orders).where(*where)).scalar_one()
            page = select(orders.c.id).where(*where).order_by(*order_by).offset(offset).limit(limit)
            ids = connection.execute(page).scalars().all()
            return self._page(connection, ids), int(total)

        return await self._db.read(work)

    async def stuck(self, *, older_than_ms: int, limit: int = 100) -> list[OrderRecord]:
        """Pending orders untouched since `older_than_ms` whose backoff has passed: sagas whose process
        died or gave up. Those recovery never tried come first, then the longest waiting, so orders
        that keep failing cannot hold back the others."""

        def work(connection: Connection) -> list[OrderRecord]:
            ids = (
                connection.execute(
                    select(orders.c.id)
                    .where(
                        orders.c.status == OrderStatus.PENDING,
                        orders.c.updated_at_ms < older_than_ms,
                        orders.c.recover_after_ms <= now_ms(),
                    )
                    .order_by(orders.c.recover_after_ms, orders.c.updated_at_ms, orders.c.id)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            return self._page(connection, ids)

        return await self._db.read(work)

    async def postpone(self, order_id: str, *, until_ms: int) -> bool:
        """Leave a pending order to recovery again only from `until_ms`, counting the attempt."""

        def work(connection: Connection) -> bool:
            moved = connection.execute(
                update(orders)
                .where(orders.c.id == order_id, orders.c.status == OrderStatus.PENDING)
                .values(recovery_attempts=orders.c.recovery_attempts + 1, recover_after_ms=until_ms)
            )
            return bool(moved.rowcount)

        return await self._db.transaction(work)

    async def co_purchases(self, *, min_orders: int, offset: int, limit: int) -> tuple[list[CoPurchase], int]:
        """One page of book pairs bought together in at least `min_orders` distinct confirmed orders,
        by book ids, and how many such pairs there are. Aggregated in the database: no order row leaves it."""
        first, second = order_lines.alias("first"), order_lines.alias("second")
        supporting = func.count(func.distinct(first.c.order_id))
        pairs = (
            select(first.c.book_id.label("book_a"), second.c.book_id.label("book_b"), supporting.label("n"))
            .join(second, (second.c.order_id == first.c.order_id) & (first.c.book_id < second.c.book_id))
            .join(orders, orders.c.id == first.c.order_id)
            .where(orders.c.status == OrderStatus.CONFIRMED)
            .group_by(first.c.book_id, second.c.book_id)
            .having(supporting >= min_orders)
        )

        def work(connection: Connection) -> tuple[list[CoPurchase], int]:
            total = connection.execute(select(func.count()).select_from(pairs.subquery())).scalar_one()
            page = pairs.order_by(first.c.book_id, second.c.book_id).offset(offset).limit(limit)
            found = [CoPurchase(row.book_a, row.book_b, int(row.n)) for row in connection.execute(page)]
            return found, int(total)

        return await self._db.read(work)
