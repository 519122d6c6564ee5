"""The services `folio up` runs, in the order they start, and how to tell each is healthy."""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    default_port: int
    probe: Literal["grpc", "http"]
    # What a person opens: a web URL for HTTP services, host:port for gRPC ones.
    show_as: str = "{host}:{port}"


SERVICES = [
    ServiceSpec("catalog", "folio_catalog", 50051, "grpc"),
    ServiceSpec("storefront", "folio_storefront", 8000, "http", show_as="http://{host}:{port}/"),
]
HOST = "127.0.0.1"


def environment(ports: dict[str, int], data_dir: Path) -> dict[str, str]:
    """FOLIO_* variables wiring the local services to each other and to their embedded stores."""
    return {
        "FOLIO_CATALOG_PORT": str(ports["catalog"]),
        "FOLIO_CATALOG_DATA_DIR": str(data_dir),
        "FOLIO_STOREFRONT_PORT": str(ports["storefront"]),
        "FOLIO_STOREFRONT_SERVICE_ADDRESSES": json.dumps({"catalog": f"{HOST}:{ports['catalog']}"}),
    }


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
