"""The knee search in one Locust run: a fixed arrival rate per step, the same shoppers kept across steps.

The shape that drives the steps (loadtest/arrival_shape.py) is imported by locustfile.py only when
FOLIO_LOAD_STEPS is set (Locust then runs it instead of its -u/-t options). Each step raises the number of constant-throughput shoppers
(FOLIO_LOAD_RATE requests per second each) to reach its arrival rate; shoppers already running keep
going, and only the new ones do their one-off setup. A step is measured after FOLIO_LOAD_SETTLE_SECONDS,
over the rest of its FOLIO_LOAD_STEP_SECONDS, leaving out setup requests ("setup: ..."). The run stops
after the first step over the limits (p99 > 3x p50, or errors >= 0.1%) or after the last step, and
writes every measured step (with its wall-clock window, so the caller can match CPU samples) as JSON
to FOLIO_LOAD_STEPS_FILE.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Step:
    offered_rps: float
    opens_at: float
    closes_at: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    failures: int = 0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        count = len(ordered)

        def percentile(share: float) -> float:
            return round(ordered[min(count - 1, int(share * count))], 1) if count else 0.0

        p50, p99 = percentile(0.5), percentile(0.99)
        errors = self.failures / max(1, count)
        return {
            "offered_rps": self.offered_rps,
            "achieved_rps": round(count / (self.closes_at - self.opens_at), 1),
            "requests": count,
            "p50_ms": p50,
            "p99_ms": p99,
            "error_rate": round(errors, 4),
            "within_slo": p99 <= 3 * max(p50, 1.0) and errors < 0.001,
            "window": [self.opens_at, self.closes_at],
        }


def summaries(path: Path) -> list[dict[str, Any]]:
    """The steps a run measured (empty when it wrote none)."""
    return list(json.loads(path.read_text())) if path.exists() else []
