"""`make bench-start`: how long `folio up`'s stack takes to be ready, and the memory it holds.

Starts the whole embedded stack the way `folio up` does (`folio_cli.launcher.Stack`, every service,
on free ports, in a fresh data directory) three times:

1. first start (migrations, seed, the assistant's first indexing): seconds to every service ready,
   then, once the index is complete and the stack is quiet, the memory of each process;
2. restart on the same data (warm: the index is there, the interpreter's caches are hot): seconds to
   every service ready, each service's own ready time, then the idle memory of each process;
3. a start with `PYTHONPROFILEIMPORTTIME=1` (`python -X importtime`): each service's import time,
   and the packages that take most of it (self time summed per top-level package).

Memory is RSS per process (a service's children, such as the assistant's embedded FalkorDB
redis-server, on their own line) and their sum, beside PSS (shared pages split between the
processes that map them: what the stack costs the machine). Prints the machine's load average:
start times move with it, RSS hardly does. Writes the figures to bench-results/start.json.
"""

import argparse
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from folio_cli.launcher import Stack, free_port
from folio_cli.services import SERVICES
from loadtest.quiet import cpu_seconds, processes_of, wait_until_quiet

TARGET_START_SECONDS = 10.0
TARGET_MEMORY_MIB = 1024.0
IMPORT_LINE = re.compile(
    r"^(?P<process>\S+)\s*\| import time:\s+(?P<self>\d+) \|\s+(?P<cumulative>\d+) \| (?P<name>.+)$"
)


@dataclass(frozen=True)
class ProcessMemory:
    """One process of the stack: the service it belongs to, what it runs, its RSS and PSS in MiB."""

    service: str
    command: str
    rss_mib: float
    pss_mib: float

    @property
    def label(self) -> str:
        return self.service if self.command == "python" else f"{self.service} > {self.command}"


def _daemons(data_dir: Path, known: set[int]) -> list[tuple[str, psutil.Process]]:
    """Processes a service started that left its tree (a daemonised server, such as the assistant's
    embedded FalkorDB redis-server), found by their working directory under the service's data."""
    found = []
    for process in psutil.process_iter(["pid", "cwd"]):
        cwd = process.info["cwd"]
        if process.info["pid"] in known or not cwd or not Path(cwd).is_relative_to(data_dir):
            continue
        parts = Path(cwd).relative_to(data_dir).parts
        found.append((parts[0] if parts else "?", process))
    return found


def memory(stack: Stack) -> list[ProcessMemory]:
    """RSS and PSS of every process of the stack: each service, its children and its daemons."""
    members: list[tuple[str, psutil.Process]] = []
    for service, process in processes_of(stack).items():
        members += [(service, p) for p in [process, *process.children(recursive=True)]]
    members += _daemons(stack.data_dir.resolve(), {p.pid for _, p in members} | {os.getpid()})
    found = []
    for service, member in members:
        try:
            info = member.memory_full_info()
            command = "python" if member.pid in {p.pid for p in stack.processes.values()} else member.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found.append(ProcessMemory(service, command, info.rss / 2**20, info.pss / 2**20))
    return sorted(
        found, key=lambda m: list(stack.processes).index(m.service) if m.service in stack.processes else 99
    )


@dataclass(frozen=True)
class Imports:
    """One process's `-X importtime` lines, summarised."""

    total_ms: float
    by_package_ms: dict[str, float]

    def top(self, count: int) -> list[tuple[str, float]]:
        return sorted(self.by_package_ms.items(), key=lambda item: -item[1])[:count]


def parse_importtime(lines: Iterable[str]) -> dict[str, Imports]:
    """`-X importtime` lines of the stack's log (each prefixed 'process | '), by process: the total
    self time and the self time summed per top-level package (`sqlalchemy.orm` counts to `sqlalchemy`)."""
    packages: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in lines:
        found = IMPORT_LINE.match(line.rstrip("\n"))
        if found is None:
            continue
        package = found["name"].strip().split(".")[0]
        packages[found["process"]][package] += int(found["self"]) / 1000
    return {
        process: Imports(round(sum(counts.values()), 1), {k: round(v, 1) for k, v in counts.items()})
        for process, counts in packages.items()
    }


def start(data_dir: Path, ports: dict[str, int], log: Any, extra_env: dict[str, str] | None = None) -> Stack:
    stack = Stack(data_dir=data_dir, ports=ports, output=log, pretty=False, extra_env=extra_env)
    stack.up(timeout=180)
    return stack


