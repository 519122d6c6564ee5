"""Stock held for a checkout, then sold or put back; every call is idempotent by reservation id.

Each operation is one write transaction, and the stock check is the conditional UPDATE itself
(`stock >= :q`), so nothing is ever oversold: PostgreSQL re-checks the condition on the newest
row version after waiting for a concurrent writer, and SQLite runs one writer at a time (each
transaction takes the write lock first: `immediate=True`).
"""

import time
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, insert, select, update

from folio_catalog.records import ReservationRecord, ReservationState, ReservedLineRecord
from folio_catalog.tables import books, reservation_lines, reservations
from folio_platform.database import Database, insert_ignoring_conflicts
from folio_platform.errors import FailedPrecondition, NotFound

HELD, RELEASED, COMMITTED = ReservationState.HELD, ReservationState.RELEASED, ReservationState.COMMITTED


class SqlStock:
    """The stock part of the catalog repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(self, reservation_id: str, lines: Sequence[tuple[str, int]]) -> ReservationRecord:
        """Take `quantity` copies of every (book_id, quantity) line, all or nothing."""
        wanted: dict[str, int] = defaultdict(int)
        for book_id, quantity in lines:
            wanted[book_id] += quantity

        def work(connection: Connection) -> ReservationRecord:
            if not _create(connection, reservation_id, HELD):
                existing = _reservation(connection, reservation_id)
                if {line.book_id: line.quantity for line in existing.lines} == wanted:
                    return existing
                if not existing.lines:
                    raise FailedPrecondition(
                        f"reservation id {reservation_id!r} was released before it held anything"
                    )
                raise FailedPrecondition(f"reservation id {reservation_id!r} already used for other books")
            reserved = []
            # Sorted, so two reservations of the same books lock rows in the same order (no deadlock).
            for book_id, quantity in sorted(wanted.items()):
                taken = connection.execute(
                    update(books)
                    .where(books.c.id == book_id, books.c.stock >= quantity)
                    .values(stock=books.c.stock - quantity)
                    .returning(books.c.title, books.c.price_minor, books.c.currency_code)
                ).first()
                if taken is None:
                    # Raising rolls back the reservation and every line taken before this one.
                    book = connection.execute(
                        select(books.c.title, books.c.stock).where(books.c.id == book_id)
                    ).first()
                    if book is None:
                        raise NotFound(f"no book with id {book_id!r}")
                    copies = "copy" if book.stock == 1 else "copies"
                    raise FailedPrecondition(f"only {book.stock} {copies} of '{book.title}' left")
                reserved.append(
                    ReservedLineRecord(book_id, taken.title, quantity, taken.price_minor, taken.currency_code)
                )
            connection.execute(
                insert(reservation_lines),
                [
                    {
                        "reservation_id": reservation_id,
                        "book_id": line.book_id,
                        "title": line.title,
                        "quantity": line.quantity,
                        "unit_price_minor": line.unit_price_minor,
                        "currency_code": line.currency_code,
                    }
                    for line in reserved
                ],
            )
            return ReservationRecord(reservation_id, HELD, tuple(reserved))

        return await self._db.transaction(work, immediate=True)

    async def release(self, reservation_id: str) -> ReservationRecord:
        """Put a held reservation's copies back; an unknown id is recorded as released."""

        def work(connection: Connection) -> ReservationRecord:
            # An unknown id is remembered as released, so a ReserveStock that arrives after its
            # compensating release (a timed-out call still in flight) cannot hold copies forever.
            # On PostgreSQL this insert waits for a concurrent reserve of the same id to finish.
            if _create(connection, reservation_id, RELEASED):
                return ReservationRecord(reservation_id, RELEASED)
            if _move(connection, reservation_id, RELEASED):
                reservation = _reservation(connection, reservation_id)
                for line in reservation.lines:
                    connection.execute(
                        update(books)
                        .where(books.c.id == line.book_id)
                        .values(stock=books.c.stock + line.quantity)
                    )
                return reservation
            current = _reservation(connection, reservation_id)
            if current.state == COMMITTED:
                raise FailedPrecondition(f"reservation {reservation_id!r} is already committed (sold)")
            return current

        return await self._db.transaction(work, immediate=True)

    async def commit(self, reservation_id: str) -> ReservationRecord:
        """Make a held reservation final: its copies are sold."""

        def work(connection: Connection) -> ReservationRecord:
            moved = _move(connection, reservation_id, COMMITTED)
            current = _reservation(connection, reservation_id)
            if not moved and current.state == RELEASED:
                raise FailedPrecondition(f"reservation {reservation_id!r} was released; reserve again")
            return current

        return await self._db.transaction(work, immediate=True)


def _create(connection: Connection, reservation_id: str, state: ReservationState) -> bool:
    """Insert the reservation in `state` unless the id exists; True if this call inserted it."""
    now = int(time.time() * 1000)
    row = {"id": reservation_id, "state": state, "created_at_ms": now, "updated_at_ms": now}
    created = connection.execute(
        insert_ignoring_conflicts(connection, reservations).values(row).returning(reservations.c.id)
    )
    return created.first() is not None


def _move(connection: Connection, reservation_id: str, state: ReservationState) -> bool:
    """held -> `state`; True if this call made the move."""
    moved = connection.execute(
        update(reservations)
        .where(reservations.c.id == reservation_id, reservations.c.state == HELD)
        .values(state=state, updated_at_ms=int(time.time() * 1000))
    )
    return bool(moved.rowcount)


def _reservation(connection: Connection, reservation_id: str) -> ReservationRecord:
    state = connection.execute(
        select(reservations.c.state).where(reservations.c.id == reservation_id)
    ).scalar()
    if state is None:
        raise NotFound(f"no reservation {reservation_id!r}")
    lines = connection.execute(
        select(
            reservation_lines.c.book_id,
            reservation_lines.c.title,
            reservation_lines.c.quantity,
            reservation_lines.c.unit_price_minor,
            reservation_lines.c.currency_code,
        )
        .where(reservation_lines.c.reservation_id == reservation_id)
        .order_by(reservation_lines.c.book_id)
    )
    return ReservationRecord(
        reservation_id, ReservationState(state), tuple(ReservedLineRecord(*row) for row in lines)
    )
