"""The orders service's tables (SQLAlchemy Core) and the migrations that make them."""

from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

MIGRATIONS = Path(__file__).parent / "migrations"

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("shopper_id", String(128), nullable=False),
    Column("idempotency_key", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", String(16), nullable=False),
    Column("total_minor", BigInteger, nullable=False, server_default="0"),
    Column("currency_code", String(3), nullable=False, server_default="USD"),
    Column("payment_id", String(40), nullable=False, server_default=""),
    Column("failure_reason", String(300), nullable=False, server_default=""),
    Column("failure_code", String(32), nullable=False, server_default=""),
    Column("failure_field", String(64), nullable=False, server_default=""),
    Column("email", String(254), nullable=False),
    Column("shipping_address", JSON, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    # Recovery's backoff: how many passes found the order still stuck, and when it may try again.
    Column("recovery_attempts", Integer, nullable=False, server_default="0"),
    Column("recover_after_ms", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("shopper_id", "idempotency_key", name="uq_orders_shopper_key"),
    Index("ix_orders_shopper_created", "shopper_id", "created_at_ms"),
    Index("ix_orders_status_updated", "status", "updated_at_ms"),
    Index("ix_orders_status_recover_after", "status", "recover_after_ms"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("book_id", String(160), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("currency_code", String(3), nullable=False),
)
