"""The images `make images` built, and the chart's own pods running them, for `make images-test`.

The chart is rendered by the real Helm engine with the k3s profile plus helm/folio/ci/podman-values.yaml;
folio_testing.pods runs one pod of each workload on an internal podman network of this run. The
platform the chart expects beside it is the harness's: PostgreSQL and Redis from Debian's packages and
the development OpenID provider as the external issuer, all on this machine's loopback and reached
from the pods through the network's gateway (folio_testing.relay), under the names of the overlay's
hostAliases. The Secrets Pulumi would make are made here, named by the chart's values.
"""

import ipaddress
import os
import secrets
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from folio_cli import dev_identity
from folio_testing.helm import ChartCopy, load_values
from folio_testing.plugin import PostgresServer, RedisServer, free_port
from folio_testing.pods import (
    PodFailed,
    PodNetwork,
    PodRunner,
    owned_by,
    podman,
    provision_volume,
    remove_run,
)
from folio_testing.podspec import Manifests, Unsupported
from folio_testing.relay import relay

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "folio"
VALUES = [CHART / "values.yaml", CHART / "values-k3s.yaml", CHART / "ci" / "podman-values.yaml"]
SERVICES = ("storefront", "catalog", "cart", "payment", "orders", "assistant")
RUN = "folio-images"
# Room for six services starting at once on two loaded cores (the assistant loads its model).
START_TIMEOUT = 600
FIGURES: dict[str, str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(1800))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures the run measured (not assertions: a loaded machine only makes them slower)."""
    if FIGURES:
        terminalreporter.section("images: figures measured by this run")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name:<40} {value}")


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """service -> image reference; fails with the command that builds them when one is missing."""
    if os.environ.get("CONTAINERS_CONF") is None:
        os.environ["CONTAINERS_CONF"] = str(REPO / "scripts" / "images" / "containers.conf")
    refs = {name: f"localhost/folio/{name}:local" for name in SERVICES}
    missing = [ref for ref in refs.values() if podman("image", "exists", ref, check=False).returncode != 0]
    if missing:
        pytest.fail(f"images not built: {', '.join(missing)}: run `make images` (make images-test does)")
    return refs


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    """Figures a test measures, printed at the end of the run."""
    return FIGURES


@pytest.fixture(scope="session")
def values() -> dict[str, Any]:
    return load_values(VALUES)


@pytest.fixture(scope="session")
def rendered(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = ChartCopy(CHART)
    try:
        return chart.render(values)
    finally:
        chart.close()


@pytest.fixture(scope="session")
def assistant_index_tar(assistant_seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed catalog's index as the assistant's data volume holds it (FOLIO_ASSISTANT_DATA_DIR)."""
    path = tmp_path_factory.mktemp("assistant-index") / "data.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(assistant_seed_index / "assistant", arcname="assistant", filter=owned_by(10001))
    return path


@pytest.fixture(scope="session")
def network(values: dict[str, Any], images: dict[str, str]) -> Iterator[PodNetwork]:
    """The run's own bridge; its gateway is the address the overlay's hostAliases name."""
    gateway = values["global"]["hostAliases"][0]["ip"]
    subnet = ipaddress.ip_network(f"{gateway}/24", strict=False)
    net = PodNetwork(RUN, str(subnet))
    assert net.gateway == gateway, "the overlay's hostAliases must name the network's gateway (.1)"
    remove_run(RUN)
    net.create()
    try:
        yield net
    finally:
        net.remove()


@dataclass
class Platform:
    """What the platform provides beside the chart, here: Secrets and the servers behind them."""

    secrets: dict[str, dict[str, str]]
    databases: dict[str, str] = field(default_factory=dict)  # service -> URL on this machine's loopback


