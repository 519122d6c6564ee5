"""The Locust shape of the knee search (see loadtest/steps.py): one arrival rate per step."""

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from locust import LoadTestShape, events

from loadtest.steps import Step


class ArrivalSteps(LoadTestShape):
    """Steps the arrival rate through FOLIO_LOAD_STEPS ("10,20,30"); see the module docstring."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.rates = [float(r) for r in os.environ["FOLIO_LOAD_STEPS"].split(",") if r]
        self.per_shopper = float(os.environ["FOLIO_LOAD_RATE"])
        self.step_seconds = float(os.environ.get("FOLIO_LOAD_STEP_SECONDS", "20"))
        self.settle_seconds = float(os.environ.get("FOLIO_LOAD_SETTLE_SECONDS", "5"))
        self.out = Path(os.environ["FOLIO_LOAD_STEPS_FILE"])
        self.index = -1
        self.current: Step | None = None
        self.measured: list[dict[str, Any]] = []
        events.request.add_listener(self._record)  # type: ignore[no-untyped-call]

    def _record(
        self, request_type: str, name: str, response_time: float, exception: BaseException | None, **_: Any
    ) -> None:
        step = self.current
        if step is None or name.startswith("setup: ") or not step.opens_at <= time.time() < step.closes_at:
            return
        step.record(f"{request_type} {name}", response_time, failed=exception is not None)

    def _finish(self) -> None:
        self.out.write_text(json.dumps(self.measured, indent=2))

    def tick(self) -> tuple[int, float] | None:
        index = int(self.get_run_time() // self.step_seconds)  # type: ignore[no-untyped-call]
        if index != self.index:
            if self.current is not None:
                self.measured.append(self.current.summary())
                self._finish()
                # The looser of the two limits ends the run, so both knees are found in one run.
                if not self.measured[-1]["within_slo_without_checkout"]:
                    return None
            if index >= len(self.rates):
                return None
            now = time.time()
            self.index = index
            self.current = Step(self.rates[index], now + self.settle_seconds, now + self.step_seconds - 0.5)
        shoppers = max(1, math.ceil(self.rates[self.index] / self.per_shopper))
        return shoppers, float(shoppers)
