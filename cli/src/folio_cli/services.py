"""The services `folio up` runs, in the order they start, and how to tell each is healthy."""

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from folio_cli import dev_identity


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    default_port: int
    probe: Literal["grpc", "http"]
    # What a person opens: a web URL for HTTP services, host:port for gRPC ones.
    show_as: str = "{host}:{port}"
    # Where `folio up --observe` has it serve Prometheus metrics (None: it serves none).
    metrics_port: int | None = None


SERVICES = [
    # DEVELOPMENT ONLY: stands in for Keycloak; everything below verifies its tokens.
    ServiceSpec(
        "dev-oidc", "folio_dev_oidc", 8090, "http", show_as="http://{host}:{port}/", metrics_port=None
    ),
    ServiceSpec("catalog", "folio_catalog", 50051, "grpc", metrics_port=9451),
    ServiceSpec("cart", "folio_cart", 50052, "grpc", metrics_port=9452),
    ServiceSpec("payment", "folio_payment", 50053, "grpc", metrics_port=9453),
    ServiceSpec("orders", "folio_orders", 50054, "grpc", metrics_port=9454),
    ServiceSpec("assistant", "folio_assistant", 50055, "grpc", metrics_port=9455),
    ServiceSpec(
        "storefront", "folio_storefront", 8000, "http", show_as="http://{host}:{port}/", metrics_port=9450
    ),
]
HOST = "127.0.0.1"
# Who calls whom: each client service is told where its backends listen.
CALLS = {
    "orders": ("catalog", "cart", "payment"),
    "assistant": ("catalog", "orders"),
    "storefront": ("catalog", "cart", "orders", "assistant"),
}


def session_secret(data_dir: Path) -> str:
    """The storefront's cookie-signing key for this data dir: made once, kept private, never committed."""
    path = data_dir / "storefront-session-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def _prefix(name: str) -> str:
    return f"FOLIO_{name.upper().replace('-', '_')}_"


def environment(
    ports: dict[str, int],
    data_dir: Path,
    service: str | None = None,
    metrics_ports: dict[str, int] | None = None,
) -> dict[str, str]:
    """FOLIO_* variables wiring the local services to each other, to their embedded stores and to
    the development identity provider; with `service`, also that service's own client credentials;
    with `metrics_ports`, where each service serves Prometheus metrics."""
    env = {}
    for name in ports:
        env[f"{_prefix(name)}PORT"] = str(ports[name])
        env[f"{_prefix(name)}DATA_DIR"] = str(data_dir)
    for name, port in (metrics_ports or {}).items():
        env[f"{_prefix(name)}METRICS_PORT"] = str(port)
    address = {name: f"{HOST}:{port}" for name, port in ports.items()}
    for client, backends in CALLS.items():
        wired = {n: address[n] for n in backends if n in address}
        env[f"FOLIO_{client.upper()}_SERVICE_ADDRESSES"] = json.dumps(wired)
    env["FOLIO_STOREFRONT_SESSION_SECRET"] = session_secret(data_dir)
    if "dev-oidc" in ports:
        storefront_url = f"http://{HOST}:{ports.get('storefront', 8000)}"
        users, clients = dev_identity.write_provider_files(data_dir, storefront_url)
        env |= {
            "FOLIO_AUTH_ISSUER_URL": f"http://{HOST}:{ports['dev-oidc']}",
            "FOLIO_DEV_OIDC_USERS_FILE": str(users),
            "FOLIO_DEV_OIDC_CLIENTS_FILE": str(clients),
            "FOLIO_STOREFRONT_PUBLIC_URL": storefront_url,
        }
        if service in dev_identity.SERVICE_CLIENTS:
            client = dev_identity.SERVICE_CLIENTS[service]
            env |= {
                "FOLIO_AUTH_CLIENT_ID": client,
                "FOLIO_AUTH_CLIENT_SECRET": dev_identity.client_secret(data_dir, client),
            }
    return env


def probe(spec: ServiceSpec, port: int, timeout: float = 1.0) -> bool:
    """True when the service says it is ready: gRPC health SERVING, or HTTP /readyz 200."""
    if spec.probe == "grpc":
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=timeout
                )
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
