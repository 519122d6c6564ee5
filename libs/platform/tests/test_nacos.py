"""The Nacos adapters against a local gRPC endpoint that speaks Nacos's wire protocol and records
every request: a test double of the server, not Nacos itself.

What this proves: the SDK, driven by our adapters, connects (server check, connection setup on
the bidirectional stream), asks for the right data ids in the right group and namespace,
registers and deregisters the right instance with its metadata, subscribes to services, reads
instances from the answer, and a change pushed by the server reaches `LiveConfig`. What it
cannot prove: the real server's behaviour (persistence, health checks and expiry of ephemeral
instances, clustering, auth); those are exercised only against a real Nacos in a cluster.
"""

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.any_pb2 import Any as AnyMessage
from v2.nacos.transport.grpcauto.nacos_grpc_service_pb2 import Metadata, Payload

from folio_platform.config import LiveConfig, LiveSettings
from folio_platform.nacos import NacosConfigSource, NacosOptions, NacosRegistry, data_id
from folio_platform.registry import Instance, RegistryUnavailable
from folio_testing.plugin import free_port


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest() if text else ""


def _payload(kind: str, body: dict[str, Any]) -> Payload:
    return Payload(metadata=Metadata(type=kind), body=AnyMessage(value=json.dumps(body).encode()))


