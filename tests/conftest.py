"""The whole shop, started as `folio up` starts it, for the end-to-end tests: one stack shared by
the modules a pytest process (an xdist worker) runs, and one of their own for tests marked `own_stack`."""

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


# The services' deadlines (defaults: the storefront's 3 s request budget and 1.5 s per call, 10 s
# for a checkout; orders' 2 s per call and 5 s per charge) widened so that a loaded two-core machine
# running tests side by side is slow without answering 503. The tests about a deadline firing
# (tests/test_live_ops.py) run on the defaults.
LOADED_MACHINE_DEADLINES = {
    "FOLIO_STOREFRONT_REQUEST_TIMEOUT_SECONDS": "8",
    "FOLIO_STOREFRONT_BACKEND_TIMEOUT_SECONDS": "5",
    "FOLIO_STOREFRONT_CHECKOUT_TIMEOUT_SECONDS": "25",
    "FOLIO_ORDERS_CALL_TIMEOUT_SECONDS": "5",
    "FOLIO_ORDERS_CHARGE_TIMEOUT_SECONDS": "10",
}
# How long a stack may take to become healthy: seconds alone, up to a minute or more beside other tests.
STACK_START_SECONDS = 120


@contextmanager
def running_shop(data_dir: Path) -> Iterator[RunningStack]:
    """Every service as a process on free ports over `data_dir`; stopped afterwards."""
    output = io.StringIO()
    stack = Stack(
        data_dir=data_dir,
        ports={s.name: free_port() for s in SERVICES},
        output=output,
        extra_env=LOADED_MACHINE_DEADLINES,
    )
    try:
        took = stack.up(timeout=STACK_START_SECONDS)
    except ServiceFailed as error:
        pytest.fail(f"folio stack did not come up: {error}\n{output.getvalue()}")
    try:
        yield RunningStack(stack, took, output, data_dir)
    finally:
        stack.down()


@pytest.fixture(scope="session")
def shared_shop(
    tmp_path_factory: pytest.TempPathFactory, install_assistant_index: Callable[[Path], Path]
) -> Iterator[RunningStack]:
    """One stack for every test module of this pytest process (each xdist worker has its own).

    The modules that use it leave it as a shopper would: they add carts, orders and accounts, and
    never stop a service or change a flag. A test that does must be marked `own_stack`.
    """
    with running_shop(install_assistant_index(tmp_path_factory.mktemp("folio") / "data")) as running:
        yield running


@pytest.fixture(scope="module")
def own_shop(
    tmp_path_factory: pytest.TempPathFactory, install_assistant_index: Callable[[Path], Path]
) -> Iterator[RunningStack]:
    """A stack for the `own_stack` tests of one module, stopped after the module."""
    with running_shop(install_assistant_index(tmp_path_factory.mktemp("folio-own") / "data")) as running:
        yield running


@pytest.fixture
def shop(request: pytest.FixtureRequest, assistant_seed_index: Path) -> RunningStack:
    """Every service as a process on free ports, started as `folio up` starts it (with the deadlines
    of LOADED_MACHINE_DEADLINES).

    The assistant starts on a copy of the session's index of the seed catalog (which is what the
    catalog seeds), so it has nothing to ingest and no stack pays for embedding 1,109 books.
    Tests marked `own_stack` (they kill or stop services) get their module's own stack; the
    others share the session's. (Naming the index here gives these tests the long timeout of the
    ones that may wait for it to be built.)
    """
    own = request.node.get_closest_marker("own_stack") is not None
    running: RunningStack = request.getfixturevalue("own_shop" if own else "shared_shop")
    return running


@pytest.fixture
def web(shop: RunningStack) -> Iterator[httpx.Client]:
    """HTTP to the storefront, as a browser or API client reaches it."""
    with httpx.Client(base_url=shop.stack.url("storefront"), timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def seed() -> SeedCatalog:
    """The bundled seed catalog the catalog loads on its first start."""
    return load_seed_catalog()
