"""SQL databases for the services that own one: SQLite embedded, PostgreSQL in a cluster.

One URL setting picks the engine; the drivers are the ones Folio installs (pysqlite,
psycopg 3); migrations are checked on every start and Alembic runs those not applied yet. Every service with
SQL storage has the same shape: its tables in `tables.py` (SQLAlchemy Core), its migrations
beside them, and its store built on the `Database` that `Database.open(url, migrations)` gives.
"""

import ast
import asyncio
import contextlib
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

import sqlalchemy
from sqlalchemy import Connection, Engine, event
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


def _tune_sqlite(engine: Engine, *, durable: bool) -> None:
    # NORMAL in WAL mode stays consistent but may lose the last commits on a power cut or an OS
    # crash; FULL syncs the log on every commit, so a committed transaction is never lost.
    synchronous = "FULL" if durable else "NORMAL"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside a writer; foreign keys are off by default in SQLite;
        # busy_timeout makes a second writer wait for the lock instead of failing at once.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def create_engine_for(url: str, *, pool_size: int = 8, durable: bool = False) -> Engine:
    """A pooled engine; for SQLite the file's folder is created and the connection tuned.

    `durable` is for ledgers (money, orders): SQLite then syncs every commit to disk
    (synchronous=FULL). PostgreSQL commits durably by default either way.
    """
    parsed = driver_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Looked up at call time (not imported by name) so that the OpenTelemetry SQLAlchemy
        # instrumentation, installed by configure_telemetry, traces every engine made here.
        engine = sqlalchemy.create_engine(parsed, pool_size=pool_size, max_overflow=0)
        _tune_sqlite(engine, durable=durable)
        return engine
    return sqlalchemy.create_engine(parsed, pool_size=pool_size, max_overflow=4, pool_pre_ping=True)


def _literals(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """A Python file's module-level `name = <literal>` (or `name: T = <literal>`) assignments."""
    found = {}
    targets: list[ast.expr]
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names:
                found[target.id] = ast.literal_eval(value)
    return found


def script_heads(migrations: Path) -> set[str] | None:
    """The head revisions of an Alembic script folder, from each version file's `revision` and
    `down_revision` literals as Alembic writes them; None when a file does not state them so."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations / "versions").glob("*.py"):
        if path.name.startswith(("__init__", ".#")):  # files Alembic skips too
            continue
        try:
            found = _literals(path, ("revision", "down_revision"))
        except ValueError:  # not a literal
            return None
        revision, down = found.get("revision"), found.get("down_revision")
        downs = [down] if isinstance(down, str) else list(down or ())
        if not isinstance(revision, str) or not all(isinstance(d, str) for d in downs):
            return None
        revisions.add(revision)
        parents.update(downs)
    return revisions - parents


def _applied(connection: Connection) -> set[str]:
    """The revisions Alembic recorded in its default version table (none in a new database)."""
    if not sqlalchemy.inspect(connection).has_table("alembic_version"):
        return set()
    return {
        str(v)
        for v in connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalars()
    }


def migrate(url: str, migrations: Path) -> None:
    """Bring the schema to the newest revision in `migrations` (an Alembic script folder).

    A database already at the newest revision is left as it is without importing Alembic (which
    loads every SQL dialect it knows: about half a second of a service's start)."""
    engine = create_engine_for(url, pool_size=1)
    try:
        with engine.begin() as connection:
            heads = script_heads(migrations)
            if heads and _applied(connection) == heads:
                return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(migrations))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


class Database:
    """An engine and the small thread pool its blocking calls run on.

    gRPC services serve on one asyncio loop; each storage call runs as one unit of synchronous
    SQLAlchemy Core work on this pool — one hop off the loop per call rather than one per
    database round trip with an async driver (GetBook was about 5x cheaper this way than an
    AsyncSession over aiosqlite) — with the caller's context (its trace span, its deadline)
    carried along. Stores are built on a `Database` and never close it: whoever opens it does
    (`with Database.open(...) as db:`).
    """

    def __init__(self, engine: Engine, *, workers: int = 8, name: str = "db") -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    @classmethod
    def open(
        cls, url: str, migrations: Path, *, workers: int = 8, name: str = "db", durable: bool = False
    ) -> "Database":
        """Migrate the database at `url` to the newest revision in `migrations`, then connect."""
        migrate(url, migrations)
        return cls.connect(url, workers=workers, name=name, durable=durable)

    @classmethod
    def connect(cls, url: str, *, workers: int = 8, name: str = "db", durable: bool = False) -> "Database":
        """Connect to the database at `url` as it is (no migration); `durable`: see `create_engine_for`."""
        # One connection more than threads: the loop's own, for reads by key (`read(by_key=True)`),
        # so such a read never waits on the loop for a connection a thread holds.
        engine = create_engine_for(url, pool_size=workers + 1, durable=durable)
        return cls(engine, workers=workers, name=name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    async def call[T](self, work: Callable[[], T]) -> T:
        """`work()` on the pool, in the caller's context."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(context.run, work)
        )

    async def read[T](self, work: Callable[[Connection], T], *, by_key: bool = False) -> T:
        """`work(connection)` outside an explicit transaction (reads).

        `by_key` is for a read of a few rows by their keys: on SQLite it runs on the loop itself,
        without the hop to the pool's thread and back (which costs more than such a read: a
        catalog GetBook took a quarter less CPU). In WAL mode a reader does not wait for writers,
        and the loop has a pooled connection of its own, so the loop is held for the read alone.
        """

        def run() -> T:
            with self.engine.connect() as connection:
                return work(connection)

        if by_key and self.dialect == "sqlite":
            return run()
        return await self.call(run)

    async def transaction[T](self, work: Callable[[Connection], T], *, immediate: bool = False) -> T:
        """`work(connection)` in one transaction: committed if it returns, rolled back if it raises.

        `immediate` is for work that reads before it writes: SQLite then takes the write lock
        first (BEGIN IMMEDIATE), so a second writer waits (busy_timeout) for the whole
        read-check-write rather than failing to upgrade its read lock. PostgreSQL needs no such
        hint: its row locks and re-checked UPDATE conditions do that job.
        """

        def run() -> T:
            if not (immediate and self.dialect == "sqlite"):
                with self.engine.begin() as connection:
                    return work(connection)
            with self.engine.connect() as connection:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                result = work(connection)
                connection.commit()
                return result

        return await self.call(run)

    def close(self) -> None:
        """Wait for running work, then close pooled connections."""
        self._pool.shutdown(wait=True)
        self.engine.dispose()


@contextlib.asynccontextmanager
async def open_database(
    url: str, migrations: Path, *, workers: int = 8, name: str = "db", durable: bool = False
) -> AsyncIterator[Database]:
    """`Database.open` off the event loop (migrating blocks), closed on exit: a service's storage."""
    db = await asyncio.to_thread(Database.open, url, migrations, workers=workers, name=name, durable=durable)
    try:
        yield db
    finally:
        db.close()


def insert_ignoring_conflicts(connection: Connection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect: a unique key picks one winner."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    return dialect_insert(table).on_conflict_do_nothing()
