"""The platform's Database: transactions commit or roll back whole, and `immediate` serializes
read-then-write work on SQLite instead of failing it."""

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from folio_platform.database import Database, script_heads


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database.connect(f"sqlite:///{tmp_path / 'counter.db'}")
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    yield db
    db.close()


def _read(connection: Connection) -> int:
    return int(connection.execute(text("SELECT n FROM counter")).scalar_one())


def _increment_slowly(connection: Connection) -> int:
    """Read, think, write: the shape that needs the write lock from the start."""
    seen = _read(connection)
    time.sleep(0.05)
    connection.execute(text("UPDATE counter SET n = :n"), {"n": seen + 1})
    return seen + 1


async def test_a_transaction_commits_when_it_returns_and_rolls_back_when_it_raises(
    database: Database,
) -> None:
    await database.transaction(lambda c: c.execute(text("UPDATE counter SET n = 5")))

    def fail(connection: Connection) -> None:
        connection.execute(text("UPDATE counter SET n = 6"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await database.transaction(fail, immediate=True)
    assert await database.read(_read) == 5


async def test_immediate_transactions_queue_instead_of_losing_an_update(database: Database) -> None:
    results = await asyncio.gather(
        *(database.transaction(_increment_slowly, immediate=True) for _ in range(4))
    )

    assert sorted(results) == [1, 2, 3, 4]
    assert await database.read(_read) == 4


def _migrations(folder: Path) -> Path:
    """An Alembic script folder with one revision, 0001, that creates the table `things`."""
    (folder / "versions").mkdir(parents=True)
    (folder / "versions" / "__init__.py").write_text("")
    (folder / "env.py").write_text(
        "from alembic import context\n"
        "context.configure(connection=context.config.attributes['connection'])\n"
        "with context.begin_transaction():\n"
        "    context.run_migrations()\n"
    )
    _revision(
        folder, "0001", None, "op.create_table('things', sa.Column('id', sa.Integer, primary_key=True))"
    )
    (folder / "script.py.mako").write_text("")
    return folder


def _revision(folder: Path, revision: str, down: object, upgrade: str) -> None:
    (folder / "versions" / f"{revision}_step.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n"
        f"revision: str = {revision!r}\ndown_revision: str | None = {down!r}\nbranch_labels = None\n"
        f"depends_on = None\ndef upgrade():\n    {upgrade}\n"
    )


async def test_open_migrates_then_connects(tmp_path: Path) -> None:
    migrations = _migrations(tmp_path / "migrations")
    url = f"sqlite:///{tmp_path / 'data' / 'things.db'}"

    for _ in range(2):  # a second start migrates again: harmless
        with Database.open(url, migrations) as database:
            assert await database.read(lambda c: c.execute(text("SELECT count(*) FROM things")).scalar()) == 0


def _opens_with_alembic(url: str, migrations: Path) -> bool:
    """Open the database in a fresh interpreter, as a service starts; whether Alembic was imported."""
    code = (
        "import sys; from pathlib import Path; from folio_platform.database import Database\n"
        f"Database.open({url!r}, Path({str(migrations)!r})).close()\n"
        "print('alembic' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return run.stdout.strip() == "True"


def test_a_database_at_the_newest_revision_opens_without_alembic_and_a_new_revision_is_applied(
    tmp_path: Path,
) -> None:
    migrations = _migrations(tmp_path / "migrations")
    url = f"sqlite:///{tmp_path / 'things.db'}"

    assert _opens_with_alembic(url, migrations)
    assert not _opens_with_alembic(url, migrations)

    _revision(migrations, "0002", "0001", "op.add_column('things', sa.Column('name', sa.String))")
    assert _opens_with_alembic(url, migrations)
    with Database.connect(url) as database, database.engine.connect() as connection:
        assert connection.execute(text("SELECT id, name FROM things")).all() == []
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
    assert not _opens_with_alembic(url, migrations)


def test_script_heads_follow_the_down_revisions_and_give_up_on_what_is_not_a_literal(tmp_path: Path) -> None:
    migrations = _migrations(tmp_path / "migrations")
    _revision(migrations, "0002a", "0001", "pass")
    _revision(migrations, "0002b", "0001", "pass")
    assert script_heads(migrations) == {"0002a", "0002b"}

    _revision(migrations, "0003", ("0002a", "0002b"), "pass")
    assert script_heads(migrations) == {"0003"}

    (migrations / "versions" / "0004_step.py").write_text("revision = make_id()\ndown_revision = '0003'\n")
    assert script_heads(migrations) is None


@pytest.mark.parametrize(("durable", "level"), [(False, 1), (True, 2)])
def test_a_durable_database_syncs_every_commit_and_the_others_keep_theirs(
    tmp_path: Path, durable: bool, level: int
) -> None:
    """synchronous is per database: a ledger opened durable (FULL = 2) beside one that is not (NORMAL = 1)."""
    chosen = Database.connect(f"sqlite:///{tmp_path / 'chosen.db'}", durable=durable)
    other = Database.connect(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        for _ in range(2):  # every pooled connection, not just the first
            with chosen.engine.connect() as one, chosen.engine.connect() as two:
                assert one.exec_driver_sql("PRAGMA synchronous").scalar_one() == level
                assert two.exec_driver_sql("PRAGMA synchronous").scalar_one() == level
        with other.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1
    finally:
        chosen.close()
        other.close()


async def test_a_read_by_key_answers_while_every_thread_holds_a_writer(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'busy.db'}", workers=2)
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (7)"))
    release = threading.Event()

    def hold(connection: Connection) -> None:
        connection.execute(text("SELECT n FROM counter"))
        release.wait(10)

    try:
        held = [asyncio.ensure_future(db.transaction(hold)) for _ in range(2)]
        await asyncio.sleep(0.2)  # both threads now hold a connection each
        started = time.monotonic()
        assert await db.read(_read, by_key=True) == 7
        assert time.monotonic() - started < 1
        release.set()
        await asyncio.gather(*held)
    finally:
        release.set()
        db.close()
