"""The catalog's tables (SQLAlchemy Core) and the migrations that make them.

The search index (FTS5 on SQLite, a tsvector column on PostgreSQL) is created by the
migrations only: it differs per engine and is reached through SQL text (search.py).
"""

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

MIGRATIONS = Path(__file__).parent / "migrations"

metadata = MetaData()

authors = Table(
    "authors",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("name", String(200), nullable=False, index=True),
    Column("born", Integer),
    Column("died", Integer),
    Column("nationality", String(80), nullable=False, default=""),
    Column("bio", Text, nullable=False, default=""),
)

genres = Table(
    "genres",
    metadata,
    Column("id", String(60), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("description", Text, nullable=False, default=""),
)

books = Table(
    "books",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("title", String(300), nullable=False, index=True),
    Column("author_id", ForeignKey("authors.id"), nullable=False),
    Column("year", Integer, nullable=False, index=True),
    Column("language", String(8), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("price_minor", Integer, nullable=False),
    Column("currency_code", String(3), nullable=False, default="USD"),
    Column("stock", Integer, nullable=False, default=0),
    Column("featured", Boolean, nullable=False, default=False, index=True),
    CheckConstraint("stock >= 0", name="ck_books_stock_not_negative"),
    CheckConstraint("price_minor >= 0", name="ck_books_price_not_negative"),
    Index("ix_books_author_title", "author_id", "title"),
)

book_genres = Table(
    "book_genres",
    metadata,
    Column("book_id", ForeignKey("books.id", ondelete="CASCADE"), primary_key=True),
    Column("genre_id", ForeignKey("genres.id"), primary_key=True, index=True),
    # Order of genres for a book, most fitting first.
    Column("position", Integer, nullable=False, default=0),
)

# Stock held for one checkout, keyed by the caller's id (the order id).
reservations = Table(
    "reservations",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("reservation_id", ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True),
    Column("book_id", String(160), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", Integer, nullable=False),
    Column("currency_code", String(3), nullable=False),
)
