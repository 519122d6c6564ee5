"""The embedded cart store's table (SQLAlchemy Core) and the migrations that make it."""

from pathlib import Path

from sqlalchemy import BigInteger, CheckConstraint, Column, Integer, MetaData, String, Table

MIGRATIONS = Path(__file__).parent / "migrations"

metadata = MetaData()

cart_items = Table(
    "cart_items",
    metadata,
    Column("shopper_id", String(128), primary_key=True),
    Column("book_id", String(160), primary_key=True),
    Column("quantity", Integer, nullable=False),
    # Keeps the order in which books were first added.
    Column("position", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="ck_cart_items_quantity_positive"),
)