def _start_issuer(values: dict[str, Any], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    issuer = values["auth"]["issuerUrl"]
    users, clients = dev_identity.write_provider_files(workdir, f"https://{values['gateway']['host']}")
    port = free_port()
    env = os.environ | {
        "FOLIO_DEV_OIDC_PORT": str(port),
        "FOLIO_DEV_OIDC_ISSUER_URL": issuer,
        "FOLIO_DEV_OIDC_USERS_FILE": str(users),
        "FOLIO_DEV_OIDC_CLIENTS_FILE": str(clients),
        "FOLIO_ENVIRONMENT": "test",
    }
    log = workdir / "dev-oidc.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "folio_dev_oidc"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(
                f"http://127.0.0.1:{port}/.well-known/openid-configuration", trust_env=False
            ).raise_for_status()
            return process, port
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the development OpenID provider did not start:\n{log.read_text()}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def platform(
    values: dict[str, Any],
    network: PodNetwork,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    """PostgreSQL, Redis and the issuer behind the gateway, and the Secrets naming them as Pulumi would."""
    aliases = values["global"]["hostAliases"][0]["hostnames"]
    pg_host = next(h for h in aliases if h.startswith("postgresql."))
    redis_host = next(h for h in aliases if h.startswith("redis-master."))
    workdir = tmp_path_factory.mktemp("identity")
    process, issuer_port = _start_issuer(values, workdir)
    made = Platform(secrets={})
    for name, svc in values["services"].items():
        if secret := (svc.get("database") or {}).get("secretName"):
            local = postgres_server.create_database()
            made.databases[name] = local
            made.secrets[secret] = {
                svc["database"]["secretKey"]: local.replace(
                    f"127.0.0.1:{postgres_server.port}", f"{pg_host}:5432"
                )
            }
        if secret := (svc.get("redis") or {}).get("secretName"):
            made.secrets[secret] = {svc["redis"]["secretKey"]: f"redis://{redis_host}:6379/0"}
        if client := svc.get("oidcClient"):
            made.secrets[client["secretName"]] = {
                client["secretKey"]: dev_identity.client_secret(workdir, client["clientId"])
            }
        if session := svc.get("sessionSecret"):
            made.secrets[session["secretName"]] = {session["secretKey"]: secrets.token_urlsafe(36)}
    routes = {
        5432: postgres_server.port,
        6379: redis_server.port,
        urlsplit(values["auth"]["issuerUrl"]).port: issuer_port,
    }
    try:
        with relay(network.gateway, {k: v for k, v in routes.items() if k}):
            yield made
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Shop:
    runner: PodRunner
    platform: Platform
    values: dict[str, Any]

    def shopper(self) -> httpx.Client:
        """A browser on the shop's public https origin; the edge (TLS ends there) forwards to the storefront."""
        port = int(next(s for s in self.values["services"].values() if s["protocol"] == "http")["port"])
        transport = ToPod(self.runner.addresses["storefront"], port)
        host = self.values["gateway"]["host"]
        return httpx.Client(base_url=f"https://{host}", transport=transport, timeout=60, trust_env=False)


class ToPod(httpx.HTTPTransport):
    """Requests for the public origin, delivered in plain HTTP to one pod's address."""

    def __init__(self, address: str, port: int) -> None:
        super().__init__(trust_env=False)
        self.address, self.port = address, port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = request.headers.copy()
        headers["x-forwarded-proto"] = "https"
        inner = httpx.Request(
            request.method,
            request.url.copy_with(scheme="http", host=self.address, port=self.port),
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return super().handle_request(inner)


@pytest.fixture(scope="session")
def shop(
    rendered: list[dict[str, Any]],
    values: dict[str, Any],
    network: PodNetwork,
    platform: Platform,
    assistant_index_tar: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shop]:
    """Every workload of the rendered chart running as a pod, all ready; removed afterwards."""
    manifests = Manifests(rendered)
    for name, data in platform.secrets.items():
        manifests.add_secret(name, data)
    try:
        runner = PodRunner(manifests, network, run=RUN, workdir=tmp_path_factory.mktemp("pods"))
    except Unsupported as error:
        pytest.fail(f"the chart's pods cannot run as rendered: {error}")
    try:
        claim = runner.pods["assistant"].claims[0]
        provision_volume(runner.volume("assistant", claim), assistant_index_tar, run=RUN)
        took = runner.up(timeout=START_TIMEOUT)
    except (PodFailed, Unsupported) as error:
        runner.down()
        pytest.fail(f"the shop's pods did not all become ready:\n{error}")
    FIGURES["start -> all pods ready"] = f"{took:.1f} s"
    try:
        yield Shop(runner, platform, values)
    finally:
        runner.down()
