"""The knee search in one Locust run: a fixed arrival rate per step, the same shoppers kept across steps.

The shape that drives the steps (loadtest/arrival_shape.py) is imported by locustfile.py only when
FOLIO_LOAD_STEPS is set (Locust then runs it instead of its -u/-t options). Each step raises the
number of paced shoppers (`poisson_pacing`, FOLIO_LOAD_RATE requests per second each) to reach its
arrival rate; shoppers already running keep going, and only the new ones do their one-off setup. A
step is measured after FOLIO_LOAD_SETTLE_SECONDS, over the rest of its FOLIO_LOAD_STEP_SECONDS,
leaving out setup requests ("setup: ..."). The run stops after the first step over the limits (p99 >
3x p50, or errors >= 0.1%) or after the last step, and writes every measured step (with its
wall-clock window, so the caller can match CPU samples, and each endpoint's p50/p99) as JSON
to FOLIO_LOAD_STEPS_FILE.
"""

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.httpload import percentile

# Checkout is a saga across five processes and one request in 40 of the mix: on its own it can be the
# mix's p99. The knee is also judged without it (it has its own benchmark, `make bench-checkout`), so
# a report says whether the rest of the shop holds a rate.
CHECKOUT = "POST /api/v1/orders"


def _within_limits(latencies: list[float], failures: int) -> bool:
    p50, p99 = _percentiles(latencies)
    return p99 <= 3 * max(p50, 1.0) and failures / max(1, len(latencies)) < 0.001


@dataclass
class Step:
    offered_rps: float
    opens_at: float
    closes_at: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    failures: int = 0
    by_endpoint: dict[str, list[float]] = field(default_factory=dict, repr=False)

    def record(self, name: str, latency_ms: float, *, failed: bool) -> None:
        self.latencies_ms.append(latency_ms)
        self.by_endpoint.setdefault(name, []).append(latency_ms)
        self.failures += failed

    def summary(self) -> dict[str, Any]:
        count = len(self.latencies_ms)
        p50, p99 = _percentiles(self.latencies_ms)
        errors = self.failures / max(1, count)
        return {
            "offered_rps": self.offered_rps,
            "achieved_rps": round(count / (self.closes_at - self.opens_at), 1),
            "requests": count,
            "p50_ms": p50,
            "p99_ms": p99,
            "error_rate": round(errors, 4),
            "within_slo": _within_limits(self.latencies_ms, self.failures),
            "within_slo_without_checkout": _within_limits(
                [ms for name, found in self.by_endpoint.items() if name != CHECKOUT for ms in found],
                self.failures,
            ),
            "window": [self.opens_at, self.closes_at],
            # Which requests make the tail: each endpoint's share of the step and its own p50/p99.
            "endpoints": {
                name: dict(
                    zip(("requests", "p50_ms", "p99_ms"), (len(found), *_percentiles(found)), strict=True)
                )
                for name, found in sorted(self.by_endpoint.items(), key=lambda item: -len(item[1]))
            },
        }


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return 0.0, 0.0
    return round(percentile(latencies, 50), 1), round(percentile(latencies, 99), 1)


def summaries(path: Path) -> list[dict[str, Any]]:
    """The steps a run measured (empty when it wrote none)."""
    return list(json.loads(path.read_text())) if path.exists() else []


def poisson_pacing(rate: float, *, clock: Callable[[], float] = time.monotonic) -> Callable[[Any], float]:
    """A Locust wait time that makes each shopper's requests a Poisson stream of `rate` per second.

    The next request is due an exponential gap after the previous one was due (not after it
    answered), so shoppers started together do not stay in step; one that fell behind goes at once
    and does not catch up in a burst.
    """
    due_at: dict[int, float] = {}

    def wait(user: Any) -> float:
        now = clock()
        due = max(due_at.get(id(user), now), now - 1 / rate) + random.expovariate(rate)
        due_at[id(user)] = due
        return max(0.0, due - now)

    return wait
