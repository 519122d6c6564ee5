"""`make bench-catalog`: GET /api/v1/books/{id} through storefront -> gRPC -> catalog -> SQLite,
beside a bare FastAPI route returning the same JSON under the same server settings.

Before measuring it waits until the stack's background work is done (the assistant's indexing,
warm-up; see loadtest/quiet.py) and says so. Each run warms up, then measures a window: only the
requests served and the CPU time the servers spent inside that window count. It prints rps, p50/p99
and server CPU per request of each process (storefront, catalog, the others summed) for both, the
rps ratio folio/bare (target >= 0.5 on a quiet machine) and the CPU-per-request ratio bare/folio
(stable when other work shares the machine), and how long the stack took to become healthy.
Writes the figures to bench-results/catalog.json.

With --telemetry (`make bench-telemetry`) the stack is then measured in three settings taking turns
for --rounds rounds (3), each on a fresh start: telemetry off; exporting traces over OTLP/gRPC to a
real receiver in this process and serving metrics for Prometheus (scraped as often as the chart's
ServiceMonitors scrape, observability.serviceMonitor.interval) with the chart's default sampler
(global.otel.tracesSampler[Arg] in helm/folio/values.yaml); and the same with every request traced.
It prints each setting's medians and the throughput and CPU per request cost of the last two against
the first (targets <= 10% and <= 30%).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import yaml

from folio_cli.launcher import Stack, free_port
from loadtest import hop as grpc_hop
from loadtest.httpload import run_load
from loadtest.profile import describe, read, start_recording
from loadtest.quiet import cpu_seconds, processes_of, wait_until_quiet

CHART_VALUES = Path(__file__).parents[1] / "helm" / "folio" / "values.yaml"
# The processes on the measured path, printed one by one; the others are summed.
ON_THE_PATH = ("storefront", "catalog")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    name: str,
    port: int,
    path: str,
    processes: Mapping[str, psutil.Process],
    args: argparse.Namespace,
    *,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Drive `path` and charge each server process's CPU time in the measured window to the
    requests served in it (the warm-up's requests and CPU are left out). With `profile`, py-spy
    records the processes on the path during the window into that folder."""
    recorders: list[subprocess.Popen[bytes]] = []

    def sample() -> tuple[dict[str, float], float]:
        if profile is not None and not recorders:
            profile.mkdir(parents=True, exist_ok=True)
            recorders.extend(
                start_recording(processes[n].pid, profile / f"{n}.txt", args.seconds)
                for n in ON_THE_PATH
                if n in processes
            )
        return cpu_seconds(processes), _own_cpu()

    result = run_load(
        "127.0.0.1",
        port,
        path,
        connections=args.connections,
        seconds=args.seconds,
        warmup=args.warmup,
        sample=sample,
    )
    for recorder in recorders:
        recorder.wait(timeout=60)
    (servers_before, own_before), (servers_after, own_after) = result.window
    served = max(1, result.requests)
    by_process = {
        n: round((servers_after[n] - servers_before[n]) / served * 1000, 3)
        for n in servers_after
        if n in servers_before
    }
    return {
        "target": name,
        "rps": round(result.rps, 1),
        "p50_ms": round(result.percentile(50), 2),
        "p99_ms": round(result.percentile(99), 2),
        "errors": result.errors,
        "requests": result.requests,
        "server_cpu_ms_per_request": round(sum(by_process.values()), 3),
        "server_cpu_ms_per_request_by_process": by_process,
        "generator_cpu_share": round((own_after - own_before) / args.seconds, 2),
    }


@contextmanager
def scraping(ports: dict[str, int], interval: float, first: float = 5.0) -> Iterator[None]:
    """Scrape every metrics port each `interval`, as Prometheus would, while the block runs; the first
    scrape `first` seconds in, so that one falls inside the measured window (after its warm-up)."""
    stop = threading.Event()

    def scrape() -> None:
        if stop.wait(min(first, interval)):
            return
        while True:
            for port in ports.values():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    response.read()
            if stop.wait(interval):
                return

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def chart_scrape_interval() -> float:
    """How often the chart's ServiceMonitors have Prometheus scrape a pod, in seconds ("15s")."""
    interval = str(yaml.safe_load(CHART_VALUES.read_text())["observability"]["serviceMonitor"]["interval"])
    return float(interval.removesuffix("s"))


def chart_sampling() -> tuple[str, str]:
    """The trace sampler and its argument the chart ships (global.otel.tracesSampler[Arg])."""
    otel = yaml.safe_load(CHART_VALUES.read_text())["global"]["otel"]
    return str(otel["tracesSampler"]), str(otel["tracesSamplerArg"])


