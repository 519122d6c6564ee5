"""Free-text search over title, author and description with each engine's native index.

SQLite ranks with FTS5's bm25, PostgreSQL with ts_rank_cd over a weighted tsvector; both made by
the migrations. All words first; if no book has them all, any word, still best match first.
"""

import re
from typing import Any

from sqlalchemy import Connection, text

from folio_catalog.books import BOOKS_BY_IDS, book_records
from folio_catalog.records import BookRecord, Page
from folio_platform.database import Database


def search_terms(query: str) -> list[str]:
    """The words of a free-text query, lowercased; punctuation and operators are dropped."""
    return [word.lower() for word in re.findall(r"\w+", query)][:32]


def ranked_ids(
    dialect: str, terms: list[str], conjunction: str, genre_id: str | None
) -> tuple[str, dict[str, Any]]:
    """SQL selecting matching book ids, best first, and its parameters.

    Terms are bound as parameters, never spliced into SQL; the last term matches as a
    prefix so a half-typed word still finds something.
    """
    params: dict[str, Any] = {"genre_id": genre_id}
    genre_filter = (
        "AND b.id IN (SELECT book_id FROM book_genres WHERE genre_id = :genre_id)" if genre_id else ""
    )
    if dialect == "sqlite":
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
        "SELECT b.id FROM books b, to_tsquery('english', unaccent(:tsquery)) q "  # noqa: S608
        f"WHERE b.search_document @@ q {genre_filter} "
        "ORDER BY ts_rank_cd(b.search_document, q) DESC, b.title, b.id"
    )
    return sql, params


class SqlSearch:
    """The search part of the catalog repository."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def search_books(
        self, *, query: str, offset: int, limit: int, genre_id: str | None = None
    ) -> Page[BookRecord]:
        terms = search_terms(query)
        if not terms:
            return Page([], 0)
        dialect = self._db.dialect

        def work(connection: Connection) -> Page[BookRecord]:
            total = 0
            for conjunction in ("AND", "OR"):
                sql, params = ranked_ids(dialect, terms, conjunction, genre_id)
                total = connection.execute(
                    text(f"SELECT count(*) FROM ({sql}) AS hits"),  # noqa: S608
                    params,
                ).scalar_one()
                if total:
                    break
            if not total:
                return Page([], 0)
            page = connection.execute(
                text(f"{sql} LIMIT :limit OFFSET :offset"),
                {**params, "limit": limit, "offset": offset},
            )
            ids = [row[0] for row in page]
            rows = {row[0]: row for row in connection.execute(BOOKS_BY_IDS, {"ids": ids})}
            return Page(book_records(connection, [rows[i] for i in ids if i in rows]), int(total))

        return await self._db.read(work)
