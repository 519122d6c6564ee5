"""The whole shop, started exactly as `folio up` starts it, for the end-to-end tests."""

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from folio_catalog.seed import SeedCatalog, load_seed_catalog
from folio_cli.launcher import ServiceFailed, Stack
from folio_cli.services import SERVICES
from folio_testing.plugin import free_port


@dataclass
class RunningStack:
    stack: Stack
    took: float
    output: io.StringIO
    data_dir: Path

    def log(self) -> str:
        """Everything the services printed so far (through the launcher's pretty printer)."""
        return self.output.getvalue()


@contextmanager
def running_shop(data_dir: Path) -> Iterator[RunningStack]:
    """Every service as a process on free ports over `data_dir`; stopped afterwards."""
    output = io.StringIO()
    stack = Stack(data_dir=data_dir, ports={s.name: free_port() for s in SERVICES}, output=output)
    try:
        took = stack.up(timeout=60)
    except ServiceFailed as error:
        pytest.fail(f"folio stack did not come up: {error}\n{output.getvalue()}")
    try:
        yield RunningStack(stack, took, output, data_dir)
    finally:
        stack.down()


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory, install_assistant_index: Callable[[Path], Path]
) -> Iterator[RunningStack]:
    """Every service as a process on free ports over a fresh data dir; stopped afterwards.

    The assistant starts on a copy of the session's index of the seed catalog (which is what the
    catalog seeds), so it has nothing to ingest and no stack pays for embedding 1,109 books.
    """
    with running_shop(install_assistant_index(tmp_path_factory.mktemp("folio") / "data")) as running:
        yield running


@pytest.fixture(scope="module")
def web(shop: RunningStack) -> Iterator[httpx.Client]:
    """HTTP to the storefront, as a browser or API client reaches it."""
    with httpx.Client(base_url=shop.stack.url("storefront"), timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def seed() -> SeedCatalog:
    """The bundled seed catalog the catalog loads on its first start."""
    return load_seed_catalog()
