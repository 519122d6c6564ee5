"""Database engines and migrations for SQLite (embedded default) and PostgreSQL."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _driver_urls(url: str) -> tuple[URL, URL]:
    """(sync URL for migrations, async URL for serving) with the drivers Folio installs."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite"), parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        psycopg = parsed.set(drivername="postgresql+psycopg")
        return psycopg, psycopg
    raise ValueError(
        f"FOLIO_CATALOG_DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)"
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while the seed loader writes; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision (safe to run on every start)."""
    sync_url, _ = _driver_urls(url)
    if sync_url.get_backend_name() == "sqlite" and sync_url.database:
        Path(sync_url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sync_url)
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def create_engine_for(url: str) -> AsyncEngine:
    """The async engine the service reads and writes through."""
    _, async_url = _driver_urls(url)
    if async_url.get_backend_name() == "sqlite":
        engine = create_async_engine(async_url)
        _tune_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(async_url, pool_size=10, max_overflow=10, pool_pre_ping=True)
