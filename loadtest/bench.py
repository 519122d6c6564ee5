"""`make bench`: the shopper mix (loadtest/locustfile.py) headless against the shop, with a report.

Starts the embedded stack on free ports (or targets --host), measures its idle memory, runs
Locust for a fixed time and writes bench-results/shop.html (Locust's report) and
bench-results/shop.json: rps, p50/p95/p99 per endpoint, error rate, CPU and memory per service,
and Locust's own CPU — if Locust is near a full core, it, not the shop, is the limit.

With --knee it steps a fixed arrival rate (Poisson-paced shoppers) up until p99 exceeds
3x p50 or errors reach 0.1%, reports the knee, then measures checkout p50/p99 at 70% of it.
"""

import argparse
import asyncio
import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from folio_cli.launcher import Stack, free_port
from folio_cli.services import SERVICES
from folio_testing.locust import run_locust, signin_env
from loadtest import bench_checkout, steps
from loadtest.bench_start import TARGET_MEMORY_MIB, memory
from loadtest.quiet import cpu_seconds, processes_of, wait_until_quiet

LOCUSTFILE = Path(__file__).parent / "locustfile.py"
# A process above this share of one core counts as saturating (one event loop runs on one core).
NEAR_SATURATION = 0.8
PER_SHOPPER_RATE = 1.0  # requests per second per paced shopper in a knee step


def memory_mib(stack: Stack) -> dict[str, float]:
    """Resident memory of each service with its children and daemons (the assistant's embedded
    FalkorDB redis-server), in MiB: what `make bench-start` counts."""
    found: dict[str, float] = {}
    for member in memory(stack):
        found[member.service] = found.get(member.service, 0.0) + member.rss_mib
    return found


@contextmanager
def target(host: str | None) -> Iterator[tuple[str, Stack | None]]:
    """The shop to load: --host as given, else the embedded stack started here on free ports, once
    its background work (the assistant's indexing, warm-up) is done."""
    if host:
        yield host.rstrip("/"), None
        return
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "stack.log", "w") as log:
        stack = Stack(data_dir=Path(tmp) / "data", ports={s.name: free_port() for s in SERVICES}, output=log)
        stack.up()
        try:
            print(wait_until_quiet(stack).describe(), flush=True)
            yield stack.url("storefront").rstrip("/"), stack
        finally:
            stack.down()


def service_usage[T](stack: Stack | None, run: Callable[[], T]) -> tuple[T, dict[str, dict[str, float]]]:
    """`run()`'s result, and the CPU seconds used and memory held by each service meanwhile."""
    processes = processes_of(stack) if stack is not None else {}
    before = {n: sum(p.cpu_times()[:2]) for n, p in processes.items()}
    result = run()
    usage = {}
    for name, process in processes.items():
        try:
            cpu = sum(process.cpu_times()[:2]) - before[name]
            usage[name] = {
                "cpu_seconds": round(cpu, 2),
                "rss_mib": round(process.memory_info().rss / 2**20, 1),
            }
        except psutil.NoSuchProcess:
            continue
    return result, usage


class CpuSampler:
    """CPU seconds of the stack's processes and of Locust, sampled every `interval` with the wall time,
    so a window's CPU share per process can be read afterwards."""

    def __init__(self, stack: Stack | None, interval: float = 0.5) -> None:
        self.processes = processes_of(stack) if stack is not None else {}
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _locust(self) -> dict[str, psutil.Process]:
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if "locust" in " ".join(child.cmdline()):
                    return {"locust": child}
        return {}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append((time.time(), cpu_seconds(self.processes | self._locust())))

    def __enter__(self) -> "CpuSampler":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cores(self, opens_at: float, closes_at: float) -> dict[str, float]:
        """Each process's average share of one core between the two wall-clock times."""

        def nearest(moment: float) -> tuple[float, dict[str, float]]:
            return min(self.samples, key=lambda sample: abs(sample[0] - moment))

        if not self.samples:
            return {}
        (t0, before), (t1, after) = nearest(opens_at), nearest(closes_at)
        if t1 <= t0:
            return {}
        return {n: round((after[n] - before[n]) / (t1 - t0), 2) for n in after if n in before}


