"""PostgreSQL search ignores accents, as SQLite's FTS5 (remove_diacritics) already does.

Without it "fiancee" or "eugenie" find nothing on PostgreSQL while the embedded default finds
fiancée and Eugénie. `unaccent` ships with PostgreSQL and is a trusted extension (13+), so the
database owner may create it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

UNACCENTED_REFRESH = """CREATE OR REPLACE FUNCTION books_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_document :=
            setweight(to_tsvector('english', unaccent(coalesce(NEW.title, ''))), 'A') ||
            setweight(to_tsvector('english',
                unaccent(coalesce((SELECT name FROM authors WHERE id = NEW.author_id), ''))), 'B') ||
            setweight(to_tsvector('english', unaccent(coalesce(NEW.description, ''))), 'C');
        RETURN NEW;
    END $$"""

ACCENTED_REFRESH = """CREATE OR REPLACE FUNCTION books_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_document :=
            setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
            setweight(to_tsvector('english',
                coalesce((SELECT name FROM authors WHERE id = NEW.author_id), '')), 'B') ||
            setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
        RETURN NEW;
    END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute(UNACCENTED_REFRESH)
    # Recompute every book's search document with the new function.
    op.execute("UPDATE books SET title = title")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ACCENTED_REFRESH)
    op.execute("UPDATE books SET title = title")
