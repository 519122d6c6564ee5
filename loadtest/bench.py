"""`make bench`: the shopper mix (loadtest/locustfile.py) headless against the shop, with a report.

Starts the embedded stack on free ports (or targets --host), measures its idle memory, runs
Locust for a fixed time and writes bench-results/shop.html (Locust's report) and
bench-results/shop.json: rps, p50/p95/p99 per endpoint, error rate, CPU and memory per service,
and Locust's own CPU — if Locust is near a full core, it, not the shop, is the limit.

With --knee it steps a fixed arrival rate (constant-throughput shoppers) up until p99 exceeds
3x p50 or errors reach 0.1%, reports the knee, then measures checkout p50/p99 at 70% of it.
"""

import argparse
import asyncio
import json
import math
import tempfile
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
from loadtest import bench_checkout

LOCUSTFILE = Path(__file__).parent / "locustfile.py"
PER_SHOPPER_RATE = 1.0  # requests per second per constant-throughput shopper in a knee step


def _processes(stack: Stack | None) -> dict[str, psutil.Process]:
    if stack is None:
        return {}
    return {name: psutil.Process(p.pid) for name, p in stack.processes.items() if p.poll() is None}


def memory_mib(stack: Stack) -> dict[str, float]:
    """Resident memory of each service process (and its children), in MiB."""
    found = {}
    for name, process in _processes(stack).items():
        tree = [process, *process.children(recursive=True)]
        found[name] = sum(p.memory_info().rss for p in tree) / 2**20
    return found


@contextmanager
def target(host: str | None) -> Iterator[tuple[str, Stack | None]]:
    """The shop to load: --host as given, else the embedded stack started here on free ports."""
    if host:
        yield host.rstrip("/"), None
        return
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "stack.log", "w") as log:
        stack = Stack(data_dir=Path(tmp) / "data", ports={s.name: free_port() for s in SERVICES}, output=log)
        stack.up()
        try:
            _wait_for_the_assistants_index(stack)
            yield stack.url("storefront").rstrip("/"), stack
        finally:
            stack.down()


def _wait_for_the_assistants_index(stack: Stack, timeout: float = 300) -> None:
    """A fresh stack's assistant indexes the seed catalog in the background: measure after that."""
    if "assistant" not in stack.ports:
        return
    import grpc

    from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports['assistant']}") as channel:
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        while time.monotonic() < deadline:
            status = stub.GetIndexStatus(assistant_pb2.GetIndexStatusRequest(), timeout=5)
            if status.indexed_books and not status.ingesting:
                return
            time.sleep(1)
    raise RuntimeError("the assistant did not finish indexing the seed catalog")


def service_usage[T](stack: Stack | None, run: Callable[[], T]) -> tuple[T, dict[str, dict[str, float]]]:
    """`run()`'s result, and the CPU seconds used and memory held by each service meanwhile."""
    processes = _processes(stack)
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


def knee(
    host: str, out: Path, *, start: float, step: float, seconds: float, limit: float
) -> tuple[float, list[dict[str, float]]]:
    """The highest arrival rate at which p99 <= 3x p50 and errors < 0.1%, and every step measured."""
    steps: list[dict[str, float]] = []
    best = 0.0
    rate = start
    while rate <= limit:
        users = max(1, math.ceil(rate / PER_SHOPPER_RATE))
        run = run_locust(
            LOCUSTFILE, host, users, seconds, out / f"knee-{rate:g}", rate=PER_SHOPPER_RATE, html=False
        )
        ok = run.total.p99 <= 3 * max(run.total.p50, 1.0) and run.error_rate < 0.001
        steps.append({
            "offered_rps": rate, "achieved_rps": round(run.total.rps, 1), "p50_ms": run.total.p50,
            "p99_ms": run.total.p99, "error_rate": round(run.error_rate, 4), "locust_cpu_percent": round(run.locust_cpu_percent),
            "within_slo": float(ok),
        })  # fmt: skip
        print(f"  step {rate:>5g} rps: achieved {run.total.rps:6.1f}  p50 {run.total.p50:5.0f} ms  "
              f"p99 {run.total.p99:5.0f} ms  errors {run.error_rate:.2%}  locust cpu {run.locust_cpu_percent:.0f}%"
              f"  {'ok' if ok else 'OVER'}")  # fmt: skip
        if not ok:
            break
        best = rate
        rate += step
    return best, steps


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
            time.sleep(5)  # let start-up work (seeding, first compiles) settle before calling it idle
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
            print("knee search (constant-throughput shoppers, one request per second each):")
            best, steps = knee(host, args.out, start=args.knee_start, step=args.knee_step,
                               seconds=args.knee_seconds, limit=args.knee_limit)  # fmt: skip
            report["knee"] = {"rps": best, "steps": steps}
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
        print(f"idle memory of the stack: {report['idle_memory_mib']['total']:.0f} MiB (target <= 1536 MiB)")
    if "knee" in report:
        print(f"knee: {report['knee']['rps']:g} rps (p99 <= 3x p50, errors < 0.1%)")
    if "checkout_at_70pct_knee" in report:
        c = report["checkout_at_70pct_knee"]
        print(
            f"checkout at {c['checkouts_per_second']}/s (70% of the knee's share): p50 {c['p50_ms']} ms  p99 {c['p99_ms']} ms  placed {c['placed']}/{c['total']}"
        )
    print(f"report: {out / 'shop.html'}, {out / 'shop.json'}")


if __name__ == "__main__":
    main()
