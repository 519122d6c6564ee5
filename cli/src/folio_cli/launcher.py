"""Runs the Folio services as local processes: one log stream, health waits, clean stop.

`folio up` and the end-to-end tests both use `Stack`, so the tests exercise exactly what a
newcomer runs.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TextIO

from folio_cli.services import HOST, SERVICES, ServiceSpec, environment, probe

COLOURS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"


class ServiceFailed(RuntimeError):
    """A service exited or never became healthy."""


def _pretty(line: str) -> str:
    """A JSON log line as 'LEVEL logger: message key=value'; other lines unchanged."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "message" not in record:
        return line
    skip = {
        "time",
        "level",
        "logger",
        "message",
        "service",
        "trace_id",
        "span_id",
        "taskName",
        "color_message",
    }
    extras = " ".join(f"{k}={v}" for k, v in record.items() if k not in skip and v not in ("", None))
    trace = f" trace={record['trace_id'][:8]}" if record.get("trace_id") else ""
    return f"{record.get('level', ''):<7} {record.get('logger', '')}: {record['message']} {extras}{trace}".rstrip()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Stack:
    """The local shop: start every service, wait until all are healthy, stop them in reverse."""

    def __init__(
        self,
        *,
        data_dir: Path,
        ports: Mapping[str, int] | None = None,
        services: Iterable[ServiceSpec] = SERVICES,
        output: TextIO | None = None,
        pretty: bool = True,
        extra_env: Mapping[str, str] | None = None,
        replicas: Mapping[str, int] | None = None,
        config_dir: Path | None = None,
        metrics_ports: Mapping[str, int] | None = None,
    ) -> None:
        self.services = list(services)
        # Process name -> its service: "catalog-2" is the second instance of "catalog".
        self.instance_of = {s.name: s.name for s in self.services}
        for service, count in (replicas or {}).items():
            if service not in self.instance_of:
                raise ValueError(f"cannot replicate {service!r}: not one of {', '.join(self.instance_of)}")
            for n in range(2, count + 1):
                self.instance_of[f"{service}-{n}"] = service
        self.ports = {s.name: s.default_port for s in self.services} | dict(ports or {})
        for name in self.instance_of:
            self.ports.setdefault(name, free_port())
        self.data_dir = data_dir
        # The embedded config center (`folio flags` writes there) and registry.
        self.config_dir = config_dir or data_dir / "config"
        self.registry_dir = data_dir / "registry"
        self.output = output or sys.stdout
        self.pretty = pretty
        self.extra_env = dict(extra_env or {})
        # Services that serve Prometheus metrics, and on which port.
        self.metrics_ports = dict(metrics_ports or {})
        self.colour = self.output.isatty() and "NO_COLOR" not in os.environ
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self._forwarders: dict[str, threading.Thread] = {}
        self._write_lock = threading.Lock()
        # Seconds from the start of `up()` until each process answered its readiness probe.
        self.ready_after: dict[str, float] = {}
        self._started = time.monotonic()

    def spec(self, name: str) -> ServiceSpec:
        """The service a process (e.g. "catalog-2") is an instance of."""
        return next(s for s in self.services if s.name == self.instance_of[name])

    def url(self, name: str) -> str:
        return self.spec(name).show_as.format(host=HOST, port=self.ports[name])

    def start(self, name: str) -> None:
        """Start one service instance (again, after a stop) with its log lines forwarded."""
        spec = self.spec(name)
        self.ready_after.pop(name, None)
        primaries = {s.name: self.ports[s.name] for s in self.services}
        # A replica serves no metrics: it would collide on its primary's metrics port.
        metrics = self.metrics_ports if name == spec.name else {}
        env = os.environ | environment(primaries, self.data_dir, spec.name, metrics) | self.extra_env
        env |= {"FOLIO_CONFIG_DIR": str(self.config_dir), "FOLIO_REGISTRY_DIR": str(self.registry_dir)}
        # Replicas are found through the registry: the static tables name only the first instance.
        env[f"FOLIO_{spec.name.upper().replace('-', '_')}_PORT"] = str(self.ports[name])
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module names
            [sys.executable, "-m", spec.module],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Own session: Ctrl-C reaches only the launcher, which then stops services in order.
            start_new_session=True,
        )
        self.processes[name] = process
        index = list(self.instance_of).index(name)
        forwarder = threading.Thread(target=self._forward, args=(name, index, process.stdout), daemon=True)
        forwarder.start()
        self._forwarders[name] = forwarder

    def _drain(self, name: str) -> None:
        """Wait briefly for an exited service's last log lines to be written (they explain its exit)."""
        forwarder = self._forwarders.get(name)
        if forwarder is not None:
            forwarder.join(timeout=2.0)

    def _forward(self, name: str, index: int, stream: IO[str] | None) -> None:
        if stream is None:
            return
        width = max(len(n) for n in self.instance_of)
        prefix = f"{name:<{width}} | "
        if self.colour:
            prefix = f"{COLOURS[index % len(COLOURS)]}{prefix}{RESET}"
        for line in stream:
            text = _pretty(line.rstrip("\n")) if self.pretty else line.rstrip("\n")
            with self._write_lock:
                self.output.write(prefix + text + "\n")
                self.output.flush()

    def wait_healthy(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> None:
        """Block until every named service is healthy; raise ServiceFailed naming the first that is not."""
        pending = list(names or self.processes)
        deadline = time.monotonic() + timeout
        while pending:
            for name in list(pending):
                process = self.processes[name]
                if process.poll() is not None:
                    self._drain(name)
                    raise ServiceFailed(
                        f"{name} exited with code {process.returncode}; see its log lines above"
                    )
                if probe(self.spec(name), self.ports[name], timeout=0.5):
                    pending.remove(name)
                    self.ready_after.setdefault(name, time.monotonic() - self._started)
            if pending and time.monotonic() > deadline:
                raise ServiceFailed(f"not healthy after {timeout:.0f} s: {', '.join(pending)}")
            if pending:
                time.sleep(0.1)

    def up(self, timeout: float = 60.0) -> float:
        """Start everything and wait for health; returns the seconds it took.

        Replicas start once the first instances are healthy, so they find the database migrated.
        """
        started = self._started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        try:
            for spec in self.services:
                self.start(spec.name)
            self.wait_healthy(timeout=timeout)
            replicas = [name for name, service in self.instance_of.items() if name != service]
            for name in replicas:
                self.start(name)
            if replicas:
                self.wait_healthy(replicas, timeout=timeout)
        except BaseException:
            self.down()
            raise
        return time.monotonic() - started

    def stop(self, name: str, *, kill: bool = False, grace: float = 10.0) -> int | None:
        """SIGTERM (or SIGKILL) one service and wait for it to exit; returns its exit code."""
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            code = process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        self._drain(name)
        return code

    def down(self) -> None:
        """Stop every service, last started first; a second Ctrl-C does not cut this short."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = (
            {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if in_main_thread else {}
        )
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            for name in reversed(list(self.processes)):
                self.stop(name)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def watch(self) -> str | None:
        """Block until a service exits on its own; return its name (None if interrupted)."""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self._drain(name)
                    return name
            time.sleep(0.2)
