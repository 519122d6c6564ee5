"""The service as it is run: `python -m folio_assistant` configured by FOLIO_ASSISTANT_* variables."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from folio.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from folio_assistant.settings import Settings
from folio_platform.settings import load_settings
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import free_port

if TYPE_CHECKING:
    from conftest import Backends

pytestmark = pytest.mark.timeout(600)


def test_settings_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "SERVICE_ADDRESSES", "GRAPH_URL", "QDRANT_URL", "LLM_BASE_URL"):
        monkeypatch.delenv(f"FOLIO_ASSISTANT_{name}", raising=False)
    defaults = Settings()
    assert defaults.port == 50055
    assert (defaults.graph_url, defaults.qdrant_url, defaults.llm_base_url) == (None, None, None)
    assert defaults.ingest_on_start
    monkeypatch.setenv("FOLIO_ASSISTANT_SERVICE_ADDRESSES", '{"orders": "orders:50054"}')
    with pytest.raises(SystemExit, match="FOLIO_ASSISTANT_SERVICE_ADDRESSES"):
        load_settings(Settings)


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "folio_assistant"], env=env, stderr=subprocess.PIPE)


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


async def _wait_serving(port: int, process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.monotonic() - started
            except grpc.aio.AioRpcError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            # Imports and the model load take seconds; minutes only on a machine under heavy load.
            assert time.monotonic() - started < 180, "assistant did not become healthy"
            await asyncio.sleep(0.1)


async def _status(port: int) -> assistant_pb2.IndexStatus:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = assistant_pb2_grpc.AssistantServiceStub(channel)
        return await stub.GetIndexStatus(assistant_pb2.GetIndexStatusRequest(), timeout=5)


async def test_serves_at_once_ingests_in_the_background_and_keeps_its_index(
    tmp_path: Path, backends: Backends, issuer: TestIssuer
) -> None:
    port = free_port()
    catalog = backends.address
    env = {
        **os.environ,
        "FOLIO_ASSISTANT_PORT": str(port),
        "FOLIO_ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "FOLIO_ASSISTANT_SERVICE_ADDRESSES": f'{{"catalog": "{catalog}"}}',
        "FOLIO_ASSISTANT_LOG_FORMAT": "text",
        "FOLIO_AUTH_ISSUER_URL": issuer.url,
        "FOLIO_AUTH_CLIENT_ID": "folio-assistant",
        "FOLIO_AUTH_CLIENT_SECRET": issuer.clients["folio-assistant"],
    }
    for attempt in ("first start: empty index", "restart: index kept"):
        process = _start(env)
        try:
            await _wait_serving(port, process)
            deadline = time.monotonic() + 120
            while (status := await _status(port)).indexed_books < 5 or status.ingesting:
                assert time.monotonic() < deadline, f"{attempt}: ingestion did not finish: {status}"
                await asyncio.sleep(0.2)
            if attempt.startswith("restart"):
                # Not empty at start: no background ingestion ran.
                assert status.last.phase == assistant_pb2.INGEST_PHASE_UNSPECIFIED
            else:
                assert status.last.phase == assistant_pb2.INGEST_PHASE_DONE
        finally:
            assert _stop(process) == 0
