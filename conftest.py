"""Repository-wide pytest setup: real PostgreSQL and Redis fixtures for every test suite, and the
assistant's index of the seed catalog (built once per content, shared by its tests and the e2e stacks)."""

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["folio_testing.plugin"]


REPO = Path(__file__).resolve().parent
# Kept between runs (`make clean` removes it): the index is rebuilt only when what it holds changes.
SEED_INDEX_CACHE = REPO / ".folio" / "cache" / "assistant-seed-index"


@pytest.fixture(scope="session")
def assistant_seed_index() -> Path:
    """A data dir whose `assistant/` holds the real ingestion of the 1,109 seed books, made as
    `make bench-assistant` makes its 10,000-book index, from a real catalog over gRPC: built (about a
    minute) the first time this content is needed, then taken from the cache.

    Shared by every user: copy it with `install_assistant_index` rather than writing to it.
    """
    from folio_testing.assistant_index import cached_seed_index

    return cached_seed_index(SEED_INDEX_CACHE)


@pytest.fixture(scope="session")
def install_assistant_index(assistant_seed_index: Path) -> Callable[[Path], Path]:
    """Copies the seed index into a data dir (the layout `FOLIO_ASSISTANT_DATA_DIR` expects)."""

    def install(data_dir: Path) -> Path:
        shutil.copytree(assistant_seed_index / "assistant", data_dir / "assistant", dirs_exist_ok=True)
        return data_dir

    return install


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longer timeouts, unless a test sets its own, for what is slow before a test even starts:
    whichever test first needs the seed index may build it (a minute or more on a loaded machine),
    and an end-to-end test may first start a whole stack (up to a minute when tests run side by side)."""
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        if "assistant_seed_index" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(900))
        elif item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.timeout(300))
