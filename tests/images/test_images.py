"""Each image alone: it starts as its own non-root user with a read-only root filesystem, every
capability dropped and no network at all, and passes the health probe the chart gives it. The
assistant answers a question with no network: its model and tokenizer are in the image."""

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from folio_testing.pods import podman, provision_volume

SERVICES = ("storefront", "catalog", "cart", "payment", "orders", "assistant")
RUN = "folio-images"

# Runs inside the container: the chart's startup probe of the service, against loopback.
PROBE = """
import sys, urllib.request
kind, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind == "grpc":
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    sys.exit(0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1)
with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
    sys.exit(0 if response.status < 400 else 1)
"""

ASK = """
import json, sys, grpc
from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc
with grpc.insecure_channel("127.0.0.1:50055") as channel:
    stub = assistant_pb2_grpc.AssistantServiceStub(channel)
    events = list(stub.Ask(assistant_pb2.AskRequest(question=sys.argv[1]), timeout=120))
done = events[-1].done
print(json.dumps({"text": "".join(e.chunk.text for e in events[:-1]),
                  "citations": sorted(c.book_id for c in done.citations)}))
"""

# What each service needs to start on its embedded defaults; the issuer is never reached (no network).
ALONE_ENV = {
    "FOLIO_AUTH_ISSUER_URL": "http://identity.folio.test:8090",
    "FOLIO_AUTH_AUDIENCE": "folio",
    "FOLIO_AUTH_CLIENT_ID": "folio-storefront",
    "FOLIO_AUTH_CLIENT_SECRET": secrets.token_urlsafe(24),
    "FOLIO_STOREFRONT_SESSION_SECRET": secrets.token_urlsafe(36),
    "FOLIO_STOREFRONT_DATA_DIR": "/var/lib/folio",
}


def _container(rendered: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The one container of a service's rendered workload."""
    workload = next(
        o for o in rendered if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == name
    )
    return dict(workload["spec"]["template"]["spec"]["containers"][0])


def _proc_status(container: str) -> dict[str, str]:
    text = podman("exec", container, "cat", "/proc/1/status").stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


class Alone:
    """One image in a container with no network, as locked down as the chart's securityContext asks."""

    def __init__(self, service: str, image: str, data: str | None = None) -> None:
        self.service, self.name = service, f"{RUN}-alone-{service}"
        podman("rm", "--force", "--volumes", self.name, check=False)
        data_mount = f"{data}:/var/lib/folio" if data else "/var/lib/folio"
        env = [arg for key, value in ALONE_ENV.items() for arg in ("--env", f"{key}={value}")]
        podman(
            "run", "--detach", "--name", self.name, "--label", f"org.folio.run={RUN}", "--network", "none",
            "--pull", "never", "--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "-v", "/tmp", "-v", data_mount, *env, image,
        )  # fmt: skip

    def wait_probe(self, container: dict[str, Any], timeout: float) -> None:
        """Until the container's startupProbe (from the chart) passes, run inside it against loopback."""
        probe = container["startupProbe"]
        kind = "grpc" if "grpc" in probe else "http"
        spec = probe["grpc"] if kind == "grpc" else probe["httpGet"]
        port = spec["port"]
        if not isinstance(port, int):
            port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
        deadline = time.monotonic() + timeout
        while True:
            result = podman(
                "exec", self.name, "python", "-c", PROBE, kind, str(port), spec.get("path", "/"), check=False
            )
            if result.returncode == 0:
                return
            state = podman("inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()
            if state != "running" or time.monotonic() > deadline:
                pytest.fail(f"{self.service} ({state}) never passed its probe {probe}:\n{self.logs()}")
            time.sleep(1)

    def logs(self) -> str:
        result = podman("logs", "--tail", "60", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--volumes", "--time", "5", self.name, check=False)


@pytest.fixture(params=SERVICES)
def alone(
    request: pytest.FixtureRequest, images: dict[str, str], assistant_index_tar: Path
) -> Iterator[Alone]:
    service = request.param
    data = None
    if service == "assistant":
        data = f"{RUN}-alone-assistant-data"
        provision_volume(data, assistant_index_tar, run=RUN)
    container = Alone(service, images[service], data)
    try:
        yield container
    finally:
        container.remove()
        if data:
            podman("volume", "rm", "--force", data, check=False)


def test_each_image_runs_locked_down_with_no_network_and_passes_its_probe(
    alone: Alone, rendered: list[dict[str, Any]]
) -> None:
    container = _container(rendered, alone.service)
    alone.wait_probe(container, timeout=300)

    status = _proc_status(alone.name)
    uid = status["Uid"].split()[0]
    assert uid != "0", f"{alone.service} runs as root"
    assert uid == str(container["securityContext"]["runAsUser"]), "the image's USER is the chart's runAsUser"
    assert int(status["CapEff"], 16) == 0, f"{alone.service} keeps capabilities: {status['CapEff']}"
    assert status["NoNewPrivs"].strip() == "1"
    written = podman("exec", alone.name, "touch", "/app/written", check=False)
    assert written.returncode != 0
    assert "Read-only file system" in written.stderr
    interfaces = podman("exec", alone.name, "cat", "/proc/net/dev").stdout
    assert [line.split(":")[0].strip() for line in interfaces.splitlines()[2:]] == ["lo"]


def test_the_assistant_answers_with_no_network(
    images: dict[str, str], assistant_index_tar: Path, rendered: list[dict[str, Any]]
) -> None:
    data = f"{RUN}-alone-assistant-ask"
    provision_volume(data, assistant_index_tar, run=RUN)
    assistant = Alone("assistant", images["assistant"], data)
    try:
        assistant.wait_probe(_container(rendered, "assistant"), timeout=300)
        result = podman(
            "exec",
            assistant.name,
            "python",
            "-c",
            ASK,
            "Which books by Mary Shelley do you have?",
            check=False,
        )
        assert result.returncode == 0, f"{result.stderr}\n{assistant.logs()}"
        answer = json.loads(result.stdout)
        assert answer["citations"] == ["frankenstein", "last-man", "valperga"], answer
        assert "Frankenstein" in answer["text"]
    finally:
        assistant.remove()
        podman("volume", "rm", "--force", data, check=False)
