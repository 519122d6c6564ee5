"""When the processor was last asked for a pending charge, so a claim left by a crash can be recognised.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("claimed_at_ms", sa.BigInteger, nullable=False, server_default="0"))
    op.execute("UPDATE payments SET claimed_at_ms = created_at_ms")


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("claimed_at_ms")
