"""The payment ledger.

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
        "payments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", sa.String(100), nullable=False, unique=True),
        # pending (processor call in flight), succeeded, declined, refunded
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False, server_default=""),
        # Only brand and last four digits: the full number and CVV are never stored.
        sa.Column("card_brand", sa.String(16), nullable=False),
        sa.Column("card_last4", sa.String(4), nullable=False),
        sa.Column("decline_code", sa.String(40), nullable=False, server_default=""),
        sa.Column("decline_message", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("refund_key", sa.String(100), unique=True),
        sa.Column("refund_reason", sa.String(200), nullable=False, server_default=""),
        sa.Column("refunded_at_ms", sa.BigInteger),
    )
    op.create_index("ix_payments_created", "payments", ["created_at_ms", "id"])


def downgrade() -> None:
    op.drop_table("payments")
