"""The service as it is run: `python -m folio_payment` configured by FOLIO_PAYMENT_* variables."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_payment import app
from folio_payment.settings import Settings
from folio_platform.auth import bearer
from folio_testing.data import TIMEOUT_CARD_NUMBER, card_message
from folio_testing.issuer import TestIssuer
from folio_testing.plugin import free_port
from folio_testing.resources import database_options

CARD = card_message()


@contextmanager
def _running(env: dict[str, str]) -> Iterator[payment_pb2_grpc.PaymentServiceStub]:
    process = subprocess.Popen(
        [sys.executable, "-m", "folio_payment"], env={**os.environ, **env}, stderr=subprocess.PIPE
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{env['FOLIO_PAYMENT_PORT']}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 90  # a cold start on a loaded machine
            while True:
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "payment service did not become healthy"
                time.sleep(0.1)
            yield payment_pb2_grpc.PaymentServiceStub(channel)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PORT", "DATA_DIR", "DATABASE_URL", "PROCESSOR_TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"FOLIO_PAYMENT_{name}", raising=False)
    defaults = Settings()
    assert (defaults.port, defaults.processor_timeout_seconds) == (50053, 3.0)

    monkeypatch.setenv("FOLIO_PAYMENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FOLIO_PAYMENT_PROCESSOR_TIMEOUT_SECONDS", "0.5")
    configured = Settings()
    assert configured.resolved_database_url() == f"sqlite:///{tmp_path.resolve() / 'payment.db'}"
    assert configured.processor_timeout_seconds == 0.5

    monkeypatch.setenv("FOLIO_PAYMENT_DATABASE_URL", "postgresql://payment@db/payment")
    assert Settings().resolved_database_url() == "postgresql://payment@db/payment"


def test_the_service_charges_times_out_and_keeps_its_ledger_across_restarts(
    tmp_path: Path, issuer: TestIssuer
) -> None:
    orders = bearer(issuer.service_token("folio-orders"))
    env = {
        "FOLIO_AUTH_ISSUER_URL": issuer.url,
        "FOLIO_PAYMENT_PORT": str(free_port()),
        "FOLIO_PAYMENT_DATA_DIR": str(tmp_path / "data"),
        "FOLIO_PAYMENT_PROCESSOR_TIMEOUT_SECONDS": "0.5",
        "FOLIO_PAYMENT_LOG_FORMAT": "text",
    }
    charge = payment_pb2.ChargeRequest(
        idempotency_key="order-ord_restart",
        amount=money_pb2.Money(currency_code="EUR", minor_units=1299),
        card=CARD,
        reference="ord_restart",
    )
    with _running(env) as payments:
        with pytest.raises(grpc.RpcError) as anonymous:
            payments.Charge(charge, timeout=5)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        paid = payments.Charge(charge, timeout=5, metadata=orders)
        hangs = payment_pb2.ChargeRequest(
            idempotency_key="order-ord_hangs",
            amount=charge.amount,
            card=card_message(TIMEOUT_CARD_NUMBER),
        )
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as timed_out:
            payments.Charge(hangs, timeout=5, metadata=orders)
        assert timed_out.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        assert 0.5 <= time.monotonic() - started < 2.5

    assert (tmp_path / "data" / "payment.db").exists()
    with _running(env) as payments:
        lookup = payment_pb2.GetPaymentRequest(idempotency_key=charge.idempotency_key)
        assert payments.GetPayment(lookup, metadata=orders) == paid
        assert payments.Charge(charge, timeout=5, metadata=orders) == paid
        listed = payments.ListPayments(payment_pb2.ListPaymentsRequest(), metadata=orders)
        assert [p.id for p in listed.payments] == [paid.id]


async def test_the_payment_ledger_is_opened_durable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit of the ledger is synced to disk (SQLite synchronous=FULL): a confirmed order or a
    recorded charge survives a power cut."""
    runtime = SimpleNamespace(
        settings=Settings(), auth=None, telemetry=None, center=SimpleNamespace(config=None)
    )
    assert (await database_options(monkeypatch, app, runtime))["durable"] is True
