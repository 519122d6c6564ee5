"""Payment fixtures: an empty, migrated ledger database on SQLite and on PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from folio_payment.tables import MIGRATIONS
from folio_platform.database import Database, create_engine_for, migrate
from folio_testing.plugin import PostgresServer


@pytest.fixture(scope="session")
def postgres_ledger_url(postgres_server: PostgresServer) -> str:
    """One migrated PostgreSQL database for the session (creating one per test costs a second)."""
    url = postgres_server.create_database()
    migrate(url, MIGRATIONS)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated ledger on each backend the service supports."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'payment.db'}"
        migrate(url, MIGRATIONS)
        return url
    url = str(request.getfixturevalue("postgres_ledger_url"))
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE payments"))
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def database(engine: Engine) -> Iterator[Database]:
    """The ledger database as the service opens it (over `engine`, for tests that look underneath)."""
    with Database(engine) as database:
        yield database
