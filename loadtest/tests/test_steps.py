"""A knee step is judged on its own window: p99 against 3x p50, errors under 0.1%."""

from loadtest.steps import Step


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
