"""Run a rendered chart's workloads as podman containers, from their own pod specs.

No cluster runs here, so this stands in for the kubelet of one node: one pod per Deployment or
StatefulSet, each with its own address on a podman network the run makes (internal: no route leaves
the machine), the chart's Service names and the pod's hostAliases in /etc/hosts (cluster DNS), env
resolved from the rendered and the platform's Secrets and ConfigMaps, the securityContext and limits
applied, emptyDir and claims as named volumes, the startup and readiness probes polled from the host
(gRPC health, HTTP, TCP, exec), and the preStop hook run before SIGTERM. See podspec.py for what it
reads and refuses.
"""

import ipaddress
import json
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from folio_testing import podspec
from folio_testing.podspec import Manifests, Unsupported, Workload

# A probe's deadlines (period x failureThreshold, timeoutSeconds) stretched for a loaded two-core machine.
SLACK = 3
LABEL = "org.folio.run"


class PodFailed(Exception):
    """A pod did not start, or did not become ready; the message carries its logs."""


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run podman; a failure raises with its own message (the CNI warnings of the host left out)."""
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    result.stderr = "\n".join(line for line in result.stderr.splitlines() if "CNI config" not in line)
    if check and result.returncode != 0:
        raise PodFailed(
            f"podman {' '.join(args[:3])} ... failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result


@dataclass(frozen=True)
class PodNetwork:
    """A podman bridge of the run's own: internal (no route beyond this machine), no DNS server, and the
    gateway address on the host's end of the bridge, where the host's servers are reached."""

    name: str
    subnet: str

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    def address(self, index: int) -> str:
        return str(ipaddress.ip_network(self.subnet)[10 + index])

    def create(self) -> None:
        if podman("network", "exists", self.name, check=False).returncode == 0:
            podman("network", "rm", "--force", self.name)
        podman(
            "network",
            "create",
            "--internal",
            "--disable-dns",
            "--subnet",
            self.subnet,
            "--gateway",
            self.gateway,
            "--label",
            f"{LABEL}={self.name}",
            self.name,
        )

    def remove(self) -> None:
        podman("network", "rm", "--force", self.name, check=False)


@dataclass
class Stopped:
    """How a pod ended: its exit code, whether its preStop hook succeeded, and how long it took."""

    exit_code: int
    pre_stop: subprocess.CompletedProcess[str] | None
    seconds: float


class PodRunner:
    """One pod of every workload in `manifests`, on `network`, named <run>-<workload>."""

    def __init__(self, manifests: Manifests, network: PodNetwork, *, run: str, workdir: Path) -> None:
        self.manifests, self.network, self.run, self.workdir = manifests, network, run, workdir
        self.pods = {w.name: w for w in manifests.workloads()}
        self.addresses = {name: network.address(i) for i, name in enumerate(sorted(self.pods))}
        for workload in self.pods.values():
            podspec.check_pod(workload)

    def container(self, name: str) -> str:
        return f"{self.run}-{name}"

    def mac(self, name: str) -> str:
        """A fixed MAC per pod: a restarted container keeps its pod's address and link, as in a cluster
        (where the pod's network namespace outlives its containers), so peers' ARP caches stay right."""
        octets = ipaddress.ip_address(self.addresses[name]).packed
        return "02:00:" + ":".join(f"{b:02x}" for b in octets)

    def volume(self, name: str, volume: str) -> str:
        """The podman volume behind a pod's emptyDir or claim (create it first to provision data)."""
        return f"{self.run}-{name}-{volume}"

    def _hosts(self, workload: Workload) -> list[str]:
        entries = [(workload.pod_name, self.addresses[workload.name])]
        for other in self.pods.values():
            entries += [(host, self.addresses[other.name]) for host in self.manifests.service_names(other)]
        entries += podspec.host_entries(workload)
        return [arg for host, ip in entries for arg in ("--add-host", f"{host}:{ip}")]

    def _volumes(self, workload: Workload) -> list[str]:
        declared = {v["name"]: v for v in workload.spec.get("volumes", [])}
        fs_group = "fsGroup" in (workload.spec.get("securityContext") or {})
        args: list[str] = []
        for mount in workload.container.get("volumeMounts", []):
            source = declared.get(mount["name"], {"persistentVolumeClaim": {}})
            options = ["ro"] if mount.get("readOnly") else []
            if "configMap" in source or "secret" in source:
                path = self._files(workload, mount["name"], source)
                options = ["ro"]
            elif (source.get("emptyDir") or {}).get("medium") == "Memory":
                args += ["--tmpfs", f"{mount['mountPath']}:rw,exec"]
                continue
            else:
                path = self.volume(workload.name, mount["name"])
                if podman("volume", "exists", path, check=False).returncode != 0:
                    podman("volume", "create", "--label", f"{LABEL}={self.run}", path)
                options += ["U"] if fs_group else []
            args += ["-v", f"{path}:{mount['mountPath']}" + (f":{','.join(options)}" if options else "")]
        return args

    def _files(self, workload: Workload, volume: str, source: Mapping[str, Any]) -> str:
        kind, ref = ("secret", source["secret"]) if "secret" in source else ("configMap", source["configMap"])
        store = self.manifests.secrets if kind == "secret" else self.manifests.config_maps
        name = ref.get("secretName") or ref.get("name")
        if name not in store:
            raise Unsupported(f"{workload.name}: volume {volume}: {kind} {name!r} does not exist")
        directory = self.workdir / workload.name / volume
        directory.mkdir(parents=True, exist_ok=True)
        for key, text in store[name].items():
            (directory / key).write_text(text)
        return str(directory)

    def create(self, name: str) -> None:
        """`podman create` the pod's container from its spec (nothing runs yet)."""
        workload = self.pods[name]
        container = workload.container
        image = container["image"]
        inspected = podman("image", "inspect", "--format", "{{.Config.User}}", image, check=False)
        if inspected.returncode != 0:
            raise PodFailed(f"{name}: image {image} is not in the local store: run `make images`")
        env = podspec.environment(self.manifests, workload, self.addresses[name])
        if any("\n" in value for value in env.values()):
            raise Unsupported(f"{name}: an env value spans lines, which podman's env files cannot carry")
        env_file = self.workdir / f"{name}.env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.touch(mode=0o600)
        env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        flags, trailing = podspec.command_args(workload)
        podman(
            "create", "--name", self.container(name), "--label", f"{LABEL}={self.run}",
            "--network", self.network.name, "--ip", self.addresses[name], "--mac-address", self.mac(name),
            "--hostname", workload.pod_name,
            "--pull", "never", "--env-file", str(env_file),
            *self._hosts(workload), *self._volumes(workload),
            *podspec.security_args(workload, inspected.stdout.strip()), *podspec.resource_args(workload),
            *(["--workdir", container["workingDir"]] if "workingDir" in container else []),
            *flags, image, *trailing,
        )  # fmt: skip

    def start(self, name: str) -> None:
        podman("start", self.container(name))

    def up(self, names: Sequence[str] | None = None, *, timeout: float) -> float:
        """Create and start every pod (or `names`) at once; seconds until all are ready."""
        started = time.monotonic()
        names = list(names or sorted(self.pods))
        for name in names:
            self.create(name)
            self.start(name)
        self.wait_ready(names, timeout=timeout)
        return time.monotonic() - started

    def wait_ready(self, names: Sequence[str], *, timeout: float) -> None:
        """Startup probe, then readiness probe, of each pod in parallel; PodFailed names each that fails."""
        failures: dict[str, str] = {}

        def wait(name: str) -> None:
            try:
                self._wait_ready(name, time.monotonic() + timeout)
            except PodFailed as error:
                failures[name] = str(error)

        threads = [threading.Thread(target=wait, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise PodFailed("\n\n".join(failures[name] for name in sorted(failures)))

    def _wait_ready(self, name: str, deadline: float) -> None:
        container = self.pods[name].container
        for kind in ("startupProbe", "readinessProbe"):
            probe = container.get(kind)
            if not probe:
                continue
            limit = deadline
            if kind == "startupProbe":
                budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
                limit = min(
                    deadline, time.monotonic() + (probe.get("initialDelaySeconds", 0) + budget) * SLACK
                )
            while not self.check(name, probe):
                state = self.state(name)
                if state["Status"] != "running":
                    raise PodFailed(
                        f"{name} {state['Status']} (exit code {state['ExitCode']}) before its "
                        f"{kind} passed; its log:\n{self.logs(name)}"
                    )
                if time.monotonic() > limit:
                    raise PodFailed(
                        f"{name}: {kind} {probe} did not pass in time; its log:\n{self.logs(name)}"
                    )
                time.sleep(min(probe.get("periodSeconds", 10), 1.0))

    def check(self, name: str, probe: Mapping[str, Any]) -> bool:
        """One probe, from the host to the pod's address (exec: inside the container)."""
        workload, address = self.pods[name], self.addresses[name]
        timeout = probe.get("timeoutSeconds", 1) * SLACK
        if "grpc" in probe:
            target = f"{address}:{workload.port(probe['grpc']['port'])}"
            with grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:
                request = health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", ""))
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout)
                except grpc.RpcError:
                    return False
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
        if "httpGet" in probe:
            get = probe["httpGet"]
            url = f"{get.get('scheme', 'HTTP').lower()}://{address}:{workload.port(get['port'])}{get.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
            try:
                status = httpx.get(url, headers=headers, timeout=timeout, trust_env=False).status_code
            except httpx.HTTPError:
                return False
            return 200 <= status < 400
        if "tcpSocket" in probe:
            port = workload.port(probe["tcpSocket"]["port"])
            try:
                socket.create_connection((address, port), timeout=timeout).close()
            except OSError:
                return False
            return True
        if "exec" in probe:
            return self.exec(name, *probe["exec"]["command"], timeout=timeout).returncode == 0
        raise Unsupported(f"{name}: probe {probe}")

    def state(self, name: str) -> dict[str, Any]:
        fmt = '{"Status": "{{.State.Status}}", "ExitCode": {{.State.ExitCode}}}'
        return dict(json.loads(podman("inspect", "--format", fmt, self.container(name)).stdout))

    def exec(self, name: str, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.container(name), *command, timeout=timeout, check=False)

    def logs(self, name: str, tail: int = 60) -> str:
        result = podman("logs", "--tail", str(tail), self.container(name), check=False)
        return (result.stdout + result.stderr).rstrip()

    def stop(self, name: str) -> Stopped:
        """As a kubelet ends a pod: the preStop hook, then SIGTERM, then SIGKILL after the grace period."""
        workload = self.pods[name]
        grace = float(workload.spec.get("terminationGracePeriodSeconds", 30))
        started = time.monotonic()
        hook = (workload.container.get("lifecycle") or {}).get("preStop") or {}
        if hook and "exec" not in hook:
            raise Unsupported(f"{name}: preStop {hook}")
        pre_stop = self.exec(name, *hook["exec"]["command"], timeout=grace) if hook else None
        remaining = max(1, int(grace - (time.monotonic() - started)))
        podman("stop", "--time", str(remaining), self.container(name), timeout=grace + 60)
        return Stopped(int(self.state(name)["ExitCode"]), pre_stop, time.monotonic() - started)

    def down(self) -> None:
        """Remove every container and volume of the run."""
        remove_run(self.run)


def remove_run(run: str) -> None:
    """Remove the containers and volumes labelled with `run` (also what an interrupted run left)."""
    podman(
        "rm",
        "--force",
        "--volumes",
        "--time",
        "1",
        "--filter",
        f"label={LABEL}={run}",
        check=False,
        timeout=600,
    )
    podman("volume", "prune", "--force", "--filter", f"label={LABEL}={run}", check=False)


def owned_by(uid: int) -> Callable[[tarfile.TarInfo], tarfile.TarInfo]:
    """A tarfile filter giving every entry to `uid` (the user an image runs as)."""

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = uid
        info.uname = info.gname = ""
        return info

    return owned


def provision_volume(name: str, tar: Path, *, run: str) -> None:
    """A podman volume holding `tar`'s files, as a restored PersistentVolume would."""
    podman("volume", "rm", "--force", name, check=False)
    podman("volume", "create", "--label", f"{LABEL}={run}", name)
    podman("volume", "import", name, str(tar), timeout=600)
