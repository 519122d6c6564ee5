"""The payment ledger's database: its migrations, run through the platform's database helpers."""

from pathlib import Path

from sqlalchemy import Engine

from folio_platform import database

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(url: str) -> None:
    """Bring the ledger schema to the newest revision (safe on every start)."""
    database.migrate(url, MIGRATIONS)


def create_engine_for(url: str) -> Engine:
    return database.create_engine_for(url)
