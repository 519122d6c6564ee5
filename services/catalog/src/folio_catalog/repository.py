"""The catalog's storage: the interface its servicer uses, and one SQL implementation of it.

`SqlCatalogRepository` runs on SQLite (embedded) and PostgreSQL (cluster) and is composed of
three parts, one per concern: books, authors and genres (books.py), free-text search
(search.py) and stock reservations (stock.py). Callers get plain frozen records (records.py).
"""

from collections.abc import Sequence
from typing import Any, Protocol

from folio_catalog.books import SqlBooks
from folio_catalog.records import (
    AuthorRecord,
    BookOrder,
    BookRecord,
    GenreRecord,
    Page,
    ReservationRecord,
    ReservationState,
    ReservedLineRecord,
)
from folio_catalog.search import SqlSearch, search_terms
from folio_catalog.stock import SqlStock
from folio_platform.database import Database

__all__ = [
    "AuthorRecord",
    "BookOrder",
    "BookRecord",
    "CatalogRepository",
    "GenreRecord",
    "Page",
    "ReservationRecord",
    "ReservationState",
    "ReservedLineRecord",
    "SqlCatalogRepository",
    "search_terms",
]


class CatalogRepository(Protocol):
    """What the catalog servicer needs from storage."""

    async def list_books(
        self,
        *,
        offset: int,
        limit: int,
        genre_id: str | None = None,
        author_id: str | None = None,
        featured_only: bool = False,
        order: BookOrder = BookOrder.TITLE,
    ) -> Page[BookRecord]: ...

    async def get_book(self, book_id: str) -> BookRecord | None: ...

    async def get_books(self, book_ids: Sequence[str]) -> list[BookRecord]:
        """The books with these ids, in no particular order; ids no book has are left out."""
        ...

    async def search_books(
        self, *, query: str, offset: int, limit: int, genre_id: str | None = None
    ) -> Page[BookRecord]: ...

    async def list_genres(self) -> list[GenreRecord]: ...

    async def genre_exists(self, genre_id: str) -> bool: ...

    async def list_authors(self, *, offset: int, limit: int) -> Page[AuthorRecord]: ...

    async def get_author(self, author_id: str) -> AuthorRecord | None: ...

    async def add_missing(
        self,
        *,
        genres: Sequence[GenreRecord],
        authors: Sequence[AuthorRecord],
        books: Sequence[BookRecord],
    ) -> int: ...

    # Administration (catalog-admin): one transaction each.

    async def create_book(self, book: BookRecord) -> BookRecord:
        """Add `book` (its author and genres must exist); AlreadyExists when the id is taken."""
        ...

    async def update_book(self, book_id: str, changes: dict[str, Any]) -> BookRecord:
        """Set the given columns (title, description, price_minor, stock, featured); NotFound if absent."""
        ...

    # Stock, held for a checkout and then sold or put back; every call is idempotent by
    # reservation id and is one transaction.

    async def reserve(self, reservation_id: str, lines: Sequence[tuple[str, int]]) -> ReservationRecord:
        """Take `quantity` copies of every (book_id, quantity) line, all or nothing."""
        ...

    async def release(self, reservation_id: str) -> ReservationRecord:
        """Put a held reservation's copies back; an unknown id is recorded as released."""
        ...

    async def commit(self, reservation_id: str) -> ReservationRecord:
        """Make a held reservation final: its copies are sold."""
        ...


class SqlCatalogRepository(SqlBooks, SqlSearch, SqlStock):
    """CatalogRepository over one `Database` (which its opener closes)."""

    def __init__(self, db: Database) -> None:
        self._db = db
