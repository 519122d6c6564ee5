"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending
the next request as soon as the previous answer arrives.

Written for benchmarks on a 2-core machine, where the generator must stay cheap: it does
raw asyncio streams and minimal parsing, and reports its own CPU time so a reader can
check it was not the bottleneck.
"""

import asyncio
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`th percentile (0-100) of `values`; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    generator_cpu_seconds: float
    # What `sample` returned when the measured window opened and when it closed.
    window: tuple[Any, Any] = (None, None)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


async def _connection(
    host: str, port: int, path: str, warmup_until: float, stop_at: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n\r\n".encode()
    try:
        while (started := time.perf_counter()) < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if started >= warmup_until:
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.requests += 1
                result.errors += status >= 400
    finally:
        writer.close()


async def _sample_window(
    sample: Callable[[], Any], warmup: float, seconds: float, result: LoadResult
) -> None:
    await asyncio.sleep(warmup)
    opened = sample()
    await asyncio.sleep(seconds)
    result.window = (opened, sample())


async def _run(
    host: str,
    port: int,
    path: str,
    connections: int,
    seconds: float,
    warmup: float,
    sample: Callable[[], Any],
) -> LoadResult:
    result = LoadResult(0, 0, seconds, [], 0.0)
    now = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(
        _sample_window(sample, warmup, seconds, result),
        *(
            _connection(host, port, path, now + warmup, now + warmup + seconds, result)
            for _ in range(connections)
        ),
    )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    result.generator_cpu_seconds = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    return result


def run_load(
    host: str,
    port: int,
    path: str,
    *,
    connections: int,
    seconds: float,
    warmup: float,
    sample: Callable[[], Any] = lambda: None,
) -> LoadResult:
    """Drive `path` for `seconds` after `warmup`; requests and latencies only from the measured
    window, and `sample()` (e.g. the servers' CPU times) taken when that window opens and closes."""
    import uvloop

    return uvloop.run(_run(host, port, path, connections, seconds, warmup, sample))
