"""`folio seed`: the catalog's own seed loader, run against a data dir or database, with a progress bar."""

import asyncio
import time
from functools import partial
from typing import Annotated

import typer

from folio_cli.commands.options import DEFAULT_DATA_DIR, DataDir, progress_bar


def seed(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    database_url: Annotated[
        str | None, typer.Option(help="catalog database (default: SQLite in data-dir)")
    ] = None,
    synthetic: Annotated[int, typer.Option(min=0, max=1_000_000, help="also add N generated books")] = 0,
) -> None:
    """Load the bundled catalog (and optional synthetic books) into the catalog database."""
    from folio_catalog.repository import SqlCatalogRepository
    from folio_catalog.seed import load_seed, load_seed_catalog, synthetic_catalog
    from folio_catalog.settings import Settings
    from folio_catalog.tables import MIGRATIONS
    from folio_platform.database import Database

    url = Settings(data_dir=data_dir, database_url=database_url).resolved_database_url()
    catalog = load_seed_catalog()
    parts = [("seed catalog", catalog)]
    if synthetic:
        parts.append(("synthetic books", synthetic_catalog(synthetic, genres=catalog.genres)))

    async def run() -> list[int]:
        with Database.open(url, MIGRATIONS) as database, progress_bar() as bar:
            repository = SqlCatalogRepository(database)
            return [
                await load_seed(
                    repository,
                    books,
                    progress=partial(bar.advance, bar.add_task(name, total=len(books.books))),
                )
                for name, books in parts
            ]

    started = time.monotonic()
    counts = asyncio.run(run())
    added, generated = counts[0], sum(counts[1:])
    typer.echo(
        f"seed: {added} catalog books and {generated} synthetic books added "
        f"in {time.monotonic() - started:.1f} s ({url})"
    )
