"""The performance gate fails a run whose ratios regress beyond the set fraction, and only then."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from loadtest.perf_gate import BenchmarkFileError, compare, main

BASELINE: dict[str, Any] = {
    "folio": {"rps": 600.0, "p50_ms": 20.0, "p99_ms": 60.0, "errors": 0, "server_cpu_ms_per_request": 3.0},
    "bare": {"rps": 1200.0, "p50_ms": 10.0, "p99_ms": 30.0, "errors": 0, "server_cpu_ms_per_request": 1.0},
    "ratio": 0.5,
}


def result(**folio: float) -> dict[str, Any]:
    changed = copy.deepcopy(BASELINE)
    changed["folio"].update(folio)
    return changed


def failing(current: dict[str, Any], max_regression: float = 0.25) -> list[str]:
    checks, problems = compare(current, BASELINE, max_regression)
    return [check.name for check in checks if not check.passed] + problems


def test_the_baseline_passes_against_itself() -> None:
    assert failing(BASELINE) == []


def test_a_small_slowdown_within_the_ratio_passes() -> None:
    assert failing(result(rps=480.0, p99_ms=74.0, server_cpu_ms_per_request=3.7)) == []


def test_rps_falling_beyond_the_ratio_fails() -> None:
    assert failing(result(rps=440.0)) == ["rps ratio folio/bare"]


def test_p99_growing_beyond_the_ratio_fails() -> None:
    assert failing(result(p99_ms=76.0)) == ["p99 ratio folio/bare"]


def test_cpu_per_request_growing_beyond_the_ratio_fails() -> None:
    assert failing(result(server_cpu_ms_per_request=3.9)) == ["CPU per request ratio folio/bare"]


def test_a_faster_machine_is_not_a_regression_when_both_sides_speed_up() -> None:
    faster = copy.deepcopy(BASELINE)
    for side in ("folio", "bare"):
        faster[side]["rps"] *= 3
        faster[side]["p99_ms"] /= 3
    assert failing(faster) == []


def test_errors_fail_the_run_even_when_the_ratios_hold() -> None:
    assert failing(result(errors=3)) == ["the benchmark saw 3 failed requests against folio"]


def test_a_stricter_ratio_catches_a_smaller_regression() -> None:
    slower = result(rps=540.0)  # 10% fewer rps
    assert failing(slower, 0.25) == []
    assert failing(slower, 0.05) == ["rps ratio folio/bare"]


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0])
def test_a_ratio_outside_0_to_1_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        compare(BASELINE, BASELINE, bad)


def test_a_file_that_is_not_a_bench_result_is_named() -> None:
    with pytest.raises(BenchmarkFileError, match=r"result: no numeric folio.rps"):
        compare({"folio": {}}, BASELINE)


def test_the_command_exits_1_on_regression_0_on_pass_2_on_missing_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(BASELINE))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(BASELINE))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(result(rps=300.0)))
    assert main([str(good), str(baseline)]) == 0
    assert "perf gate passed" in capsys.readouterr().out
    assert main([str(bad), str(baseline)]) == 1
    assert "perf gate FAILED: rps ratio folio/bare" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.json"), str(baseline)]) == 2
    assert "run `make bench-catalog` first" in capsys.readouterr().err


def test_the_stored_baseline_is_a_usable_bench_result() -> None:
    stored = json.loads((Path(__file__).parents[1] / "baselines" / "catalog.json").read_text())
    checks, problems = compare(stored, stored)
    assert all(check.passed for check in checks)
    assert problems == []
