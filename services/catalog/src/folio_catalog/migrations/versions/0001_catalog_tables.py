"""Catalog tables and a full-text search index (FTS5 on SQLite, tsvector on PostgreSQL).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

SQLITE_SEARCH = [
    # Title, author and description, stemmed; book_id rides along unindexed to join back.
    """CREATE VIRTUAL TABLE book_search USING fts5(
        book_id UNINDEXED, title, author, description,
        tokenize = 'porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER books_search_insert AFTER INSERT ON books BEGIN
        INSERT INTO book_search (book_id, title, author, description)
        VALUES (new.id, new.title, (SELECT name FROM authors WHERE id = new.author_id), new.description);
    END""",
    """CREATE TRIGGER books_search_update AFTER UPDATE OF title, author_id, description ON books BEGIN
        DELETE FROM book_search WHERE book_id = old.id;
        INSERT INTO book_search (book_id, title, author, description)
        VALUES (new.id, new.title, (SELECT name FROM authors WHERE id = new.author_id), new.description);
    END""",
    """CREATE TRIGGER books_search_delete AFTER DELETE ON books BEGIN
        DELETE FROM book_search WHERE book_id = old.id;
    END""",
    """CREATE TRIGGER authors_search_rename AFTER UPDATE OF name ON authors BEGIN
        UPDATE book_search SET author = new.name WHERE book_id IN (SELECT id FROM books WHERE author_id = new.id);
    END""",
]

POSTGRES_SEARCH = [
    "ALTER TABLE books ADD COLUMN search_document tsvector",
    # Weights: title A, author B, description C; ts_rank_cd ranks by them.
    """CREATE FUNCTION books_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_document :=
            setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
            setweight(to_tsvector('english',
                coalesce((SELECT name FROM authors WHERE id = NEW.author_id), '')), 'B') ||
            setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER books_search_refresh BEFORE INSERT OR UPDATE OF title, author_id, description
        ON books FOR EACH ROW EXECUTE FUNCTION books_search_refresh()""",
    "CREATE INDEX ix_books_search_document ON books USING gin (search_document)",
    """CREATE FUNCTION authors_search_rename() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE books SET title = title WHERE author_id = NEW.id;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER authors_search_rename AFTER UPDATE OF name ON authors
        FOR EACH ROW EXECUTE FUNCTION authors_search_rename()""",
]


def upgrade() -> None:
    op.create_table(
        "authors",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("born", sa.Integer),
        sa.Column("died", sa.Integer),
        sa.Column("nationality", sa.String(80), nullable=False, server_default=""),
        sa.Column("bio", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_authors_name", "authors", ["name"])
    op.create_table(
        "genres",
        sa.Column("id", sa.String(60), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "books",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("author_id", sa.String(120), sa.ForeignKey("authors.id"), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("price_minor", sa.Integer, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False, server_default="USD"),
        sa.Column("stock", sa.Integer, nullable=False, server_default="0"),
        sa.Column("featured", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint("stock >= 0", name="ck_books_stock_not_negative"),
        sa.CheckConstraint("price_minor >= 0", name="ck_books_price_not_negative"),
    )
    op.create_index("ix_books_title", "books", ["title"])
    op.create_index("ix_books_year", "books", ["year"])
    op.create_index("ix_books_featured", "books", ["featured"])
    op.create_index("ix_books_author_title", "books", ["author_id", "title"])
    op.create_table(
        "book_genres",
        sa.Column("book_id", sa.String(160), sa.ForeignKey("books.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("genre_id", sa.String(60), sa.ForeignKey("genres.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_book_genres_genre_id", "book_genres", ["genre_id"])
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_SEARCH, "postgresql": POSTGRES_SEARCH}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS book_search")
    for table in ("book_genres", "books", "genres", "authors"):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS books_search_refresh() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS authors_search_rename() CASCADE")
