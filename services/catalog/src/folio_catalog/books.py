"""Books, authors and genres: reading them, loading the seed, and the admin's writes."""

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, select, update

from folio_catalog import tables
from folio_catalog.records import AuthorRecord, BookOrder, BookRecord, GenreRecord, Page
from folio_catalog.tables import authors, book_genres, books, genres
from folio_platform.database import Database
from folio_platform.errors import AlreadyExists, InvalidArgument, NotFound

# A SELECT of any columns (SQLAlchemy 2.1 types each column of a Select).
type AnySelect = Select[*tuple[Any, ...]]

_BOOK_COLUMNS = (
    books.c.id,
    books.c.title,
    books.c.author_id,
    authors.c.name,
    books.c.year,
    books.c.language,
    books.c.description,
    books.c.price_minor,
    books.c.currency_code,
    books.c.stock,
    books.c.featured,
)
BOOKS = select(*_BOOK_COLUMNS).join(authors, authors.c.id == books.c.author_id)
# The hot statements are built once: constructing a statement costs more than running it on SQLite.
_BOOK_BY_ID = BOOKS.where(books.c.id == bindparam("book_id"))
BOOKS_BY_IDS = BOOKS.where(books.c.id.in_(bindparam("ids", expanding=True)))
_GENRES_OF_BOOKS = (
    select(book_genres.c.book_id, genres.c.id, genres.c.name)
    .join(genres, genres.c.id == book_genres.c.genre_id)
    .where(book_genres.c.book_id.in_(bindparam("ids", expanding=True)))
    .order_by(book_genres.c.book_id, book_genres.c.position)
)
_GENRE_BY_ID = select(genres.c.id).where(genres.c.id == bindparam("genre_id"))
_BOOKS_PER_GENRE = (
    select(book_genres.c.genre_id, func.count().label("n")).group_by(book_genres.c.genre_id).subquery()
)
_GENRES_WITH_COUNTS = (
    select(genres.c.id, genres.c.name, genres.c.description, func.coalesce(_BOOKS_PER_GENRE.c.n, 0))
    .outerjoin(_BOOKS_PER_GENRE, _BOOKS_PER_GENRE.c.genre_id == genres.c.id)
    .order_by(genres.c.name)
)
_ORDERING = {
    BookOrder.TITLE: (books.c.title, books.c.id),
    BookOrder.YEAR: (books.c.year, books.c.title, books.c.id),
    BookOrder.YEAR_DESC: (books.c.year.desc(), books.c.title, books.c.id),
}


def book_records(connection: Connection, rows: Sequence[Sequence[Any]]) -> list[BookRecord]:
    """Records for `rows` of BOOKS, with their genres fetched in one more query."""
    ids = [row[0] for row in rows]
    genres_of: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if ids:
        for book_id, genre_id, genre_name in connection.execute(_GENRES_OF_BOOKS, {"ids": ids}):
            genres_of[book_id].append((genre_id, genre_name))
    return [
        BookRecord(
            id=r[0],
            title=r[1],
            author_id=r[2],
            author_name=r[3],
            year=r[4],
            language=r[5],
            genres=tuple(genres_of[r[0]]),
            description=r[6],
            price_minor=r[7],
            currency_code=r[8],
            stock=r[9],
            featured=bool(r[10]),
        )
        for r in rows
    ]


def _author(row: Sequence[Any]) -> AuthorRecord:
    return AuthorRecord(
        id=row[0], name=row[1], born=row[2], died=row[3], nationality=row[4], bio=row[5], book_count=row[6]
    )


def _authors() -> AnySelect:
    counts = select(books.c.author_id, func.count().label("n")).group_by(books.c.author_id).subquery()
    query: AnySelect = select(
        authors.c.id,
        authors.c.name,
        authors.c.born,
        authors.c.died,
        authors.c.nationality,
        authors.c.bio,
        func.coalesce(counts.c.n, 0),
    ).outerjoin(counts, counts.c.author_id == authors.c.id)
    return query


@functools.cache
def _book_list(*, genre: bool, author: bool, featured: bool, order: BookOrder) -> tuple[AnySelect, AnySelect]:
    """The count and page statements of one shape of book list, built once (as the hot statements
    above): `genre_id`, `author_id`, `offset` and `limit` are bound when they run."""
    query = BOOKS
    if genre:
        query = query.where(
            books.c.id.in_(
                select(book_genres.c.book_id).where(book_genres.c.genre_id == bindparam("genre_id"))
            )
        )
    if author:
        query = query.where(books.c.author_id == bindparam("author_id"))
    if featured:
        query = query.where(books.c.featured.is_(True))
    count: AnySelect = select(func.count()).select_from(query.subquery())
    page = query.order_by(*_ORDERING[order]).offset(bindparam("offset")).limit(bindparam("limit"))
    return count, page


