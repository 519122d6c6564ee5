"""Failure drills on the local shop: SIGKILL a service under steady traffic, restart it, and check
what shoppers saw — the parts that do not depend on it kept answering, the parts that do failed
with a clear 503 naming it, and everything answered again once it was back.

`folio drill` runs them on a stack of its own; the end-to-end tests run the same code.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from folio_cli.launcher import Stack, free_port

# What shoppers keep asking for during a drill, and the services each answer needs.
PROBES: dict[str, tuple[str, frozenset[str]]] = {
    "liveness": ("/healthz", frozenset()),
    "book": ("/api/v1/books/moby-dick", frozenset({"catalog"})),
    "search": ("/api/v1/search?q=whale", frozenset({"catalog"})),
    "cart": ("/api/v1/cart", frozenset({"cart", "catalog"})),
    "orders": ("/api/v1/orders", frozenset({"orders"})),
}


def free_ports(names: list[str]) -> dict[str, int]:
    """A free loopback port per service, so a drill never collides with `folio up` on the defaults."""
    return {name: free_port() for name in names}


@dataclass
class DrillResult:
    victim: str
    answers: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (phase, probe, outcome)
    problems: list[str] = field(default_factory=list)
    recovery_seconds: float = 0.0
    reconnect_seconds: float = 0.0

    def summary(self) -> str:
        by_phase: dict[str, Counter[str]] = {}
        for (phase, probe, outcome), n in self.answers.items():
            by_phase.setdefault(f"{phase:<7} {probe:<9}", Counter())[outcome] += n
        lines = [
            f"drill: kill {self.victim} (back and healthy in {self.recovery_seconds:.1f} s, "
            f"every probe answered again {self.reconnect_seconds:.1f} s later)"
        ]
        lines += [f"  {key} {dict(counts)}" for key, counts in sorted(by_phase.items())]
        lines += [f"  PROBLEM: {p}" for p in self.problems] or ["  ok: nothing unexpected"]
        return "\n".join(lines)


def _outcome(response: httpx.Response) -> str:
    if response.status_code == 503:
        try:
            return f"503 {response.json()['error'].get('dependency', '?')}"
        except ValueError:
            return "503 ?"
    return str(response.status_code)


def kill_and_restart(
    stack: Stack, victim: str, *, down_seconds: float = 3.0, reconnect_within: float = 15.0
) -> DrillResult:
    """SIGKILL `victim` under steady probing, restart it after `down_seconds`, and judge the answers.

    Once the victim is healthy, its clients reconnect (gRPC backs off up to 2 s, longer on a busy
    machine): answers count as "after" from the first round of probes that all succeed, which must
    come within `reconnect_within` seconds.
    """
    result = DrillResult(victim)
    phase = ["before"]
    clean_rounds = [0]  # consecutive rounds in which every probe answered 200
    stop = threading.Event()

    def probe_forever() -> None:
        with httpx.Client(base_url=stack.url("storefront"), timeout=5) as client:
            while not stop.is_set():
                clean = True
                for name, (path, _) in PROBES.items():
                    try:
                        outcome = _outcome(client.get(path))
                    except httpx.HTTPError as error:
                        outcome = type(error).__name__
                    result.answers[(phase[0], name, outcome)] += 1
                    clean = clean and outcome == "200"
                clean_rounds[0] = clean_rounds[0] + 1 if clean else 0
                time.sleep(0.05)

    prober = threading.Thread(target=probe_forever, daemon=True)
    prober.start()
    time.sleep(1.0)
    phase[0] = "during"
    stack.stop(victim, kill=True)
    time.sleep(down_seconds)
    started = time.monotonic()
    stack.start(victim)
    stack.wait_healthy([victim], timeout=60)
    result.recovery_seconds = time.monotonic() - started
    healthy = time.monotonic()
    clean_rounds[0] = 0
    while clean_rounds[0] == 0 and time.monotonic() - healthy < reconnect_within:
        time.sleep(0.05)
    result.reconnect_seconds = time.monotonic() - healthy
    if clean_rounds[0] == 0:
        result.problems.append(f"not every probe answered {reconnect_within:.0f} s after the restart")
    phase[0] = "after"
    time.sleep(2.0)
    stop.set()
    prober.join(timeout=10)
    _judge(result)
    return result


def _judge(result: DrillResult) -> None:
    for (phase, probe, outcome), n in result.answers.items():
        needs = PROBES[probe][1]
        if result.victim == "storefront":
            fine = (phase != "after" and phase != "before") or outcome == "200"
        elif phase == "during" and result.victim in needs:
            # Failing is expected, but only with a clear 503 naming a service this answer needs.
            fine = outcome == "200" or (outcome.startswith("503 ") and outcome[4:] in needs)
        else:
            fine = outcome == "200"
        if not fine:
            result.problems.append(f"{phase} {probe}: {n} x {outcome}")
