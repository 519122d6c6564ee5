"""SQL databases for the services that own one: SQLite embedded, PostgreSQL in a cluster.

One URL setting picks the engine; the drivers are the ones Folio installs (pysqlite,
psycopg 3); Alembic migrations run on every start and are safe to repeat.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url


def driver_url(url: str) -> URL:
    """`url` with the driver Folio installs for its database."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database {backend!r} in {url!r}: use sqlite or postgresql")


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside a writer; foreign keys are off by default in SQLite;
        # busy_timeout makes a second writer wait for the lock instead of failing at once.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def create_engine_for(url: str, *, pool_size: int = 8) -> Engine:
    """A pooled engine; for SQLite the file's folder is created and the connection tuned."""
    parsed = driver_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, pool_size=pool_size, max_overflow=0)
        _tune_sqlite(engine)
        return engine
    return create_engine(parsed, pool_size=pool_size, max_overflow=4, pool_pre_ping=True)


def migrate(url: str, migrations: Path) -> None:
    """Bring the schema to the newest revision in `migrations` (an Alembic script folder)."""
    engine = create_engine_for(url, pool_size=1)
    config = Config()
    config.set_main_option("script_location", str(migrations))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
