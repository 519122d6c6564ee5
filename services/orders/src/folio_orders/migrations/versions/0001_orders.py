"""Orders and their lines; each order records how far its checkout saga got.

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
        "orders",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("shopper_id", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        # pending, confirmed, failed
        sa.Column("status", sa.String(16), nullable=False),
        # created -> reserved -> charged -> committed: the last step the saga recorded
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("currency_code", sa.String(3), nullable=False, server_default="USD"),
        sa.Column("payment_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("failure_reason", sa.String(300), nullable=False, server_default=""),
        # The gRPC status a retry of a failed checkout answers with again, and the field at fault.
        sa.Column("failure_code", sa.String(32), nullable=False, server_default=""),
        sa.Column("failure_field", sa.String(64), nullable=False, server_default=""),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("shipping_address", sa.JSON, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("shopper_id", "idempotency_key", name="uq_orders_shopper_key"),
    )
    op.create_index("ix_orders_shopper_created", "orders", ["shopper_id", "created_at_ms"])
    op.create_index("ix_orders_status_updated", "orders", ["status", "updated_at_ms"])
    op.create_table(
        "order_lines",
        sa.Column(
            "order_id", sa.String(40), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("book_id", sa.String(160), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_lines")
    op.drop_table("orders")
