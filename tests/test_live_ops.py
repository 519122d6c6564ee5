"""Live operations on the running shop, started as `folio up --replicas catalog=2` starts it:
failure-drill flags flipped through `folio flags` while the stack runs, and a catalog instance
killed under steady traffic.

One stack for the whole module (drills first, the failover last: it kills a process).
"""

import io
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from folio_cli.launcher import ServiceFailed, Stack
from folio_cli.main import app as folio
from folio_cli.services import SERVICES
from folio_testing.data import checkout
from folio_testing.plugin import free_port

pytestmark = pytest.mark.e2e

# How soon a flag must act: the files are polled every 0.5 s.
WITHIN = 5.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("folio-live") / "data"
    output = io.StringIO()
    ports = {s.name: free_port() for s in SERVICES} | {"catalog-2": free_port()}
    stack = Stack(data_dir=data_dir, ports=ports, output=output, replicas={"catalog": 2})
    try:
        stack.up(timeout=90)
    except ServiceFailed as error:
        pytest.fail(f"stack did not come up: {error}\n{output.getvalue()}")
    try:
        yield stack
    finally:
        stack.down()


@pytest.fixture
def web(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url("storefront"), timeout=30) as client:
        yield client


def flags(stack: Stack, *args: str) -> str:
    """`folio flags ...` against the stack's config center, as a person types it."""
    result = CliRunner().invoke(folio, ["flags", *args, "--config-dir", str(stack.config_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def until(condition: Callable[[], bool], seconds: float = WITHIN) -> float:
    """Seconds until `condition` holds; fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _timed_get(web: httpx.Client, path: str) -> float:
    """Seconds a 200 took; infinity for any other answer (a loaded machine may miss a deadline)."""
    started = time.monotonic()
    ok = web.get(path).status_code == 200
    return time.monotonic() - started if ok else float("inf")


def applied(stack: Stack, service: str, *args: str) -> None:
    """`folio flags ...`, then wait until `service` logs that its configuration changed."""
    assert isinstance(stack.output, io.StringIO)
    output = stack.output
    changed = re.compile(
        rf"^{re.escape(service)} +\| INFO +folio_platform\.config: configuration changed", re.M
    )
    seen = len(changed.findall(output.getvalue()))
    flags(stack, *args)
    until(lambda: len(changed.findall(output.getvalue())) > seen)


@pytest.fixture(autouse=True)
def no_flags_left(stack: Stack) -> Iterator[None]:
    yield
    flags(stack, "clear")


def test_catalog_latency_slows_book_pages_live_and_clearing_restores_them(
    stack: Stack, web: httpx.Client
) -> None:
    path = f"/api/v1/books/{web.get('/api/v1/books').json()['items'][0]['id']}"
    until(lambda: _timed_get(web, path) < 0.5)

    flags(stack, "set", "catalog.latency_ms", "700")
    took = until(lambda: 0.7 <= _timed_get(web, path) < float("inf"), seconds=WITHIN + 10)
    print(f"catalog latency drill in effect after {took:.1f} s")

    flags(stack, "clear", "catalog.latency_ms")
    until(lambda: _timed_get(web, path) < 0.5)


def test_a_catalog_slower_than_the_request_budget_fails_fast_without_piling_up(
    stack: Stack, web: httpx.Client
) -> None:
    """Deadlines fire at the edge's budget (3 s), nothing piles up in the storefront, and clearing the
    flag recovers without a restart."""
    import concurrent.futures

    import psutil

    path = f"/api/v1/books/{web.get('/api/v1/books').json()['items'][0]['id']}"
    storefront = psutil.Process(stack.processes["storefront"].pid)
    threads_before, fds_before = storefront.num_threads(), storefront.num_fds()

    flags(stack, "set", "catalog.latency_ms", "8000")
    until(lambda: web.get(path).status_code == 503, seconds=WITHIN + 4)

    def slow_get(_: int) -> tuple[int, float, str]:
        started = time.monotonic()
        answer = web.get(path)
        dependency = answer.json()["error"].get("dependency", "") if answer.status_code == 503 else ""
        return answer.status_code, time.monotonic() - started, dependency

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(slow_get, range(32)))
    assert {(status, dependency) for status, _, dependency in answers} == {(503, "catalog")}
    # The request budget (FOLIO_STOREFRONT_REQUEST_TIMEOUT_SECONDS=3) bounds every answer, not the 8 s delay.
    assert max(took for _, took, _ in answers) < 5.0, sorted(took for _, took, _ in answers)
    assert storefront.num_threads() <= threads_before + 4
    assert storefront.num_fds() <= fds_before + 16

    flags(stack, "clear", "catalog.latency_ms")

    def fast_and_fine() -> bool:
        started = time.monotonic()
        return web.get(path).status_code == 200 and time.monotonic() - started < 0.5

    until(fast_and_fine, seconds=WITHIN + 10)


def _checkout(web: httpx.Client) -> httpx.Response:
    book = next(
        b for b in web.get("/api/v1/books", params={"page_size": 50}).json()["items"] if b["stock"] > 5
    )
    assert web.post("/api/v1/cart/items", json={"book_id": book["id"], "quantity": 1}).status_code in (
        200,
        201,
    )
    return web.post("/api/v1/orders", json=checkout(), headers={"Idempotency-Key": uuid.uuid4().hex})


def test_payment_failures_decline_checkout_live_and_clearing_restores_it(
    stack: Stack, web: httpx.Client
) -> None:
    # A checkout is not free to retry in a loop: wait for payment to take the flag instead.
    applied(stack, "payment", "set", "payment.failure_rate", "1")
    failed = _checkout(web)
    assert failed.status_code == 409, failed.text
    assert "failure drill" in failed.json()["error"]["message"]

    applied(stack, "payment", "clear", "payment.failure_rate")
    web.delete("/api/v1/cart")
    assert _checkout(web).status_code == 201


def test_payment_latency_slows_checkout(stack: Stack, web: httpx.Client) -> None:
    applied(stack, "payment", "set", "payment.latency_ms", "1500")
    started = time.monotonic()
    assert _checkout(web).status_code == 201
    assert time.monotonic() - started >= 1.5


def test_a_cart_store_outage_answers_503_naming_the_cart_and_clearing_restores_it(
    stack: Stack, web: httpx.Client
) -> None:
    assert web.get("/api/v1/cart").status_code == 200

    flags(stack, "set", "cart.store_outage", "true")
    until(lambda: web.get("/api/v1/cart").status_code == 503)
    error = web.get("/api/v1/cart").json()["error"]
    assert error["dependency"] == "cart"
    assert web.get("/api/v1/books").status_code == 200  # browsing is untouched

    flags(stack, "clear")
    until(lambda: web.get("/api/v1/cart").status_code == 200)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_the_memory_leak_drill_grows_the_storefront_and_clearing_releases_it(
    stack: Stack, web: httpx.Client
) -> None:
    pid = stack.processes["storefront"].pid
    flags(stack, "set", "storefront.memory_leak_max_mb", "64")
    flags(stack, "set", "storefront.memory_leak_kb_per_request", "1024")
    before = _rss_mb(pid)
    until(lambda: web.get("/healthz").status_code == 200 and _rss_mb(pid) > before + 20, seconds=30)
    for _ in range(80):
        web.get("/healthz")
    grown = _rss_mb(pid)
    assert grown - before >= 48  # 64 MiB cap, a little under for what was there already
    assert grown - before < 90  # ...and the cap holds

    flags(stack, "clear")
    until(lambda: web.get("/healthz").status_code == 200 and _rss_mb(pid) < grown - 40, seconds=30)


@dataclass
class Traffic:
    """Steady book-page requests from a background thread, counting what comes back."""

    url: str
    path: str
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                status = client.get(self.path).status_code
                if status == 200:
                    self.ok += 1
                else:
                    self.errors[status] = self.errors.get(status, 0) + 1
                time.sleep(0.02)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _answered(traffic: "Traffic") -> int:
    return traffic.ok + sum(traffic.errors.values())


def _until_answered(traffic: "Traffic", requests: int, seconds: float = 60.0) -> None:
    """Until the traffic has had `requests` more answers (however slow the machine is)."""
    wanted = _answered(traffic) + requests
    until(lambda: _answered(traffic) >= wanted, seconds=seconds)


def _both_serve(stack: Stack, traffic: "Traffic", requests: int = 120) -> tuple[int, int]:
    """CPU ticks each catalog instance spends over `requests` requests of traffic (idle ones spend ~none)."""
    pids = [stack.processes["catalog"].pid, stack.processes["catalog-2"].pid]
    before = [_cpu_ticks(p) for p in pids]
    _until_answered(traffic, requests)
    first, second = (_cpu_ticks(p) - b for p, b in zip(pids, before, strict=True))
    return first, second


def test_killing_a_catalog_instance_under_traffic_keeps_the_shop_answering(
    stack: Stack, web: httpx.Client
) -> None:
    path = f"/api/v1/books/{web.get('/api/v1/books').json()['items'][0]['id']}"
    traffic = Traffic(stack.url("storefront"), path)
    runner = threading.Thread(target=traffic.run, daemon=True)
    runner.start()
    try:
        first, second = _both_serve(stack, traffic)
        assert first > 5, f"the first catalog instance serves before the kill: {first} ticks"
        assert second > 5, f"the second catalog instance serves before the kill: {second} ticks"

        before = _answered(traffic)
        os.kill(stack.processes["catalog"].pid, signal.SIGKILL)
        stack.processes["catalog"].wait()
        _until_answered(traffic, 60)
        during_ok = traffic.ok
        answered = _answered(traffic) - before
        failed = sum(traffic.errors.values())
        print(f"while one catalog instance was dead: {answered} requests, {failed} failed ({traffic.errors})")
        assert answered > 50
        assert failed <= max(3, answered // 20), traffic.errors  # bounded: at most 5%
        assert set(traffic.errors) <= {503}  # and reported as the catalog being unavailable

        stack.start("catalog")
        stack.wait_healthy(["catalog"], timeout=60)
        time.sleep(3)  # registry refresh and reconnect
        first, second = _both_serve(stack, traffic)
        assert first > 5, f"traffic returns to the restarted instance: {first} ticks"
        assert second > 5, f"and stays on the other one: {second} ticks"
        assert traffic.ok > during_ok
    finally:
        traffic.stop.set()
        runner.join()