def _count(connection: Connection, query: AnySelect) -> int:
    return int(connection.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def _book_row(book: BookRecord) -> dict[str, Any]:
    return {
        "id": book.id,
        "title": book.title,
        "author_id": book.author_id,
        "year": book.year,
        "language": book.language,
        "description": book.description,
        "price_minor": book.price_minor,
        "currency_code": book.currency_code,
        "stock": book.stock,
        "featured": book.featured,
    }


def _genre_links(book_list: Sequence[BookRecord]) -> list[dict[str, Any]]:
    return [
        {"book_id": book.id, "genre_id": genre_id, "position": position}
        for book in book_list
        for position, (genre_id, _) in enumerate(book.genres)
    ]


class SqlBooks:
    """The books part of the catalog repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
        count, page = _book_list(
            genre=bool(genre_id), author=bool(author_id), featured=featured_only, order=order
        )
        params = {"genre_id": genre_id, "author_id": author_id, "offset": offset, "limit": limit}

        def work(connection: Connection) -> Page[BookRecord]:
            total = int(connection.execute(count, params).scalar_one())
            rows = connection.execute(page, params).all()
            return Page(book_records(connection, rows), total)

        return await self._db.read(work)

    async def get_book(self, book_id: str) -> BookRecord | None:
        def work(connection: Connection) -> BookRecord | None:
            row = connection.execute(_BOOK_BY_ID, {"book_id": book_id}).first()
            return None if row is None else book_records(connection, [row])[0]

        return await self._db.read(work, by_key=True)

    async def get_books(self, book_ids: Sequence[str]) -> list[BookRecord]:
        def work(connection: Connection) -> list[BookRecord]:
            return book_records(connection, connection.execute(BOOKS_BY_IDS, {"ids": list(book_ids)}).all())

        return await self._db.read(work, by_key=True)

    async def list_genres(self) -> list[GenreRecord]:
        def work(connection: Connection) -> list[GenreRecord]:
            return [GenreRecord(*row) for row in connection.execute(_GENRES_WITH_COUNTS)]

        return await self._db.read(work)

    async def genre_exists(self, genre_id: str) -> bool:
        def work(connection: Connection) -> bool:
            return connection.execute(_GENRE_BY_ID, {"genre_id": genre_id}).first() is not None

        return await self._db.read(work, by_key=True)

    async def list_authors(self, *, offset: int, limit: int) -> Page[AuthorRecord]:
        def work(connection: Connection) -> Page[AuthorRecord]:
            total = _count(connection, select(authors.c.id))
            ordered = _authors().order_by(authors.c.name, authors.c.id)
            rows = connection.execute(ordered.offset(offset).limit(limit))
            return Page([_author(row) for row in rows], total)

        return await self._db.read(work)

    async def get_author(self, author_id: str) -> AuthorRecord | None:
        def work(connection: Connection) -> AuthorRecord | None:
            row = connection.execute(_authors().where(authors.c.id == author_id)).first()
            return None if row is None else _author(row)

        return await self._db.read(work)

    async def add_missing(
        self,
        *,
        genres: Sequence[GenreRecord],
        authors: Sequence[AuthorRecord],
        books: Sequence[BookRecord],
    ) -> int:
        """Insert what is not there yet, by id; existing rows (and their stock) are left alone."""
        # The keyword arguments (part of the repository's interface) shadow the table names.
        genre_table, author_table, book_table = tables.genres, tables.authors, tables.books

        def work(connection: Connection) -> int:
            have_genres = set(connection.scalars(select(genre_table.c.id)))
            have_authors = set(connection.scalars(select(author_table.c.id)))
            have_books = set(connection.scalars(select(book_table.c.id)))
            new_genres = [
                {"id": g.id, "name": g.name, "description": g.description}
                for g in genres
                if g.id not in have_genres
            ]
            new_authors = [
                {
                    "id": a.id,
                    "name": a.name,
                    "born": a.born,
                    "died": a.died,
                    "nationality": a.nationality,
                    "bio": a.bio,
                }
                for a in authors
                if a.id not in have_authors
            ]
            new_books = [b for b in books if b.id not in have_books]
            for table, rows in (
                (genre_table, new_genres),
                (author_table, new_authors),
                (book_table, [_book_row(b) for b in new_books]),
                (book_genres, _genre_links(new_books)),
            ):
                if rows:
                    connection.execute(insert(table), rows)
            return len(new_books)

        return await self._db.transaction(work)

    async def create_book(self, book: BookRecord) -> BookRecord:
        def work(connection: Connection) -> None:
            if connection.scalar(select(books.c.id).where(books.c.id == book.id)) is not None:
                raise AlreadyExists(f"a book with id {book.id!r} exists already")
            if connection.scalar(select(authors.c.id).where(authors.c.id == book.author_id)) is None:
                raise InvalidArgument("author_id", f"no author {book.author_id!r}")
            genre_ids = [genre_id for genre_id, _ in book.genres]
            known = set(connection.scalars(select(genres.c.id).where(genres.c.id.in_(genre_ids))))
            if missing := [g for g in genre_ids if g not in known]:
                raise InvalidArgument("genre_ids", f"no genre {missing[0]!r}")
            connection.execute(insert(books).values(_book_row(book)))
            if genre_ids:
                connection.execute(insert(book_genres), _genre_links([book]))

        await self._db.transaction(work, immediate=True)
        created = await self.get_book(book.id)
        assert created is not None
        return created

    async def update_book(self, book_id: str, changes: dict[str, Any]) -> BookRecord:
        def work(connection: Connection) -> None:
            if changes:
                updated = connection.execute(update(books).where(books.c.id == book_id).values(**changes))
                found = updated.rowcount == 1
            else:
                found = connection.scalar(select(books.c.id).where(books.c.id == book_id)) is not None
            if not found:
                raise NotFound(f"no book with id {book_id!r}")

        await self._db.transaction(work, immediate=True)
        book = await self.get_book(book_id)
        assert book is not None
        return book
