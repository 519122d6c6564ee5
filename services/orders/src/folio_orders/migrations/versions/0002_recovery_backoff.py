"""How often recovery has tried a stuck order, and when it may try again (backoff per order).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("recovery_attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("recover_after_ms", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_orders_status_recover_after", "orders", ["status", "recover_after_ms"])


def downgrade() -> None:
    op.drop_index("ix_orders_status_recover_after", "orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("recover_after_ms")
        batch.drop_column("recovery_attempts")
