"""The payment ledger's table (SQLAlchemy Core) and the migrations that make it."""

from pathlib import Path

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table

MIGRATIONS = Path(__file__).parent / "migrations"

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(100), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("reference", String(100), nullable=False, server_default=""),
    Column("card_brand", String(16), nullable=False),
    Column("card_last4", String(4), nullable=False),
    Column("decline_code", String(40), nullable=False, server_default=""),
    Column("decline_message", String(200), nullable=False, server_default=""),
    Column("created_at_ms", BigInteger, nullable=False),
    # When the processor was last asked: a pending row claimed long ago was left by a crash.
    Column("claimed_at_ms", BigInteger, nullable=False, server_default="0"),
    Column("refund_key", String(100), nullable=True, unique=True),
    Column("refund_reason", String(200), nullable=False, server_default=""),
    Column("refunded_at_ms", BigInteger, nullable=True),
    Index("ix_payments_created", "created_at_ms", "id"),
)
