"""Database engines and migrations for SQLite (embedded default) and PostgreSQL."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).parent / "migrations"


def driver_url(url: str) -> URL:
    """`url` with the driver Folio installs for its database (pysqlite, psycopg 3)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
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
    engine = create_engine_for(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def create_engine_for(url: str) -> Engine:
    """The engine the service reads and writes through (from its repository's thread pool)."""
    parsed = driver_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, pool_size=8, max_overflow=0)
        _tune_sqlite(engine)
        return engine
    return create_engine(parsed, pool_size=8, max_overflow=4, pool_pre_ping=True)