def print_memory(title: str, rows: list[ProcessMemory]) -> dict[str, Any]:
    rss = sum(r.rss_mib for r in rows)
    pss = sum(r.pss_mib for r in rows)
    print(f"\n{title}")
    print(f"  {'process':<28} {'RSS MiB':>8} {'PSS MiB':>8}")
    for row in rows:
        print(f"  {row.label:<28} {row.rss_mib:>8.1f} {row.pss_mib:>8.1f}")
    print(f"  {'total':<28} {rss:>8.1f} {pss:>8.1f}   (target: RSS <= {TARGET_MEMORY_MIB:.0f} MiB)")
    return {
        "processes": {
            r.label: {"rss_mib": round(r.rss_mib, 1), "pss_mib": round(r.pss_mib, 1)} for r in rows
        },
        "rss_mib": round(rss, 1),
        "pss_mib": round(pss, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--top", type=int, default=5, help="packages shown per service in the import times")
    parser.add_argument("--no-imports", action="store_true", help="skip the third start (import times)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()

    report: dict[str, Any] = {"load_average_at_start": round(os.getloadavg()[0], 1)}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, log_path = Path(tmp) / "data", Path(tmp) / "stack.log"
        ports = {s.name: free_port() for s in SERVICES}
        with open(log_path, "w") as log:
            stack = start(data_dir, ports, log)
            try:
                report["first_start_s"] = round(max(stack.ready_after.values()), 2)
                print(f"first start: every service ready in {report['first_start_s']:.1f} s", flush=True)
                quiet = wait_until_quiet(stack, timeout=600)
                print(f"first start: {quiet.describe()}", flush=True)
                report["first_indexing_s"] = round(quiet.waited_seconds, 1)
                after_indexing = memory(stack)
            finally:
                stack.down()
            load = os.getloadavg()[0]
            stack = start(data_dir, ports, log)
            try:
                ready = dict(stack.ready_after)
                cpu = cpu_seconds(processes_of(stack))
                report["warm_start_cpu_s"] = {k: round(v, 2) for k, v in cpu.items()}
                report["warm_start_s"] = round(max(ready.values()), 2)
                report["warm_ready_after_s"] = {k: round(v, 2) for k, v in ready.items()}
                report["load_average_warm_start"] = round(load, 1)
                print(f"restart: {wait_until_quiet(stack, timeout=600).describe()}", flush=True)
                idle = memory(stack)
            finally:
                stack.down()
        if not args.no_imports:
            with open(log_path, "w") as log:
                start(data_dir, ports, log, {"PYTHONPROFILEIMPORTTIME": "1"}).down()
            with open(log_path) as log:
                imports = parse_importtime(log)

    print(
        f"\nfolio up, every service ready: first start {report['first_start_s']:.1f} s, "
        f"restart {report['warm_start_s']:.1f} s (target <= {TARGET_START_SECONDS:.0f} s warm; "
        f"load average {report['load_average_warm_start']:.1f})"
    )
    print(
        "  ready after: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(ready.items(), key=lambda kv: kv[1]))
    )
    print(
        "  CPU seconds each had used by then (steadier than seconds on a busy machine): "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        + f"; total {sum(cpu.values()):.1f}"
    )
    report["after_first_indexing"] = print_memory(
        f"memory after the first indexing ({report['first_indexing_s']:.0f} s after ready), stack quiet:",
        after_indexing,
    )
    report["idle_after_restart"] = print_memory("memory after a restart, stack quiet:", idle)
    if not args.no_imports:
        print(
            f"\nimport time per service (python -X importtime at start; self ms summed per package, top {args.top}):"
        )
        for service, found in imports.items():
            top = ", ".join(f"{name} {ms:.0f}" for name, ms in found.top(args.top))
            print(f"  {service:<11} {found.total_ms:>7.0f} ms  {top}")
        report["imports_ms"] = {
            s: {"total": f.total_ms, "top": dict(f.top(args.top))} for s, f in imports.items()
        }
    report["load_average_at_end"] = round(os.getloadavg()[0], 1)
    args.out.mkdir(exist_ok=True)
    (args.out / "start.json").write_text(json.dumps(report, indent=2))
    print(
        f"written to {args.out / 'start.json'} (load average of the machine: {report['load_average_at_end']:.1f})"
    )


if __name__ == "__main__":
    main()
