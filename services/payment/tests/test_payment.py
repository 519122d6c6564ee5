"""PaymentService through a real gRPC server over a real ledger (SQLite and PostgreSQL)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_payment.ledger import Ledger
from folio_payment.processor import CardDetails, Decision, SimulatedProcessor
from folio_payment.servicer import PaymentServicer
from folio_platform.errors import field_violations
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.plugin import PostgresServer

GOOD = payment_pb2.Card(
    number="4242 4242 4242 4242", exp_month=12, exp_year=2035, cvv="123", holder_name="Ada"
)
USD_10 = money_pb2.Money(currency_code="USD", minor_units=1000)


class CountingProcessor(SimulatedProcessor):
    """The simulated processor, counting how often it is asked (a test spy)."""

    def __init__(self) -> None:
        self.calls = 0

    async def authorize(self, card: CardDetails, amount_minor: int, currency: str) -> Decision:
        self.calls += 1
        await asyncio.sleep(0.05)  # long enough for concurrent duplicates to overlap
        return await super().authorize(card, amount_minor, currency)


@dataclass
class Payments:
    stub: payment_pb2_grpc.PaymentServiceStub
    processor: CountingProcessor
    ledger: Ledger


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'payment.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
async def payments(ledger_url: str) -> AsyncIterator[Payments]:
    ledger = Ledger(ledger_url)
    processor = CountingProcessor()
    servicer = PaymentServicer(ledger, processor, processor_timeout=0.5)
    server = GrpcServer(
        register=lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, s),
        service_names=["folio.payment.v1.PaymentService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield Payments(payment_pb2_grpc.PaymentServiceStub(channel), processor, ledger)
    await channel.close()
    await server.stop()
    ledger.close()


def _charge(
    key: str, card: payment_pb2.Card = GOOD, amount: money_pb2.Money = USD_10
) -> payment_pb2.ChargeRequest:
    return payment_pb2.ChargeRequest(idempotency_key=key, amount=amount, card=card, reference="order-1")


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


async def test_a_charge_succeeds_and_stores_only_the_last_four_digits(payments: Payments) -> None:
    payment = await payments.stub.Charge(_charge(_key()))

    assert payment.status == payment_pb2.PAYMENT_STATUS_SUCCEEDED
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert payment.amount == USD_10
    listed = await payments.stub.ListPayments(payment_pb2.ListPaymentsRequest())
    assert [p.id for p in listed.payments] == [payment.id]
    assert "4242424242424242" not in repr(await payments.ledger.by_key(payment.idempotency_key))


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        ("4000000000000002", "card_declined", "declined"),
        ("4000000000009995", "insufficient_funds", "insufficient"),
    ],
)
async def test_declines_are_recorded_not_errors(
    payments: Payments, number: str, code: str, message: str
) -> None:
    card = payment_pb2.Card(number=number, exp_month=12, exp_year=2035, cvv="123")
    payment = await payments.stub.Charge(_charge(_key(), card))

    assert payment.status == payment_pb2.PAYMENT_STATUS_DECLINED
    assert payment.decline_code == code
    assert message in payment.decline_message


async def test_the_same_key_charges_once(payments: Payments) -> None:
    key = _key()
    first = await payments.stub.Charge(_charge(key))
    again = await payments.stub.Charge(_charge(key))

    assert again == first
    assert payments.processor.calls == 1
    assert (await payments.stub.GetPayment(payment_pb2.GetPaymentRequest(idempotency_key=key))).id == first.id


async def test_concurrent_charges_with_one_key_reach_the_processor_once(payments: Payments) -> None:
    key = _key()
    results = await asyncio.gather(*(payments.stub.Charge(_charge(key), timeout=10) for _ in range(20)))

    assert {p.id for p in results} == {results[0].id}
    assert payments.processor.calls == 1
    listed = await payments.stub.ListPayments(payment_pb2.ListPaymentsRequest(page_size=100))
    assert len(listed.payments) == 1


async def test_a_key_reused_for_another_amount_is_refused(payments: Payments) -> None:
    key = _key()
    await payments.stub.Charge(_charge(key))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.stub.Charge(_charge(key, amount=money_pb2.Money(currency_code="USD", minor_units=999)))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_malformed_card_names_the_field_and_records_nothing(payments: Payments) -> None:
    bad = payment_pb2.Card(number="4242 4242 4242 4241", exp_month=12, exp_year=2035, cvv="123")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.stub.Charge(_charge(_key(), bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(caught.value)[0][0] == "card.number"
    assert (await payments.stub.ListPayments(payment_pb2.ListPaymentsRequest())).total_size == 0


async def test_a_processor_timeout_is_unavailable_and_charges_nothing(payments: Payments) -> None:
    key = _key()
    hangs = payment_pb2.Card(number="4000000000000119", exp_month=12, exp_year=2035, cvv="123")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await payments.stub.Charge(_charge(key, hangs), timeout=5)

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "nothing was charged" in (caught.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await payments.stub.GetPayment(payment_pb2.GetPaymentRequest(idempotency_key=key))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_refund_happens_once(payments: Payments) -> None:
    paid = await payments.stub.Charge(_charge(_key()))
    refund = payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=paid.id, reason="out of stock")

    first = await payments.stub.Refund(refund)
    again = await payments.stub.Refund(refund)
    other_key = await payments.stub.Refund(
        payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=paid.id)
    )

    assert first.status == again.status == other_key.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    assert first.refund_reason == "out of stock"


async def test_refunds_of_unknown_or_declined_payments_are_refused(payments: Payments) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await payments.stub.Refund(payment_pb2.RefundRequest(idempotency_key=_key(), payment_id="pay_nope"))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    declined_card = payment_pb2.Card(number="4000000000000002", exp_month=12, exp_year=2035, cvv="123")
    declined = await payments.stub.Charge(_charge(_key(), declined_card))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await payments.stub.Refund(payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=declined.id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_the_ledger_persists(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    payment, created = await ledger.claim(
        key="persist-1", amount_minor=5, currency="USD", reference="r", brand="visa", last4="4242"
    )
    await ledger.settle(payment.id, approved=True)
    ledger.close()

    reopened = Ledger(ledger_url)
    try:
        found = await reopened.by_key("persist-1")
        assert created
        assert found is not None
        assert found.status == "succeeded"
    finally:
        reopened.close()
