"""What one gRPC hop adds to a call, at a fixed arrival rate: `make bench-catalog`'s hop figures.

The same `GetBook` is driven twice at one open-loop rate (calls sent on a fixed schedule, whether
or not earlier ones have answered, so a slow answer cannot hold the next call back):

- through the hop: a grpc.aio client built like the storefront's (`folio_platform.grpc_client`:
  its deadline policy and retry config) calls the running catalog over loopback; its latency is
  the client's stub and serialisation, HTTP/2 on both sides, the server's dispatch and interceptors
  (authorization, text checks, deadline scope), and the servicer's own work;
- without it: the catalog's own servicer over the same database file, awaited in this process (the
  same `CatalogServicer.GetBook`, the same repository and thread hop to SQLite).

The hop's latency at a percentile is the first minus the second at that percentile. Both run in
this process on uvloop, one after the other, with the same warm-up.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What the hop may add at 50% of the path's saturation (p50, p99), in milliseconds.
TARGET_P50_MS = 1.0
TARGET_P99_MS = 2.5


@dataclass(frozen=True)
class Latencies:
    """Latencies in ms of calls sent on schedule, and how late the sender was at the worst."""

    ms: list[float]
    errors: int
    worst_lateness_ms: float

    def percentile(self, q: float) -> float:
        if not self.ms:
            return float("nan")
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def open_loop(
    call: Callable[[], Awaitable[Any]], *, rate: float, seconds: float, warmup: float
) -> Latencies:
    """`call()` started every 1/`rate` s for `warmup` + `seconds`; latencies of the measured part.

    Each call runs in its own task, so the schedule holds while answers are slow; a call is timed
    from its start, and the sender's lateness against the schedule is reported beside it.
    """
    latencies: list[float] = []
    errors = 0
    worst_late = 0.0
    tasks: set[asyncio.Task[None]] = set()

    async def one(measured: bool) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            await call()
        except Exception:
            errors += measured
            return
        if measured:
            latencies.append((time.perf_counter() - started) * 1000)

    begin = time.perf_counter()
    total = int((warmup + seconds) * rate)
    for index in range(total):
        due = begin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            worst_late = max(worst_late, -delay * 1000)
        task = asyncio.create_task(one(measured=index >= warmup * rate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return Latencies(latencies, errors, round(worst_late, 2))


async def _measure(
    port: int, database: str, book: str, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    from folio.catalog.v1 import catalog_pb2, catalog_pb2_grpc
    from folio_catalog.repository import SqlCatalogRepository
    from folio_catalog.servicer import CatalogServicer
    from folio_platform.database import Database
    from folio_platform.grpc_client import create_channel

    request = catalog_pb2.GetBookRequest(id=book)
    service = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
    channel = create_channel([f"127.0.0.1:{port}"], idempotent_services=[service])
    stub = catalog_pb2_grpc.CatalogServiceStub(channel)
    try:
        remote = await open_loop(lambda: stub.GetBook(request), rate=rate, seconds=seconds, warmup=warmup)
    finally:
        await channel.close(None)
    with Database.connect(database, name="hop-db") as db:
        servicer = CatalogServicer(SqlCatalogRepository(db))
        local = await open_loop(
            lambda: servicer.GetBook(request, None),  # type: ignore[arg-type]
            rate=rate,
            seconds=seconds,
            warmup=warmup,
        )
    return {"remote": remote, "local": local}


def measure_hop(
    port: int, database: Path, book: str, *, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """The hop's p50/p99 at `rate` calls/s (see the module docstring), with both sides' figures."""
    import uvloop

    url = f"sqlite:///{database.resolve()}"
    found = uvloop.run(_measure(port, url, book, rate, seconds, warmup))
    remote, local = found["remote"], found["local"]
    p50 = remote.percentile(50) - local.percentile(50)
    p99 = remote.percentile(99) - local.percentile(99)
    return {
        "rate": round(rate, 1),
        "calls": len(remote.ms),
        "errors": remote.errors + local.errors,
        "through_grpc_p50_ms": round(remote.percentile(50), 3),
        "through_grpc_p99_ms": round(remote.percentile(99), 3),
        "in_process_p50_ms": round(local.percentile(50), 3),
        "in_process_p99_ms": round(local.percentile(99), 3),
        "hop_p50_ms": round(p50, 3),
        "hop_p99_ms": round(p99, 3),
        "sender_worst_lateness_ms": max(remote.worst_lateness_ms, local.worst_lateness_ms),
        "meets_target": p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS,
    }


def describe(hop: dict[str, Any]) -> str:
    """The hop's lines of the report."""
    verdict = "meets" if hop["meets_target"] else "misses"
    return (
        f"one gRPC hop (GetBook at {hop['rate']:g}/s open loop, 50% of the path's saturation; "
        f"{hop['calls']} calls, {hop['errors']} errors):\n"
        f"  through gRPC p50 {hop['through_grpc_p50_ms']:.2f} ms  p99 {hop['through_grpc_p99_ms']:.2f} ms; "
        f"the servicer in process p50 {hop['in_process_p50_ms']:.2f} ms  p99 {hop['in_process_p99_ms']:.2f} ms\n"
        f"  the hop adds p50 {hop['hop_p50_ms']:.2f} ms  p99 {hop['hop_p99_ms']:.2f} ms -> {verdict} the target "
        f"(p50 <= {TARGET_P50_MS:g} ms, p99 <= {TARGET_P99_MS:g} ms); the sender was at worst "
        f"{hop['sender_worst_lateness_ms']:.1f} ms late"
    )
