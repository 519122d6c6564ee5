"""Before a benchmark measures: wait until the stack's own background work is done.

A fresh stack is busy after it reports healthy: the assistant indexes the seed catalog, caches
warm up, first calls compile their queries. Measured then, a benchmark reports that work as the
cost of the requests. So every benchmark first waits for the assistant's index to be complete and
then for the stack's processes to go quiet (their own CPU time, which other load on the machine
does not move), and says how long that took.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from folio_cli.launcher import Stack

# The stack counts as quiet below this share of one core, summed over its processes, for a whole window.
QUIET_CORES = 0.05
WINDOW_SECONDS = 2.0


@dataclass(frozen=True)
class Quiet:
    """How the stack was when measuring began."""

    waited_seconds: float
    indexed_books: int | None
    cores_busy: float

    def describe(self) -> str:
        index = "" if self.indexed_books is None else f"the assistant indexed {self.indexed_books} books; "
        return (
            f"waited {self.waited_seconds:.1f} s for the stack's background work ({index}the stack's "
            f"processes used {self.cores_busy:.3f} cores over {WINDOW_SECONDS:g} s): measuring now"
        )


def cpu_seconds(processes: Mapping[str, psutil.Process]) -> dict[str, float]:
    """User + system CPU seconds of each process so far (children included: a service's helpers)."""
    found = {}
    for name, process in processes.items():
        try:
            times = process.cpu_times()
            found[name] = times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            continue
    return found


def processes_of(stack: Stack) -> dict[str, psutil.Process]:
    """The stack's running service processes by name."""
    return {name: psutil.Process(p.pid) for name, p in stack.processes.items() if p.poll() is None}


def _indexed_books(port: int, deadline: float) -> int:
    import grpc

    from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        while time.monotonic() < deadline:
            status = stub.GetIndexStatus(assistant_pb2.GetIndexStatusRequest(), timeout=5)
            if status.indexed_books and not status.ingesting:
                return int(status.indexed_books)
            time.sleep(1)
    raise TimeoutError("the assistant did not finish indexing the seed catalog")


def wait_until_quiet(stack: Stack, timeout: float = 300) -> Quiet:
    """Block until the assistant (if running) has indexed the catalog and the stack's CPU is quiet."""
    started = time.monotonic()
    deadline = started + timeout
    indexed = _indexed_books(stack.ports["assistant"], deadline) if "assistant" in stack.processes else None
    processes = processes_of(stack)
    while True:
        before = cpu_seconds(processes)
        time.sleep(WINDOW_SECONDS)
        after = cpu_seconds(processes)
        busy = sum(after.get(n, 0.0) - t for n, t in before.items()) / WINDOW_SECONDS
        if busy < QUIET_CORES:
            return Quiet(time.monotonic() - started, indexed, busy)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stack still used {busy:.2f} cores after {timeout:.0f} s")