def measure_with_telemetry(
    data_dir: Path,
    ports: dict[str, int],
    path: str,
    args: argparse.Namespace,
    log: Any,
    *,
    label: str,
    sampler: str | None,
    sampler_arg: str = "",
) -> tuple[dict[str, Any], int]:
    """The same load on a stack exporting traces (OTLP to a real receiver in this process, sampled by
    `sampler`) and serving metrics for Prometheus, scraped as often as the chart's ServiceMonitors do;
    with `sampler` None, the same stack with telemetry off (the receiver runs all the same)."""
    from folio_testing.otlp import OtlpReceiver

    receiver = OtlpReceiver()
    receiver.start()
    metrics_ports = {"catalog": free_port(), "storefront": free_port()} if sampler else {}
    # As the chart ships it: traces over OTLP, metrics only scraped (OTEL_METRICS_EXPORTER=none).
    env: dict[str, str] = {}
    if sampler:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_TRACES_SAMPLER": sampler,
        } | ({"OTEL_TRACES_SAMPLER_ARG": sampler_arg} if sampler_arg else {})
    stack = Stack(data_dir=data_dir, ports=ports, output=log, extra_env=env, metrics_ports=metrics_ports)
    stack.up()
    try:
        print(f"{label}: {wait_until_quiet(stack).describe()}", flush=True)
        with scraping(metrics_ports, chart_scrape_interval()):
            row = measure(label, ports["storefront"], path, processes_of(stack), args)
    finally:
        stack.down()
        receiver.stop()
    return row, len(receiver.spans())


def median_row(runs: list[tuple[dict[str, Any], int]]) -> tuple[dict[str, Any], int]:
    """One row of several rounds of a setting: the median of each figure, the spans summed."""
    rows = [row for row, _ in runs]
    merged = dict(rows[0])
    for key in ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_request", "generator_cpu_share"):
        merged[key] = round(statistics.median(row[key] for row in rows), 3)
    merged["errors"] = sum(row["errors"] for row in rows)
    merged["server_cpu_ms_per_request_by_process"] = {
        name: round(statistics.median(row["server_cpu_ms_per_request_by_process"][name] for row in rows), 3)
        for name in rows[0]["server_cpu_ms_per_request_by_process"]
    }
    merged["rounds"] = len(rows)
    return merged, sum(spans for _, spans in runs)


def hop_at_half_saturation(
    catalog_port: int, data_dir: Path, folio: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """What one gRPC hop adds at half the rate the path saturated at (loadtest/hop.py); also
    written to bench-results/hop.json."""
    hop = grpc_hop.measure_hop(
        catalog_port,
        data_dir / "catalog.db",
        args.book,
        rate=max(1.0, folio["rps"] / 2),
        seconds=args.seconds,
        warmup=args.warmup,
    )
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "hop.json").write_text(json.dumps(hop | {"load_average": round(os.getloadavg()[0], 1)}, indent=2))
    return hop


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
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the storefront and the catalog with py-spy while measuring (raw stacks in DIR)",
    )
    parser.add_argument(
        "--telemetry",
        action="store_true",
        help="also measure with the chart's telemetry and with every request traced, and print the cost",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="with --telemetry: rounds of off, chart default and every request traced, taken in turn (medians)",
    )
    args = parser.parse_args()

    path = f"/api/v1/books/{args.book}"
    telemetry: list[tuple[dict[str, Any], int]] = []
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "stack.log", "w") as log:
        ports = {"catalog": free_port(), "storefront": free_port()}
        stack = Stack(data_dir=Path(tmp) / "data", ports=ports, output=log)
        cold = stack.up()
        stack.down()
        stack = Stack(data_dir=Path(tmp) / "data", ports=ports, output=log)
        warm = stack.up()
        bare = None
        try:
            print(f"telemetry off: {wait_until_quiet(stack).describe()}", flush=True)
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
            folio = measure(
                "storefront -> gRPC -> catalog -> SQLite",
                ports["storefront"],
                path,
                processes_of(stack),
                args,
                profile=args.profile,
            )
            baseline = measure(
                "bare FastAPI route, same JSON", bare_port, path, {"bare": psutil.Process(bare.pid)}, args
            )
            hop = hop_at_half_saturation(ports["catalog"], Path(tmp) / "data", folio, args)
        finally:
            if bare is not None:
                bare.terminate()
                bare.wait()
            stack.down()
        if args.telemetry:
            sampler, ratio_arg = chart_sampling()
            settings: tuple[tuple[str, str | None, str], ...] = (
                ("telemetry off (alternated)", None, ""),
                (f"chart default ({sampler} {ratio_arg})", sampler, ratio_arg),
                ("every request traced", "always_on", ""),
            )
            # The settings take turns, round after round, each on a fresh start of the same stack:
            # measured one after the other, whatever else changes on the machine meanwhile (and the
            # order itself) lands on one setting's figures.
            runs: dict[str, list[tuple[dict[str, Any], int]]] = {label: [] for label, _, _ in settings}
            for _ in range(args.rounds):
                for label, chosen, chosen_arg in settings:
                    runs[label].append(
                        measure_with_telemetry(
                            Path(tmp) / "data",
                            ports,
                            path,
                            args,
                            log,
                            label=label,
                            sampler=chosen,
                            sampler_arg=chosen_arg,
                        )
                    )
            telemetry = [median_row(runs[label]) for label, _, _ in settings]
    report(args, folio, baseline, telemetry, cold, warm)
    print(grpc_hop.describe(hop))
    if args.profile is not None:
        print(
            f"\nwhere the CPU goes on the path (py-spy, innermost hop of each sample; raw stacks in {args.profile}):"
        )
        for name in ON_THE_PATH:
            if (args.profile / f"{name}.txt").exists():
                print(describe(name, read(args.profile / f"{name}.txt")))


