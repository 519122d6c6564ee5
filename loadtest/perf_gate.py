"""The performance gate: a `make bench-catalog` result against the stored baseline.

Absolute rps depends on the machine (a laptop, a shared CI runner), so the gate compares what the
benchmark measures against its own bare-FastAPI control on the same machine in the same run:

- rps ratio folio/bare (higher is better),
- p99 latency ratio folio/bare (lower is better),
- server CPU per request ratio folio/bare (lower is better),

and fails when any of them is worse than the baseline's by more than `--max-regression` (a fraction,
0.25 by default), or when the run had errors. Update the baseline by copying a result you accept:
`cp bench-results/catalog.json loadtest/baselines/catalog.json`.
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_REGRESSION = 0.25


@dataclass(frozen=True)
class Check:
    """One metric: its baseline and current value, which way is better, and the verdict."""

    name: str
    baseline: float
    current: float
    higher_is_better: bool
    max_regression: float

    @property
    def limit(self) -> float:
        factor = 1 - self.max_regression if self.higher_is_better else 1 + self.max_regression
        return self.baseline * factor

    @property
    def passed(self) -> bool:
        return self.current >= self.limit if self.higher_is_better else self.current <= self.limit

    def describe(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        verdict = "ok" if self.passed else "REGRESSION"
        return (
            f"{self.name:<34} baseline {self.baseline:8.3f}  now {self.current:8.3f}  "
            f"(must be {sign} {self.limit:.3f})  {verdict}"
        )


class BenchmarkFileError(ValueError):
    """A result or baseline file that is not a bench-catalog result; the message says what is missing."""


def _ratio(result: dict[str, Any], key: str, source: str) -> float:
    try:
        folio = float(result["folio"][key])
        bare = float(result["bare"][key])
    except (KeyError, TypeError, ValueError) as error:
        raise BenchmarkFileError(f"{source}: no numeric folio.{key} and bare.{key} ({error})") from None
    if bare <= 0:
        raise BenchmarkFileError(f"{source}: bare.{key} is {bare}, so no ratio can be taken")
    return folio / bare


def metrics(result: dict[str, Any], source: str) -> dict[str, float]:
    """The machine-independent figures of one bench-catalog result."""
    return {
        "rps ratio folio/bare": _ratio(result, "rps", source),
        "p99 ratio folio/bare": _ratio(result, "p99_ms", source),
        "CPU per request ratio folio/bare": _ratio(result, "server_cpu_ms_per_request", source),
    }


HIGHER_IS_BETTER = {
    "rps ratio folio/bare": True,
    "p99 ratio folio/bare": False,
    "CPU per request ratio folio/bare": False,
}


def compare(
    current: dict[str, Any], baseline: dict[str, Any], max_regression: float = DEFAULT_MAX_REGRESSION
) -> tuple[list[Check], list[str]]:
    """Every check of `current` against `baseline`, and the problems that fail the run outright."""
    if not 0 <= max_regression < 1:
        raise ValueError(f"max_regression must be a fraction in [0, 1), got {max_regression}")
    now = metrics(current, "result")
    before = metrics(baseline, "baseline")
    checks = [
        Check(name, before[name], now[name], HIGHER_IS_BETTER[name], max_regression)
        for name in HIGHER_IS_BETTER
    ]
    problems = []
    errors = current.get("folio", {}).get("errors", 0)
    if errors:
        problems.append(f"the benchmark saw {errors} failed requests against folio")
    return checks, problems


def _load(path: Path, what: str) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except FileNotFoundError:
        hint = " (run `make bench-catalog` first)" if what == "result" else ""
        raise BenchmarkFileError(f"{what} {path} does not exist{hint}") from None
    except json.JSONDecodeError as error:
        raise BenchmarkFileError(f"{what} {path} is not JSON: {error}") from None
    if not isinstance(loaded, dict):
        raise BenchmarkFileError(f"{what} {path} is not a JSON object")
    return loaded


def main(argv: list[str] | None = None) -> int:
    """Print every check; exit 1 on a regression beyond the ratio, 2 on unusable input."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("result", type=Path, help="bench-results/catalog.json from `make bench-catalog`")
    parser.add_argument(
        "baseline", type=Path, help="the accepted result, e.g. loadtest/baselines/catalog.json"
    )
    parser.add_argument(
        "--max-regression",
        type=float,
        default=DEFAULT_MAX_REGRESSION,
        help="how much worse than the baseline a ratio may get, as a fraction (default %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        checks, problems = compare(
            _load(args.result, "result"), _load(args.baseline, "baseline"), args.max_regression
        )
    except (BenchmarkFileError, ValueError) as error:
        print(f"perf gate: {error}", file=sys.stderr)
        return 2
    for check in checks:
        print(check.describe())
    for problem in problems:
        print(f"FAIL: {problem}")
    failed = [check.name for check in checks if not check.passed]
    if failed or problems:
        print(f"perf gate FAILED: {', '.join(failed + problems)} (max regression {args.max_regression:.0%})")
        return 1
    print(f"perf gate passed (max regression {args.max_regression:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
