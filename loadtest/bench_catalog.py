"""`make bench-catalog`: GET /api/v1/books/{id} through storefront -> gRPC -> catalog -> SQLite,
beside a bare FastAPI route returning the same JSON under the same server settings.

Prints rps, p50/p99 and server CPU per request for both, their rps ratio (target >= 0.5),
and how long the stack took to become healthy (target <= 15 s once installed). Writes the
figures to bench-results/catalog.json.

With --telemetry (`make bench-telemetry`) the stack is measured again with full telemetry: every
request traced (the default parent-based always-on sampler) and exported over OTLP/gRPC to a real
receiver in this process, metrics served on each service's Prometheus port and scraped every
second; it prints the throughput cost against telemetry off (target <= 10% of saturation rps).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from folio_cli.launcher import Stack, free_port
from loadtest.httpload import LoadResult, run_load

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def measure(
    name: str, port: int, path: str, pids: list[int], args: argparse.Namespace
) -> dict[str, float | str]:
    before = cpu_seconds(pids)
    result: LoadResult = run_load(
        "127.0.0.1", port, path, connections=args.connections, seconds=args.seconds, warmup=args.warmup
    )
    server_cpu = cpu_seconds(pids) - before
    # server CPU also covers the warm-up; spread it over every request served in both windows.
    served = result.requests * (args.seconds + args.warmup) / args.seconds
    return {
        "target": name,
        "rps": round(result.rps, 1),
        "p50_ms": round(result.percentile(50), 2),
        "p99_ms": round(result.percentile(99), 2),
        "errors": result.errors,
        "requests": result.requests,
        "server_cpu_ms_per_request": round(server_cpu / served * 1000, 3) if served else 0.0,
        "generator_cpu_share": round(result.generator_cpu_seconds / args.seconds, 2),
    }


@contextmanager
def scraping(ports: dict[str, int], interval: float = 1.0) -> Iterator[None]:
    """Scrape every metrics port each `interval`, as Prometheus would, while the block runs."""
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(interval):
            for port in ports.values():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    response.read()

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def measure_with_telemetry(
    data_dir: Path, ports: dict[str, int], path: str, args: argparse.Namespace, log: object
) -> tuple[dict[str, float | str], int]:
    """The same load on a stack with full tracing (OTLP to a real receiver) and scraped metrics."""
    from folio_testing.otlp import OtlpReceiver

    receiver = OtlpReceiver()
    receiver.start()
    metrics_ports = {"catalog": free_port(), "storefront": free_port()}
    stack = Stack(
        data_dir=data_dir,
        ports=ports,
        output=log,  # type: ignore[arg-type]
        extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
        metrics_ports=metrics_ports,
    )
    stack.up()
    try:
        with scraping(metrics_ports):
            row = measure(
                "same, full tracing + metrics",
                ports["storefront"],
                path,
                [p.pid for p in stack.processes.values()],
                args,
            )
    finally:
        stack.down()
        receiver.stop()
    return row, len(receiver.spans())


def wait_http(port: int, path: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bare app on port {port} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--book", default="moby-dick")
    parser.add_argument(
        "--telemetry", action="store_true", help="also measure with full tracing + metrics and print the cost"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "stack.log", "w") as log:
        ports = {"catalog": free_port(), "storefront": free_port()}
        stack = Stack(data_dir=Path(tmp) / "data", ports=ports, output=log)
        cold = stack.up()
        stack.down()
        stack = Stack(data_dir=Path(tmp) / "data", ports=ports, output=log)
        warm = stack.up()
        bare = None
        try:
            path = f"/api/v1/books/{args.book}"
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['storefront']}{path}") as response:
                payload = response.read()
            payload_file = Path(tmp) / "payload.json"
            payload_file.write_bytes(payload)
            bare_port = free_port()
            bare = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "loadtest.bare_app", str(bare_port), str(payload_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            wait_http(bare_port, path)
            stack_pids = [p.pid for p in stack.processes.values()]
            folio = measure(
                "storefront -> gRPC -> catalog -> SQLite", ports["storefront"], path, stack_pids, args
            )
            baseline = measure("bare FastAPI route, same JSON", bare_port, path, [bare.pid], args)
        finally:
            if bare is not None:
                bare.terminate()
                bare.wait()
            stack.down()
        traced, spans = (
            measure_with_telemetry(Path(tmp) / "data", ports, path, args, log)
            if args.telemetry
            else (None, 0)
        )

    ratio = folio["rps"] / baseline["rps"] if baseline["rps"] else 0.0  # type: ignore[operator]
    header = f"{'target':<42} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'srv CPU ms/req':>15} {'loadgen CPU':>12}"
    print(f"\nGET /api/v1/books/{args.book}: {args.connections} connections, {args.seconds:.0f} s each\n")
    print(header)
    for row in (folio, baseline) if traced is None else (folio, traced, baseline):
        print(
            f"{row['target']:<42} {row['rps']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['errors']:>7} "
            f"{row['server_cpu_ms_per_request']:>15} {row['generator_cpu_share']:>12}"
        )
    print(f"\nrps ratio folio/bare: {ratio:.2f} (target >= 0.5)")
    cost = None
    if traced is not None:
        cost = 1 - traced["rps"] / folio["rps"] if folio["rps"] else 0.0  # type: ignore[operator]
        print(
            f"telemetry cost: {cost:.1%} of saturation rps (target <= 10%); {spans} spans received over OTLP; "
            "the receiver and the scraper run on this machine too"
        )
    print(
        f"stack healthy in {cold:.1f} s on first start (migrations + seed), {warm:.1f} s on restart (target <= 15 s)"
    )
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "catalog.json").write_text(
        json.dumps(
            {
                "folio": folio,
                "bare": baseline,
                "telemetry": traced,
                "telemetry_cost": None if cost is None else round(cost, 3),
                "ratio": round(ratio, 3),
                "healthy_cold_s": round(cold, 2),
                "healthy_warm_s": round(warm, 2),
                "connections": args.connections,
                "seconds": args.seconds,
            },
            indent=2,
        )
    )
    print(f"written to {out / 'catalog.json'}")


if __name__ == "__main__":
    main()
