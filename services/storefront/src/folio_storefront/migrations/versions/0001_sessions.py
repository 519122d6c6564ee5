"""Browser sessions and their refresh leases (the embedded SQLite session store).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
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
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
        # "<issuer> <sid>": a front-channel logout ends the sessions signed in under it.
        sa.Column("provider_session", sa.String(400), nullable=True),
    )
    op.create_index("ix_sessions_provider_session", "sessions", ["provider_session"])
    op.create_index("ix_sessions_seen_at", "sessions", ["seen_at"])
    op.create_table(
        "session_leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_leases")
    op.drop_table("sessions")