def knee(
    host: str,
    out: Path,
    stack: Stack | None,
    *,
    start: float,
    step: float,
    seconds: float,
    limit: float,
    extra_env: dict[str, str],
) -> tuple[float, float, list[dict[str, Any]]]:
    """The highest arrival rate at which p99 <= 3x p50 and errors < 0.1%, the same without checkout
    (see loadtest/steps.py), and every step measured (one Locust run: shoppers stay across steps),
    each with the CPU share of every process."""
    rates = [start + i * step for i in range(int((limit - start) / step) + 1)]
    steps_file = out / "knee-steps.json"
    steps_file.unlink(missing_ok=True)
    env = extra_env | {
        "FOLIO_LOAD_STEPS": ",".join(f"{r:g}" for r in rates),
        "FOLIO_LOAD_STEP_SECONDS": f"{seconds:g}",
        "FOLIO_LOAD_STEPS_FILE": str(steps_file),
    }
    with CpuSampler(stack) as sampler:
        run_locust(
            LOCUSTFILE,
            host,
            1,
            seconds * len(rates),
            out / "knee",
            rate=PER_SHOPPER_RATE,
            html=False,
            extra_env=env,
        )
    measured = steps.summaries(steps_file)
    best, within = 0.0, True
    without_checkout, within_without_checkout = 0.0, True
    for row in measured:
        row["cpu_cores"] = sampler.cores(*row.pop("window"))
        busiest = max(row["cpu_cores"].items(), key=lambda item: item[1], default=("?", 0.0))
        verdict = "ok" if row["within_slo"] else "OVER"
        if not row["within_slo"] and row.get("within_slo_without_checkout"):
            verdict = "OVER (ok without checkout)"
        print(f"  step {row['offered_rps']:>5g} rps: achieved {row['achieved_rps']:6.1f}  p50 {row['p50_ms']:5.0f} ms  "
              f"p99 {row['p99_ms']:5.0f} ms  errors {row['error_rate']:.2%}  busiest {busiest[0]} "
              f"{busiest[1]:.2f} cores  {verdict}")  # fmt: skip
        if (within and not row["within_slo"]) or row is measured[-1]:
            _print_endpoints(row)
        within &= bool(row["within_slo"])
        within_without_checkout &= bool(row.get("within_slo_without_checkout", row["within_slo"]))
        if within:
            best = row["offered_rps"]
        if within_without_checkout:
            without_checkout = row["offered_rps"]
    return best, without_checkout, measured


def _print_endpoints(row: dict[str, Any]) -> None:
    """Each endpoint's share of a step and its own p50/p99: which requests make the tail."""
    for name, e in row.get("endpoints", {}).items():
        print(f"      {name:<36} {e['requests']:>5} req  p50 {e['p50_ms']:6.0f}  p99 {e['p99_ms']:6.0f} ms")


