"""The `folio` command line: option checking, status against nothing running, seeding a data dir."""

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from folio_catalog.repository import SqlCatalogRepository
from folio_catalog.seed import load_seed_catalog
from folio_cli.main import app
from folio_platform.database import Database
from folio_testing.plugin import free_port

# Wide enough that typer's error box does not wrap the message.
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.mark.parametrize("port", ["catalog", "catalog:50051", "nope=1", "catalog=abc", "catalog=-1", "=80"])
def test_bad_port_override_is_refused_with_the_expected_form(port: str) -> None:
    result = runner.invoke(app, ["status", "--port", port])

    assert result.exit_code == 2
    assert (
        f"Invalid value: {port!r}: expected NAME=PORT with NAME one of dev-oidc, catalog, cart, payment, orders, assistant, storefront"
        in result.output
    )


def test_status_reports_each_service_down_when_nothing_runs() -> None:
    catalog, storefront = free_port(), free_port()

    result = runner.invoke(
        app, ["status", "--port", f"catalog={catalog}", "--port", f"storefront={storefront}"]
    )

    assert result.exit_code == 1
    assert re.search(rf"^catalog +127\.0\.0\.1:{catalog} +down$", result.output, re.M), result.output
    assert re.search(rf"^storefront +127\.0\.0\.1:{storefront} +down$", result.output, re.M), result.output


def _count(url: str) -> tuple[int, set[str]]:
    """(total books, ids of the synthetic ones) as the catalog's repository sees them."""

    async def read() -> tuple[int, set[str]]:
        page = await repository.list_books(offset=0, limit=100_000)
        return page.total, {b.id for b in page.items if b.id.startswith("synthetic-")}

    with Database.connect(url) as database:
        repository = SqlCatalogRepository(database)
        return asyncio.run(read())


def test_seed_loads_the_catalog_and_synthetic_books_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    seed_books = len(load_seed_catalog().books)

    first = runner.invoke(app, ["seed", "--data-dir", str(data_dir), "--synthetic", "50"])
    again = runner.invoke(app, ["seed", "--data-dir", str(data_dir), "--synthetic", "50"])

    assert first.exit_code == 0, first.output
    assert f"seed: {seed_books} catalog books and 50 synthetic books added" in first.output
    # The catalog's own loader reports each batch to a progress bar per part.
    assert re.search(rf"^seed catalog .* {seed_books}/{seed_books} ", first.output, re.M), first.output
    assert re.search(r"^synthetic books .* 50/50 ", first.output, re.M), first.output
    assert again.exit_code == 0, again.output
    assert "seed: 0 catalog books and 0 synthetic books added" in again.output
    total, synthetic = _count(f"sqlite:///{data_dir / 'catalog.db'}")
    assert total == seed_books + 50
    assert synthetic == {f"synthetic-{i:06d}" for i in range(50)}


def test_seed_refuses_a_negative_synthetic_count(tmp_path: Path) -> None:
    result = runner.invoke(app, ["seed", "--data-dir", str(tmp_path), "--synthetic", "-1"])

    assert result.exit_code == 2
    assert not (tmp_path / "catalog.db").exists()


@pytest.mark.parametrize("replicas", ["catalog", "catalog=0", "catalog=9", "storefront=2", "nope=2"])
def test_bad_replicas_are_refused_with_the_expected_form(replicas: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["up", "--replicas", replicas, "--data-dir", str(tmp_path)])

    assert result.exit_code == 2
    assert "expected NAME=N with N from 1 to 8 and NAME one of" in result.output
