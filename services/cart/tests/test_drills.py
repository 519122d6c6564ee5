from pathlib import Path

import pytest

from folio_cart.drills import OutageDrillStore
from folio_cart.store import Limits, Line, SqliteCartStore
from folio_cart.tables import MIGRATIONS
from folio_platform.database import Database
from folio_platform.errors import Unavailable


async def test_the_outage_drill_fails_every_call_like_a_store_that_is_down_and_lifts_live(
    tmp_path: Path,
) -> None:
    outage = False
    with Database.open(f"sqlite:///{tmp_path / 'cart.db'}", MIGRATIONS) as database:
        store = OutageDrillStore(SqliteCartStore(database, Limits()), lambda: outage)
        assert await store.add("ada", "emma", 1) == [Line("emma", 1)]

        outage = True
        for call in (
            store.get("ada"),
            store.add("ada", "emma", 1),
            store.set_quantity("ada", "emma", 2),
            store.remove("ada", "emma"),
            store.clear("ada"),
        ):
            with pytest.raises(Unavailable, match="cart store is unavailable \\(failure drill"):
                await call

        outage = False
        assert await store.get("ada") == [Line("emma", 1)]  # nothing was lost or changed meanwhile
