"""Locust's shopper mix run headless, and its results read back: for `make bench` and the tests.

The scenarios live in loadtest/locustfile.py; this runs one (in a process of its own, as Locust must)
for a fixed time and reads the per-endpoint and steady-state figures from Locust's CSV and JSON.
"""

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from folio_cli.launcher import Stack


@dataclass
class Endpoint:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float


@dataclass
class Run:
    users: int
    seconds: float
    endpoints: list[Endpoint]
    total: Endpoint
    locust_cpu_percent: float
    services: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.total.failures / max(1, self.total.requests)


def _endpoints(stats_csv: Path) -> tuple[list[Endpoint], Endpoint]:
    rows = list(csv.DictReader(stats_csv.open()))

    def endpoint(row: dict[str, str]) -> Endpoint:
        def number(key: str) -> float:
            value = row.get(key, "") or "0"
            return float(value) if value != "N/A" else 0.0

        return Endpoint(
            name=f"{row['Type']} {row['Name']}".strip(),
            requests=int(number("Request Count")),
            failures=int(number("Failure Count")),
            rps=number("Requests/s"),
            p50=number("50%"),
            p95=number("95%"),
            p99=number("99%"),
        )

    endpoints = [endpoint(r) for r in rows if r["Name"] != "Aggregated"]
    return endpoints, _steady_total(stats_csv.with_name("locust.json"), endpoints)


def _steady_total(locust_json: Path, endpoints: list[Endpoint]) -> Endpoint:
    """The mix in steady state: every request but each shopper's one-off setup ("setup: ..."), with
    percentiles from Locust's merged response-time histograms."""
    entries = [e for e in json.loads(locust_json.read_text()) if not e["name"].startswith("setup: ")]
    histogram: dict[int, int] = {}
    for entry in entries:
        for millis, count in entry["response_times"].items():
            histogram[int(float(millis))] = histogram.get(int(float(millis)), 0) + count
    count = sum(histogram.values())

    def percentile(share: float) -> float:
        seen = 0
        for millis in sorted(histogram):
            seen += histogram[millis]
            if seen >= share * count:
                return float(millis)
        return 0.0

    steady = [e for e in endpoints if not e.name.split(" ", 1)[-1].startswith("setup: ")]
    return Endpoint(
        "steady mix", count, sum(e["num_failures"] for e in entries), sum(e.rps for e in steady),
        percentile(0.5), percentile(0.95), percentile(0.99),
    )  # fmt: skip


def run_locust(
    locustfile: Path,
    host: str,
    users: int,
    seconds: float,
    out: Path,
    *,
    rate: float = 0.0,
    html: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Run:
    """Run `locustfile` headless for `seconds`; Locust's CSV and HTML land in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
        "-u", str(users), "-r", str(max(1, users)), "-t", f"{int(seconds)}s", "--host", host,
        "--csv", str(out / "shop"), "--json-file", str(out / "locust"), "--loglevel", "WARNING",
    ]  # fmt: skip
    if html:
        command += ["--html", str(out / "shop.html")]
    env = os.environ | ({"FOLIO_LOAD_RATE": str(rate)} if rate else {}) | (extra_env or {})
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(process.pid)
    busy = 0.0
    deadline = time.monotonic() + seconds + 120
    while process.poll() is None and time.monotonic() < deadline:
        # Sampled while it runs: an exited process's CPU time can no longer be read.
        try:
            cpu = watched.cpu_times()
            busy = cpu.user + cpu.system
        except psutil.NoSuchProcess:
            break
        time.sleep(0.5)
    _, stderr = process.communicate(timeout=30)
    if process.returncode not in (0, 1):  # 1: some requests failed, which the report shows
        raise RuntimeError(f"locust failed ({process.returncode}): {stderr[-2000:]}")
    endpoints, total = _endpoints(out / "shop_stats.csv")
    return Run(users, seconds, endpoints, total, locust_cpu_percent=100 * busy / seconds)


def signin_env(stack: "Stack | None") -> dict[str, str]:
    """The locustfile's signed-in shoppers for a local stack: one seeded person of its development
    identity provider (FOLIO_LOAD_* variables); none for a shop started elsewhere."""
    if stack is None:
        return {}
    from folio_cli import dev_identity

    person = dev_identity.people()[0].username
    return {
        "FOLIO_LOAD_SIGNIN": f"{person}:{dev_identity.passwords(stack.data_dir)[person]}",
        "FOLIO_LOAD_ISSUER": stack.url("dev-oidc").rstrip("/"),
        "FOLIO_LOAD_CLIENT_SECRET": dev_identity.client_secret(stack.data_dir, "folio-storefront"),
    }
