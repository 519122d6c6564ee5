"""Cart lines of the embedded (SQLite) cart store.

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


def upgrade() -> None:
    op.create_table(
        "cart_items",
        sa.Column("shopper_id", sa.String(128), primary_key=True),
        sa.Column("book_id", sa.String(160), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        # Keeps the order in which books were first added.
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_cart_items_quantity_positive"),
    )


def downgrade() -> None:
    op.drop_table("cart_items")
