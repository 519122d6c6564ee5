"""A knee step is judged on its own window: p99 against 3x p50, errors under 0.1%."""

import random

from loadtest.steps import CHECKOUT, Step, poisson_pacing


def step(latencies: list[float], failures: int = 0) -> Step:
    measured = Step(offered_rps=20, opens_at=100.0, closes_at=110.0)
    measured.latencies_ms.extend(latencies)
    measured.failures = failures
    return measured


def test_a_steady_step_is_within_the_limits() -> None:
    summary = step([10.0] * 150 + [25.0] * 50).summary()
    assert summary["within_slo"] is True
    assert summary["achieved_rps"] == 20.0
    assert (summary["p50_ms"], summary["p99_ms"]) == (10.0, 25.0)


def test_a_long_tail_puts_the_step_over() -> None:
    summary = step([10.0] * 190 + [40.0] * 10).summary()
    assert summary["p99_ms"] == 40.0
    assert summary["within_slo"] is False


def test_one_error_in_a_thousand_puts_the_step_over() -> None:
    assert step([10.0] * 999, failures=0).summary()["within_slo"] is True
    assert step([10.0] * 1000, failures=1).summary()["within_slo"] is False


def test_an_empty_step_reports_no_latency() -> None:
    summary = step([]).summary()
    assert (summary["requests"], summary["p50_ms"], summary["achieved_rps"]) == (0, 0.0, 0.0)


def test_the_step_names_the_endpoints_that_make_its_tail() -> None:
    measured = Step(offered_rps=20, opens_at=100.0, closes_at=110.0)
    for _ in range(150):
        measured.record("/api/v1/books/[id]", 10.0, failed=False)
    for _ in range(50):
        measured.record("/api/v1/orders", 90.0, failed=False)
    measured.record("/api/v1/orders", 120.0, failed=True)
    summary = measured.summary()
    assert summary["endpoints"] == {
        "/api/v1/books/[id]": {"requests": 150, "p50_ms": 10.0, "p99_ms": 10.0},
        "/api/v1/orders": {"requests": 51, "p50_ms": 90.0, "p99_ms": 120.0},
    }
    assert (summary["requests"], summary["p99_ms"], summary["within_slo"]) == (201, 90.0, False)


def test_paced_shoppers_make_a_poisson_stream_and_do_not_stay_in_step() -> None:
    random.seed(7)
    now = [0.0]
    wait = poisson_pacing(2.0, clock=lambda: now[0])
    first, second = object(), object()
    gaps = []
    for _ in range(4000):
        before = now[0]
        now[0] += wait(first)
        gaps.append(now[0] - before)
    mean = sum(gaps) / len(gaps)
    spread = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
    # Exponential gaps: mean 1/rate, standard deviation about the mean.
    assert 0.45 < mean < 0.55
    assert 0.8 < spread / mean < 1.2
    # Two shoppers asking at the same moment are sent at different times.
    assert wait(first) != wait(second)


def test_a_shopper_that_fell_behind_does_not_burst_to_catch_up() -> None:
    now = [0.0]
    wait = poisson_pacing(10.0, clock=lambda: now[0])
    shopper = object()
    wait(shopper)
    now[0] += 30.0  # a 30 s answer: 300 requests behind schedule
    waits = [wait(shopper) for _ in range(20)]
    assert sum(waits) > 1.0  # about 2 s for 20 requests at 10/s, not 20 at once


def test_the_step_is_also_judged_without_checkout() -> None:
    measured = Step(offered_rps=20, opens_at=100.0, closes_at=110.0)
    for _ in range(195):
        measured.record("GET /api/v1/books/[id]", 10.0, failed=False)
    for _ in range(5):
        measured.record(CHECKOUT, 80.0, failed=False)
    summary = measured.summary()
    assert (summary["p99_ms"], summary["within_slo"]) == (80.0, False)
    assert summary["within_slo_without_checkout"] is True