def _cpu_columns(row: Mapping[str, Any]) -> str:
    by_process: dict[str, float] = row["server_cpu_ms_per_request_by_process"]
    shown = [by_process.get(n) for n in ON_THE_PATH]
    others = sum(v for n, v in by_process.items() if n not in ON_THE_PATH)
    cells = ["" if v is None else f"{v:.3f}" for v in shown]
    cells.append(f"{others:.3f}" if len(by_process) > 1 else "")
    return " ".join(f"{c:>10}" for c in cells) + f" {row['server_cpu_ms_per_request']:>10.3f}"


def report(
    args: argparse.Namespace,
    folio: dict[str, Any],
    baseline: dict[str, Any],
    telemetry: list[tuple[dict[str, Any], int]],
    cold: float,
    warm: float,
) -> None:
    """Print the figures and write them to bench-results/catalog.json."""
    rps_ratio = folio["rps"] / baseline["rps"] if baseline["rps"] else 0.0
    cpu_ratio = (
        baseline["server_cpu_ms_per_request"] / folio["server_cpu_ms_per_request"]
        if folio["server_cpu_ms_per_request"]
        else 0.0
    )
    print(
        f"\nGET /api/v1/books/{args.book}: {args.connections} connections, {args.seconds:g} s measured "
        f"after {args.warmup:g} s of warm-up; server CPU in ms per request, by process\n"
    )
    print(
        f"{'target':<44} {'rps':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'storefront':>10} {'catalog':>10} {'others':>10} {'total':>10} {'loadgen':>8}"
    )
    rows = [folio, *(row for row, _ in telemetry), baseline]
    for row in rows:
        cpu = (
            _cpu_columns(row)
            if row is not baseline
            else f"{'':>10} {'':>10} {'':>10} {row['server_cpu_ms_per_request']:>10.3f}"
        )
        print(
            f"{row['target']:<44} {row['rps']:>7} {row['p50_ms']:>7} {row['p99_ms']:>7} {row['errors']:>6} "
            f"{cpu} {row['generator_cpu_share']:>8}"
        )
    print(f"\nrps ratio folio/bare: {rps_ratio:.2f} (target >= 0.5 on a quiet machine)")
    print(
        f"CPU per request ratio bare/folio: {cpu_ratio:.2f} "
        "(the stable figure when other work shares the machine)"
    )
    costs = []
    # Against telemetry off measured in the same rounds (the first setting), else the first stack.
    off = telemetry[0][0] if telemetry else folio
    for row, spans in telemetry[1:]:
        rps_cost = 1 - row["rps"] / off["rps"] if off["rps"] else 0.0
        cpu_cost = row["server_cpu_ms_per_request"] / off["server_cpu_ms_per_request"] - 1
        costs.append(
            {"target": row["target"], "rps_cost": round(rps_cost, 3), "cpu_cost": round(cpu_cost, 3)}
        )
        print(
            f"telemetry, {row['target']}: throughput cost {rps_cost:.1%}, CPU per request +{cpu_cost:.1%}; "
            f"{spans} spans received over OTLP"
        )
    if telemetry:
        print(f"  (against telemetry off in the same {off.get('rounds', 1)} rounds, medians; targets: <= 10% with "
              "the chart's default, <= 30% with every request traced; the OTLP receiver and the scraper run "
              "in this process, on the same cores)")  # fmt: skip
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
                "telemetry": [row for row, _ in telemetry],
                "telemetry_cost": costs,
                "ratio": round(rps_ratio, 3),
                "cpu_ratio": round(cpu_ratio, 3),
                "healthy_cold_s": round(cold, 2),
                "healthy_warm_s": round(warm, 2),
                "connections": args.connections,
                "seconds": args.seconds,
                "load_average": round(os.getloadavg()[0], 1),
            },
            indent=2,
        )
    )
    print(f"written to {out / 'catalog.json'} (load average of the machine: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
