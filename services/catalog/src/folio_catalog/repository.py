"""The catalog's data access: one interface, one SQL implementation for SQLite and PostgreSQL.

Callers get plain frozen records, never ORM objects, so nothing lazy-loads outside a session.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from folio_catalog.models import AuthorRow, BookGenreRow, BookRow, GenreRow


@dataclass(frozen=True)
class AuthorRecord:
    id: str
    name: str
    born: int | None = None
    died: int | None = None
    nationality: str = ""
    bio: str = ""
    book_count: int = 0


@dataclass(frozen=True)
class GenreRecord:
    id: str
    name: str
    description: str = ""
    book_count: int = 0


@dataclass(frozen=True)
class BookRecord:
    id: str
    title: str
    author_id: str
    author_name: str
    year: int
    language: str
    genres: tuple[tuple[str, str], ...]  # (id, name), most fitting first
    description: str
    price_minor: int
    currency_code: str
    stock: int
    featured: bool = False


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    total: int


class BookOrder(Enum):
    TITLE = "title"
    YEAR = "year"
    YEAR_DESC = "year_desc"


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


def search_terms(query: str) -> list[str]:
    """The words of a free-text query, lowercased; punctuation and operators are dropped."""
    return [word.lower() for word in re.findall(r"\w+", query)][:32]


def _book_record(row: BookRow) -> BookRecord:
    return BookRecord(
        id=row.id,
        title=row.title,
        author_id=row.author_id,
        author_name=row.author.name,
        year=row.year,
        language=row.language,
        genres=tuple((link.genre.id, link.genre.name) for link in row.genre_links),
        description=row.description,
        price_minor=row.price_minor,
        currency_code=row.currency_code,
        stock=row.stock,
        featured=row.featured,
    )


def _author_record(row: AuthorRow, book_count: int) -> AuthorRecord:
    return AuthorRecord(
        id=row.id,
        name=row.name,
        born=row.born,
        died=row.died,
        nationality=row.nationality,
        bio=row.bio,
        book_count=book_count,
    )


class SqlCatalogRepository:
    """CatalogRepository over SQLAlchemy; full-text search uses each engine's native index."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._dialect = engine.dialect.name

    async def list_books(
        self,
        *,
        offset: int,
        limit: int,
        genre_id: str | None = None,
        author_id: str | None = None,
        featured_only: bool = False,
        order: BookOrder = BookOrder.TITLE,
    ) -> Page[BookRecord]:
        query = select(BookRow)
        if genre_id:
            query = query.where(
                BookRow.id.in_(select(BookGenreRow.book_id).where(BookGenreRow.genre_id == genre_id))
            )
        if author_id:
            query = query.where(BookRow.author_id == author_id)
        if featured_only:
            query = query.where(BookRow.featured.is_(True))
        ordering = {
            BookOrder.TITLE: (BookRow.title, BookRow.id),
            BookOrder.YEAR: (BookRow.year, BookRow.title, BookRow.id),
            BookOrder.YEAR_DESC: (BookRow.year.desc(), BookRow.title, BookRow.id),
        }[order]
        async with self._sessions() as session:
            total = await self._count(session, query)
            rows = await session.scalars(query.order_by(*ordering).offset(offset).limit(limit))
            return Page([_book_record(row) for row in rows.unique()], total)

    async def get_book(self, book_id: str) -> BookRecord | None:
        async with self._sessions() as session:
            row = await session.get(BookRow, book_id)
            return None if row is None else _book_record(row)

    async def search_books(
        self, *, query: str, offset: int, limit: int, genre_id: str | None = None
    ) -> Page[BookRecord]:
        terms = search_terms(query)
        if not terms:
            return Page([], 0)
        async with self._sessions() as session:
            # All words first; if nothing has them all, any word, still best match first.
            for conjunction in ("AND", "OR"):
                ranked_ids, params = self._ranked_ids(terms, conjunction, genre_id)
                total = (
                    await session.execute(text(f"SELECT count(*) FROM ({ranked_ids}) AS hits"), params)  # noqa: S608
                ).scalar_one()
                if total:
                    break
            if not total:
                return Page([], 0)
            page = await session.execute(
                text(f"{ranked_ids} LIMIT :limit OFFSET :offset"),
                {**params, "limit": limit, "offset": offset},
            )
            ids = [row[0] for row in page]
            rows = {
                row.id: row
                for row in (await session.scalars(select(BookRow).where(BookRow.id.in_(ids)))).unique()
            }
            return Page([_book_record(rows[i]) for i in ids if i in rows], total)

    def _ranked_ids(
        self, terms: list[str], conjunction: str, genre_id: str | None
    ) -> tuple[str, dict[str, Any]]:
        """SQL selecting matching book ids, best first, and its parameters.

        Terms are bound as parameters, never spliced into SQL; the last term matches as a
        prefix so a half-typed word still finds something.
        """
        params: dict[str, Any] = {"genre_id": genre_id}
        genre_filter = (
            "AND b.id IN (SELECT book_id FROM book_genres WHERE genre_id = :genre_id)" if genre_id else ""
        )
        if self._dialect == "sqlite":
            quoted = [f'"{term}"' for term in terms]
            quoted[-1] += "*"
            params["match"] = f" {conjunction} ".join(quoted)
            sql = (
                "SELECT s.book_id FROM book_search s JOIN books b ON b.id = s.book_id "  # noqa: S608
                f"WHERE book_search MATCH :match {genre_filter} "
                "ORDER BY bm25(book_search, 0.0, 10.0, 5.0, 1.0), b.title, b.id"
            )
            return sql, params
        operator = " & " if conjunction == "AND" else " | "
        lexemes = [re.sub(r"[^\w]", "", term) for term in terms]
        params["tsquery"] = operator.join(
            f"{lexeme}:*" if i == len(lexemes) - 1 else lexeme for i, lexeme in enumerate(lexemes) if lexeme
        )
        sql = (
            "SELECT b.id FROM books b, to_tsquery('english', :tsquery) q "  # noqa: S608
            f"WHERE b.search_document @@ q {genre_filter} "
            "ORDER BY ts_rank_cd(b.search_document, q) DESC, b.title, b.id"
        )
        return sql, params

    async def list_genres(self) -> list[GenreRecord]:
        counts = (
            select(BookGenreRow.genre_id, func.count().label("n")).group_by(BookGenreRow.genre_id).subquery()
        )
        query = (
            select(GenreRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.genre_id == GenreRow.id)
            .order_by(GenreRow.name)
        )
        async with self._sessions() as session:
            result = await session.execute(query)
            return [GenreRecord(g.id, g.name, g.description, n) for g, n in result]

    async def genre_exists(self, genre_id: str) -> bool:
        async with self._sessions() as session:
            return await session.get(GenreRow, genre_id) is not None

    async def list_authors(self, *, offset: int, limit: int) -> Page[AuthorRecord]:
        counts = select(BookRow.author_id, func.count().label("n")).group_by(BookRow.author_id).subquery()
        query = (
            select(AuthorRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.author_id == AuthorRow.id)
            .order_by(AuthorRow.name, AuthorRow.id)
        )
        async with self._sessions() as session:
            total = await self._count(session, select(AuthorRow))
            result = await session.execute(query.offset(offset).limit(limit))
            return Page([_author_record(a, n) for a, n in result], total)

    async def get_author(self, author_id: str) -> AuthorRecord | None:
        async with self._sessions() as session:
            row = await session.get(AuthorRow, author_id)
            if row is None:
                return None
            count = await session.scalar(select(func.count()).where(BookRow.author_id == author_id))
            return _author_record(row, count or 0)

    async def add_missing(
        self,
        *,
        genres: Sequence[GenreRecord],
        authors: Sequence[AuthorRecord],
        books: Sequence[BookRecord],
    ) -> int:
        """Insert what is not there yet, by id; existing rows (and their stock) are left alone."""
        async with self._sessions.begin() as session:
            have_genres = set(await session.scalars(select(GenreRow.id)))
            have_authors = set(await session.scalars(select(AuthorRow.id)))
            have_books = set(await session.scalars(select(BookRow.id)))
            session.add_all(
                GenreRow(id=g.id, name=g.name, description=g.description)
                for g in genres
                if g.id not in have_genres
            )
            session.add_all(
                AuthorRow(
                    id=a.id, name=a.name, born=a.born, died=a.died, nationality=a.nationality, bio=a.bio
                )
                for a in authors
                if a.id not in have_authors
            )
            await session.flush()
            new_books = [b for b in books if b.id not in have_books]
            for book in new_books:
                session.add(
                    BookRow(
                        id=book.id,
                        title=book.title,
                        author_id=book.author_id,
                        year=book.year,
                        language=book.language,
                        description=book.description,
                        price_minor=book.price_minor,
                        currency_code=book.currency_code,
                        stock=book.stock,
                        featured=book.featured,
                        genre_links=[
                            BookGenreRow(genre_id=genre_id, position=i)
                            for i, (genre_id, _) in enumerate(book.genres)
                        ],
                    )
                )
            return len(new_books)

    @staticmethod
    async def _count(session: AsyncSession, query: Select[Any]) -> int:
        return (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