class RecordingNacos:
    """Answers the SDK's requests like a Nacos 2.x/3.x server would, and keeps each one."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.configs: dict[tuple[str, str, str], str] = {}  # (namespace, group, data id) -> text
        self.instances: dict[str, list[dict[str, Any]]] = {}
        self.streams: list[asyncio.Queue[Payload]] = []
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "Request",
                    {
                        "request": grpc.unary_unary_rpc_method_handler(
                            self.request, Payload.FromString, Payload.SerializeToString
                        )
                    },
                ),
                grpc.method_handlers_generic_handler(
                    "BiRequestStream",
                    {
                        "requestBiStream": grpc.stream_stream_rpc_method_handler(
                            self.bi_stream, Payload.FromString, Payload.SerializeToString
                        )
                    },
                ),
            ]
        )
        self.grpc_port = free_port()
        self.server.add_insecure_port(f"127.0.0.1:{self.grpc_port}")

    @property
    def address(self) -> str:
        # The SDK reaches the gRPC port at the given (HTTP) port + 1000.
        return f"127.0.0.1:{self.grpc_port - 1000}"

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.received]

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        return [body for k, body in self.received if k == kind]

    async def request(self, payload: Payload, context: Any) -> Payload:
        kind, body = payload.metadata.type, json.loads(payload.body.value or b"{}")
        self.received.append((kind, body))
        answer: dict[str, Any] = {"resultCode": 200, "errorCode": 0, "requestId": body.get("requestId", "")}
        if kind == "ServerCheckRequest":
            return _payload("ServerCheckResponse", answer | {"connectionId": "recorded-1"})
        if kind == "ConfigQueryRequest":
            text = self.configs.get((body.get("tenant", ""), body["group"], body["dataId"]))
            if text is None:
                return _payload("ConfigQueryResponse", answer | {"resultCode": 500, "errorCode": 300})
            return _payload("ConfigQueryResponse", answer | {"content": text, "md5": _md5(text)})
        if kind == "ConfigBatchListenRequest":
            # Changed: every listened config whose md5 differs from what the server holds now.
            changed = [
                {"group": c["group"], "dataId": c["dataId"], "tenant": c["tenant"]}
                for c in body["configListenContexts"]
                if _md5(self.configs.get((c["tenant"], c["group"], c["dataId"]), "")) != c["md5"]
            ]
            return _payload("ConfigChangeBatchListenResponse", answer | {"changedConfigs": changed})
        if kind == "InstanceRequest":
            service = body["serviceName"]
            hosts = self.instances.setdefault(service, [])
            instance = body["instance"]
            hosts[:] = [h for h in hosts if (h["ip"], h["port"]) != (instance["ip"], instance["port"])]
            if body["type"] == "registerInstance":
                hosts.append(instance | {"healthy": True, "enabled": True, "weight": 1.0})
            return _payload("InstanceResponse", answer)
        if kind == "SubscribeServiceRequest":
            service = {
                "name": body["serviceName"],
                "groupName": body["groupName"],
                "hosts": self.instances.get(body["serviceName"], []),
                "lastRefTime": int(time.time() * 1000),
            }
            return _payload("SubscribeServiceResponse", answer | {"serviceInfo": service})
        if kind == "HealthCheckRequest":
            return _payload("HealthCheckResponse", answer)
        return _payload(
            "ErrorResponse", answer | {"resultCode": 500, "errorCode": 501, "message": f"unknown {kind}"}
        )

    async def bi_stream(self, requests: AsyncIterator[Payload], context: Any) -> AsyncIterator[Payload]:
        pushes: asyncio.Queue[Payload] = asyncio.Queue()
        self.streams.append(pushes)

        async def read() -> None:
            async for payload in requests:
                self.received.append((payload.metadata.type, json.loads(payload.body.value or b"{}")))

        reader = asyncio.create_task(read())
        try:
            while True:
                yield await pushes.get()
        finally:
            reader.cancel()

    async def push_config_change(self, namespace: str, group: str, name: str, text: str) -> None:
        """Change a config and notify the clients, as the server does on a publish."""
        self.configs[(namespace, group, name)] = text
        for stream in self.streams:
            await stream.put(
                _payload(
                    "ConfigChangeNotifyRequest",
                    {
                        "dataId": name,
                        "group": group,
                        "tenant": namespace,
                        "requestId": "push-1",
                        "headers": {},
                    },
                )
            )


@pytest.fixture
async def nacos() -> AsyncIterator[RecordingNacos]:
    server = RecordingNacos()
    await server.server.start()
    yield server
    await server.server.stop(None)


def _options(
    nacos: RecordingNacos,
    tmp_path: Path,
    *,
    server_addresses: str | None = None,
    connect_timeout_seconds: float = 5.0,
) -> NacosOptions:
    return NacosOptions(
        server_addresses=server_addresses or nacos.address,
        namespace="folio-test",
        group="FOLIO",
        cache_dir=tmp_path,
        connect_timeout_seconds=connect_timeout_seconds,
    )


async def test_config_documents_are_read_by_data_id_group_and_namespace(
    nacos: RecordingNacos, tmp_path: Path
) -> None:
    nacos.configs[("folio-test", "FOLIO", "folio-shared.yaml")] = "flags: {payment: {failure_rate: 0.25}}"
    nacos.configs[("folio-test", "FOLIO", "folio-payment.yaml")] = "flags: {payment: {latency_ms: 40}}"
    config = LiveConfig("payment", LiveSettings, NacosConfigSource(_options(nacos, tmp_path)))
    await config.start()
    try:
        assert config.current.flags.payment.failure_rate == 0.25
        assert config.current.flags.payment.latency_ms == 40
        queried = {(b["tenant"], b["group"], b["dataId"]) for b in nacos.bodies("ConfigQueryRequest")}
        assert queried == {
            ("folio-test", "FOLIO", data_id("shared")),
            ("folio-test", "FOLIO", data_id("payment")),
        }
        assert "ServerCheckRequest" in nacos.kinds()
        assert "ConnectionSetupRequest" in nacos.kinds()
    finally:
        await config.close()


async def test_a_change_pushed_by_the_server_is_validated_and_applied(
    nacos: RecordingNacos, tmp_path: Path
) -> None:
    nacos.configs[("folio-test", "FOLIO", "folio-shared.yaml")] = "flags: {cart: {store_outage: false}}"
    config = LiveConfig("cart", LiveSettings, NacosConfigSource(_options(nacos, tmp_path)))
    await config.start()
    try:
        await nacos.push_config_change(
            "folio-test", "FOLIO", "folio-shared.yaml", "flags: {cart: {store_outage: true}}"
        )
        for _ in range(50):
            if config.current.flags.cart.store_outage:
                break
            await asyncio.sleep(0.1)
        assert config.current.flags.cart.store_outage

        await nacos.push_config_change(
            "folio-test", "FOLIO", "folio-shared.yaml", "flags: {cart: {store_outage: 7}}"
        )
        for _ in range(50):
            if config.rejected:
                break
            await asyncio.sleep(0.1)
        assert config.rejected is not None
        assert config.current.flags.cart.store_outage  # the last good one stays
    finally:
        await config.close()


async def test_an_instance_registers_with_its_metadata_is_found_and_deregisters(
    nacos: RecordingNacos, tmp_path: Path
) -> None:
    registry = NacosRegistry(_options(nacos, tmp_path))
    instance = Instance("catalog", "10.1.2.3", 50051, {"version": "0.1.0", "zone": "eu-1a"})
    try:
        await registry.register(instance)
        registered = nacos.bodies("InstanceRequest")[-1]
        assert registered["type"] == "registerInstance"
        assert registered["namespace"] == "folio-test"
        assert registered["groupName"] == "FOLIO"
        assert registered["serviceName"] == "catalog"
        assert registered["instance"]["ip"] == "10.1.2.3"
        assert registered["instance"]["port"] == 50051
        assert registered["instance"]["ephemeral"] is True
        assert registered["instance"]["metadata"] == {"version": "0.1.0", "zone": "eu-1a"}

        assert await registry.instances("catalog") == [instance]
        assert nacos.bodies("SubscribeServiceRequest")[-1]["serviceName"] == "catalog"

        await registry.deregister(instance)
        assert nacos.bodies("InstanceRequest")[-1]["type"] == "deregisterInstance"
    finally:
        await registry.close()


async def test_an_unreachable_server_is_reported_down_within_the_timeout(
    tmp_path: Path, nacos: RecordingNacos
) -> None:
    registry = NacosRegistry(
        _options(
            nacos, tmp_path, server_addresses=f"127.0.0.1:{free_port() - 1000}", connect_timeout_seconds=1.0
        )
    )
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match=r"did not connect within 1\.0 s"):
        await registry.register(Instance("catalog", "10.1.2.3", 50051))
    assert time.monotonic() - started < 3
    config = LiveConfig(
        "catalog",
        LiveSettings,
        NacosConfigSource(
            _options(
                nacos,
                tmp_path,
                server_addresses=f"127.0.0.1:{free_port() - 1000}",
                connect_timeout_seconds=1.0,
            )
        ),
    )
    await config.start()  # logs the config center as down and keeps the defaults
    assert config.current == LiveSettings()


async def test_after_a_failed_connection_lookups_fail_fast_instead_of_waiting_again(
    tmp_path: Path, nacos: RecordingNacos
) -> None:
    registry = NacosRegistry(
        _options(
            nacos, tmp_path, server_addresses=f"127.0.0.1:{free_port() - 1000}", connect_timeout_seconds=1.0
        )
    )
    with pytest.raises(RegistryUnavailable):
        await registry.instances("catalog")
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="retrying later"):
        await registry.instances("catalog")
    assert time.monotonic() - started < 0.1
