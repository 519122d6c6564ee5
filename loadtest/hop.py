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
this process on uvloop, their calls interleaved on one schedule (each side at the full rate), so
both meet the same moments of a busy machine. When the in-process side's p99 is as long as the
gRPC side's, the machine's noise is larger than the hop and the hop is not judged.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.httpload import percentile

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
        return percentile(self.ms, q)


async def open_loop(
    calls: Sequence[Callable[[], Awaitable[Any]]], *, rate: float, seconds: float, warmup: float
) -> list[Latencies]:
    """Each of `calls` started `rate` times a second for `warmup` + `seconds`, interleaved on one
    schedule (so every side meets the same moments of a busy machine); latencies of the measured part.

    Each call runs in its own task, so the schedule holds while answers are slow; a call is timed
    from its start, and the sender's lateness against the schedule is reported beside it.
    """
    latencies: list[list[float]] = [[] for _ in calls]
    errors = [0 for _ in calls]
    worst_late = 0.0
    tasks: set[asyncio.Task[None]] = set()

    async def one(side: int, measured: bool) -> None:
        started = time.perf_counter()
        try:
            await calls[side]()
        except Exception:
            errors[side] += measured
            return
        if measured:
            latencies[side].append((time.perf_counter() - started) * 1000)

    begin = time.perf_counter()
    slot_rate = rate * len(calls)
    for index in range(int((warmup + seconds) * slot_rate)):
        due = begin + index / slot_rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            worst_late = max(worst_late, -delay * 1000)
        task = asyncio.create_task(one(index % len(calls), measured=index >= warmup * slot_rate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return [
        Latencies(found, failed, round(worst_late, 2))
        for found, failed in zip(latencies, errors, strict=True)
    ]


async def _measure(
    port: int, database: str, book: str, rate: float, seconds: float, warmup: float
) -> list[Latencies]:
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
        with Database.connect(database, name="hop-db") as db:
            servicer = CatalogServicer(SqlCatalogRepository(db))
            return await open_loop(
                [lambda: stub.GetBook(request), lambda: servicer.GetBook(request, None)],  # type: ignore[arg-type]
                rate=rate,
                seconds=seconds,
                warmup=warmup,
            )
    finally:
        await channel.close(None)


def measure_hop(
    port: int, database: Path, book: str, *, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """The hop's p50/p99 at `rate` calls/s (see the module docstring), with both sides' figures."""
    import uvloop

    url = f"sqlite:///{database.resolve()}"
    remote, local = uvloop.run(_measure(port, url, book, rate, seconds, warmup))
    p50 = remote.percentile(50) - local.percentile(50)
    p99 = remote.percentile(99) - local.percentile(99)
    # The in-process side has no hop: a tail of its own as long as the hop's is the machine's noise,
    # and a difference of two such tails says nothing about the hop.
    judged = p99 > 0
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
        "sender_worst_lateness_ms": remote.worst_lateness_ms,
        "judged": judged,
        "meets_target": judged and p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS,
    }


def describe(hop: dict[str, Any]) -> str:
    """The hop's lines of the report."""
    target = f"the target (p50 <= {TARGET_P50_MS:g} ms, p99 <= {TARGET_P99_MS:g} ms)"
    verdict = f"{'meets' if hop['meets_target'] else 'misses'} {target}"
    if not hop["judged"]:
        verdict = f"not judged against {target}: the in-process tail is as long (the machine's noise)"
    return (
        f"one gRPC hop (GetBook at {hop['rate']:g}/s open loop, 50% of the path's saturation; "
        f"{hop['calls']} calls, {hop['errors']} errors; the sender at worst "
        f"{hop['sender_worst_lateness_ms']:.1f} ms late):\n"
        f"  through gRPC p50 {hop['through_grpc_p50_ms']:.2f} ms  p99 {hop['through_grpc_p99_ms']:.2f} ms; "
        f"the servicer in process p50 {hop['in_process_p50_ms']:.2f} ms  p99 {hop['in_process_p99_ms']:.2f} ms\n"
        f"  the hop adds p50 {hop['hop_p50_ms']:.2f} ms  p99 {hop['hop_p99_ms']:.2f} ms -> {verdict}"
    )