def saturates_first(measured: list[dict[str, Any]]) -> tuple[str, float, float] | None:
    """The process with the highest CPU share at the first step over the limits (else the last step):
    its name, its share of one core, and that step's rate."""
    over = [row for row in measured if not row["within_slo"]]
    row = over[0] if over else (measured[-1] if measured else None)
    if row is None or not row["cpu_cores"]:
        return None
    name, cores = max(row["cpu_cores"].items(), key=lambda item: item[1])
    return name, cores, row["offered_rps"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", help="a running shop (default: start the embedded stack here)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--knee", action="store_true", help="also step the arrival rate to find the knee")
    parser.add_argument("--knee-start", type=float, default=10)
    parser.add_argument("--knee-step", type=float, default=10)
    parser.add_argument("--knee-seconds", type=float, default=20)
    parser.add_argument("--knee-limit", type=float, default=300)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()

    report: dict[str, Any] = {}
    with target(args.host) as (host, stack):
        if stack is not None:
            idle = memory_mib(stack)
            report["idle_memory_mib"] = {
                **{k: round(v, 1) for k, v in idle.items()},
                "total": round(sum(idle.values()), 1),
            }
        members = signin_env(stack)
        run, usage = service_usage(
            stack, lambda: run_locust(LOCUSTFILE, host, args.users, args.seconds, args.out, extra_env=members)
        )
        report["mix"] = {
            "users": args.users, "seconds": args.seconds, "rps": round(run.total.rps, 1), "error_rate": round(run.error_rate, 4),
            "p50_ms": run.total.p50, "p95_ms": run.total.p95, "p99_ms": run.total.p99,
            "locust_cpu_percent": round(run.locust_cpu_percent), "services": usage,
            "endpoints": [vars(e) for e in run.endpoints],
        }  # fmt: skip
        if args.knee:
            print("knee search (shoppers paced as Poisson streams, one request per second each):")
            best, without_checkout, measured = knee(host, args.out, stack, start=args.knee_start, step=args.knee_step,
                                                    seconds=args.knee_seconds, limit=args.knee_limit, extra_env=members)  # fmt: skip
            report["knee"] = {"rps": best, "rps_without_checkout": without_checkout, "steps": measured,
                              "saturates_first": saturates_first(measured)}  # fmt: skip
            if stack is not None and best > 0:
                # Checkout alone at 70% of the knee's request rate, as checkouts/s of the mix's share.
                checkout_rate = max(1.0, round(0.7 * best * 1 / 40, 1))
                books = [
                    b["id"]
                    for b in httpx.get(f"{host}/api/v1/books", params={"page_size": 100}).json()["items"]
                    if b["stock"] >= 20
                ]
                latencies, statuses, _ = asyncio.run(bench_checkout.drive(host, books, checkout_rate, 20))
                ordered = sorted(latencies)
                report["checkout_at_70pct_knee"] = {
                    "checkouts_per_second": checkout_rate, "placed": statuses.count(201), "total": len(statuses),
                    "p50_ms": round(ordered[len(ordered) // 2], 1), "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
                }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shop.json").write_text(json.dumps(report, indent=2))
    _print(report, args.out)


def _print(report: dict[str, Any], out: Path) -> None:
    mix = report["mix"]
    print(
        f"\nshopper mix: {mix['users']} users for {mix['seconds']:g} s -> {mix['rps']} rps, errors {mix['error_rate']:.2%}"
    )
    print(
        f"  all requests: p50 {mix['p50_ms']:.0f} ms  p95 {mix['p95_ms']:.0f} ms  p99 {mix['p99_ms']:.0f} ms"
    )
    for e in sorted(mix["endpoints"], key=lambda e: -e["requests"]):
        print(
            f"  {e['name']:<42} {e['requests']:>6} req  {e['rps']:6.1f} rps  p50 {e['p50']:5.0f}  p95 {e['p95']:5.0f}  p99 {e['p99']:5.0f}  fail {e['failures']}"
        )
    for name, use in mix["services"].items():
        print(f"  {name:<11} cpu {use['cpu_seconds']:6.1f} s  rss {use['rss_mib']:6.1f} MiB")
    print(
        f"  locust's own cpu: {mix['locust_cpu_percent']}% of one core"
        + ("  <- near a full core: Locust may be the limit" if mix["locust_cpu_percent"] > 80 else "")
    )
    if "idle_memory_mib" in report:
        print(
            f"idle memory of the stack: {report['idle_memory_mib']['total']:.0f} MiB (target <= {TARGET_MEMORY_MIB:.0f} MiB)"
        )
    if "knee" in report:
        print(f"knee: {report['knee']['rps']:g} rps (p99 <= 3x p50, errors < 0.1%)")
        print(f"  without checkout ({steps.CHECKOUT}, one request in 40; see make bench-checkout): "
              f"{report['knee']['rps_without_checkout']:g} rps")  # fmt: skip
        if report["knee"]["saturates_first"]:
            name, cores, rate = report["knee"]["saturates_first"]
            print(
                f"saturates first: {name} ({cores:.2f} of a core at the {rate:g} rps step, the highest CPU share)"
            )
            if cores < NEAR_SATURATION:
                print(
                    "  no process was near a full core there: that step's tail is not CPU saturation "
                    "(first calls, locks, or other work on the machine)"
                )
    if "checkout_at_70pct_knee" in report:
        c = report["checkout_at_70pct_knee"]
        print(
            f"checkout at {c['checkouts_per_second']}/s (70% of the knee's share): p50 {c['p50_ms']} ms  p99 {c['p99_ms']} ms  placed {c['placed']}/{c['total']}"
        )
    print(f"report: {out / 'shop.html'}, {out / 'shop.json'}")


if __name__ == "__main__":
    main()
