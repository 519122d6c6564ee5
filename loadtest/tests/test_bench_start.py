"""`make bench-start` reads each service's `-X importtime` lines out of the stack's shared log."""

from loadtest.bench_start import parse_importtime

LOG = """\
catalog    | import time: self [us] | cumulative | imported package
catalog    | import time:      2000 |       2000 |     sqlalchemy.sql
catalog    | import time:      1500 |       3500 |   sqlalchemy
storefront | import time:       400 |        400 | fastapi
catalog    | import time:       300 |       3800 | folio_catalog.app
catalog    | {"level": "INFO", "message": "import time: 5 s"}
storefront | import time:       100 |        500 |   fastapi.routing
"""


def test_import_times_are_summed_per_process_and_top_level_package() -> None:
    found = parse_importtime(LOG.splitlines())

    assert set(found) == {"catalog", "storefront"}
    assert found["catalog"].total_ms == 3.8
    assert found["catalog"].top(2) == [("sqlalchemy", 3.5), ("folio_catalog", 0.3)]
    assert found["storefront"].by_package_ms == {"fastapi": 0.5}
