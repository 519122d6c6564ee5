"""PaymentService through a real in-process gRPC server over a real ledger (SQLite and PostgreSQL)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
from sqlalchemy import Engine, text

from folio.common.v1 import money_pb2
from folio.payment.v1 import payment_pb2, payment_pb2_grpc
from folio_payment.ledger import SqlLedger
from folio_payment.processor import (
    ANSWER_LOST,
    CardDetails,
    Decision,
    ProcessorUnavailable,
    SimulatedProcessor,
)
from folio_payment.servicer import ACCESS, PaymentServicer, _check_amount
from folio_payment.servicer import _key as _key_of
from folio_platform.database import Database
from folio_platform.errors import InvalidArgument, field_violations
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_testing.data import (
    DECLINED_CARD_NUMBER,
    GOOD_CARD_NUMBER,
    NO_FUNDS_CARD_NUMBER,
    TIMEOUT_CARD_NUMBER,
    card_message,
)
from folio_testing.issuer import TestIssuer

PROCESSOR_TIMEOUT = 0.3
GOOD = card_message(GOOD_CARD_NUMBER)
DECLINED = card_message(DECLINED_CARD_NUMBER)
NO_FUNDS = card_message(NO_FUNDS_CARD_NUMBER)
TIMES_OUT = card_message(TIMEOUT_CARD_NUMBER)
ANSWER_IS_LOST = card_message(ANSWER_LOST)
USD_10 = money_pb2.Money(currency_code="USD", minor_units=1000)


class CountingProcessor(SimulatedProcessor):
    """The simulated processor, counting the calls that reach it and the keys they carry (a test spy);
    `unreachable_lookups` lookups fail as a processor that cannot answer would."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.keys: list[str] = []
        self.lookups = 0
        self.unreachable_lookups = 0
        self.answer = asyncio.Event()  # cleared by a test that wants to hold the answer back
        self.answer.set()

    async def authorize(self, key: str, card: CardDetails, amount_minor: int, currency: str) -> Decision:
        self.calls += 1
        self.keys.append(key)
        await asyncio.sleep(0.05)  # long enough for concurrent duplicates to overlap
        await self.answer.wait()
        return await super().authorize(key, card, amount_minor, currency)

    async def lookup(self, key: str) -> Decision | None:
        self.lookups += 1
        if self.unreachable_lookups:
            self.unreachable_lookups -= 1
            raise ProcessorUnavailable("card processor unreachable")
        return await super().lookup(key)


@dataclass
class Payments:
    stub: payment_pb2_grpc.PaymentServiceStub
    processor: CountingProcessor
    engine: Engine

    async def all(self) -> list[payment_pb2.Payment]:
        return list((await self.stub.ListPayments(payment_pb2.ListPaymentsRequest(page_size=100))).payments)

    async def get(self, key: str) -> payment_pb2.Payment:
        return await self.stub.GetPayment(payment_pb2.GetPaymentRequest(idempotency_key=key))


@pytest.fixture
async def payments(database: Database, issuer: TestIssuer) -> AsyncIterator[Payments]:
    """Payment as orders' service account (the only caller that moves money) sees it."""
    ledger = SqlLedger(database)
    processor = CountingProcessor()
    servicer = PaymentServicer(
        ledger,
        processor,
        processor_timeout=PROCESSOR_TIMEOUT,
        clock=lambda: datetime(2026, 11, 27, tzinfo=UTC),
    )
    server = GrpcServer(
        register=lambda s: payment_pb2_grpc.add_PaymentServiceServicer_to_server(servicer, s),
        service_names=["folio.payment.v1.PaymentService"],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth(ACCESS),
    )
    await server.start()
    channel = issuer.channel(server.port, issuer.service_token("folio-orders"))
    yield Payments(payment_pb2_grpc.PaymentServiceStub(channel), processor, database.engine)
    await channel.close()
    await server.stop()


def _charge(
    key: str, card: payment_pb2.Card = GOOD, amount: money_pb2.Money = USD_10
) -> payment_pb2.ChargeRequest:
    return payment_pb2.ChargeRequest(idempotency_key=key, amount=amount, card=card, reference="ord_1")


def _key() -> str:
    return f"order-{uuid.uuid4().hex}"


async def _error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def _dead_claim(engine: Engine, key: str) -> None:
    """A claim left pending long ago by a process that died before the processor answered."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO payments (id, idempotency_key, status, amount_minor, currency_code, reference,"
                " card_brand, card_last4, decline_code, decline_message, created_at_ms, claimed_at_ms,"
                " refund_reason) VALUES (:id, :key, 'pending', 1000, 'USD', 'ord_1', 'visa', '4242',"
                " '', '', 1000, 1000, '')"
            ),
            {"id": f"pay_{uuid.uuid4().hex}", "key": key},
        )


async def test_a_charge_succeeds_and_keeps_only_brand_and_last_four(payments: Payments) -> None:
    key = _key()
    payment = await payments.stub.Charge(_charge(key))

    assert payment.status == payment_pb2.PAYMENT_STATUS_SUCCEEDED
    assert payment.id.startswith("pay_")
    assert (payment.card_brand, payment.card_last4) == ("visa", "4242")
    assert (payment.amount, payment.reference, payment.idempotency_key) == (USD_10, "ord_1", key)
    assert abs(payment.created_at_unix_ms - time.time() * 1000) < 10_000
    assert await payments.all() == [payment]
    with payments.engine.connect() as connection:
        stored = [str(value) for value in connection.execute(text("SELECT * FROM payments")).one()]
    assert not [value for value in stored if GOOD_CARD_NUMBER in value or value == GOOD.cvv]


@pytest.mark.parametrize(
    ("card", "code", "message"),
    [
        (DECLINED, "card_declined", "Your card was declined."),
        (NO_FUNDS, "insufficient_funds", "Your card has insufficient funds."),
    ],
)
async def test_a_decline_is_a_recorded_result_not_an_error(
    payments: Payments, card: payment_pb2.Card, code: str, message: str
) -> None:
    key = _key()
    payment = await payments.stub.Charge(_charge(key, card))

    assert payment.status == payment_pb2.PAYMENT_STATUS_DECLINED
    assert (payment.decline_code, payment.decline_message) == (code, message)
    assert await payments.get(key) == payment


async def test_the_timeout_card_is_unavailable_and_charges_nothing(payments: Payments) -> None:
    key = _key()
    started = time.monotonic()
    error = await _error(payments.stub.Charge(_charge(key, TIMES_OUT), timeout=5))

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "card processor timed out" in (error.details() or "")
    assert PROCESSOR_TIMEOUT <= time.monotonic() - started < 3
    assert await payments.all() == []
    assert (await _error(payments.get(key))).code() == grpc.StatusCode.NOT_FOUND
    # Nothing was charged, so the same key may try again (and time out again).
    again = await _error(payments.stub.Charge(_charge(key, TIMES_OUT)))
    assert again.code() == grpc.StatusCode.UNAVAILABLE
    assert payments.processor.calls == 2


async def test_a_caller_giving_up_mid_charge_leaves_nothing_charged(payments: Payments) -> None:
    key = _key()
    error = await _error(payments.stub.Charge(_charge(key, TIMES_OUT), timeout=0.1))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    # The cut-off charge drops its claim by itself (no lookup needed to clean it up).
    for _ in range(100):
        if not await payments.all():
            break
        await asyncio.sleep(0.02)
    assert await payments.all() == []
    assert (await _error(payments.get(key))).code() == grpc.StatusCode.NOT_FOUND


async def test_the_same_key_charges_once(payments: Payments) -> None:
    key = _key()
    first = await payments.stub.Charge(_charge(key))
    again = await payments.stub.Charge(_charge(key))

    assert again == first
    assert payments.processor.calls == 1
    assert await payments.get(key) == first
    assert len(await payments.all()) == 1


async def test_a_retried_decline_stays_declined(payments: Payments) -> None:
    key = _key()
    first = await payments.stub.Charge(_charge(key, DECLINED))
    again = await payments.stub.Charge(_charge(key, DECLINED))

    assert again == first
    assert payments.processor.calls == 1


async def test_twenty_concurrent_charges_with_one_key_charge_once(payments: Payments) -> None:
    key = _key()
    results = await asyncio.gather(*(payments.stub.Charge(_charge(key), timeout=10) for _ in range(20)))

    assert {p.id for p in results} == {results[0].id}
    assert {p.status for p in results} == {payment_pb2.PAYMENT_STATUS_SUCCEEDED}
    assert payments.processor.calls == 1
    assert len(await payments.all()) == 1


async def test_get_payment_waits_for_a_charge_in_flight(payments: Payments) -> None:
    key = _key()
    payments.processor.answer.clear()
    charge = asyncio.ensure_future(payments.stub.Charge(_charge(key)))
    for _ in range(500):
        if payments.processor.calls:
            break
        await asyncio.sleep(0.01)
    assert [p.status for p in await payments.all()] == [payment_pb2.PAYMENT_STATUS_UNSPECIFIED]

    lookup = asyncio.ensure_future(payments.get(key))
    await asyncio.sleep(0.1)
    assert not lookup.done()
    payments.processor.answer.set()

    found = await lookup
    assert found.status == payment_pb2.PAYMENT_STATUS_SUCCEEDED
    assert found == await charge


@pytest.mark.parametrize(
    "changed",
    [
        {"amount": money_pb2.Money(currency_code="USD", minor_units=999)},
        {"amount": money_pb2.Money(currency_code="EUR", minor_units=1000)},
        {"card": payment_pb2.Card(number="5555555555554444", exp_month=12, exp_year=2035, cvv="123")},
    ],
)
async def test_a_key_reused_with_a_different_request_is_refused(
    payments: Payments, changed: dict[str, object]
) -> None:
    key = _key()
    first = await payments.stub.Charge(_charge(key))
    error = await _error(payments.stub.Charge(_charge(key, **changed)))  # type: ignore[arg-type]

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "idempotency key reused with a different request"
    assert payments.processor.calls == 1
    assert await payments.all() == [first]


async def test_a_charge_left_pending_by_a_crash_is_finished_by_a_retry(payments: Payments) -> None:
    key = _key()
    _dead_claim(payments.engine, key)
    assert [p.status for p in await payments.all()] == [payment_pb2.PAYMENT_STATUS_UNSPECIFIED]

    finished = await payments.stub.Charge(_charge(key))

    assert finished.status == payment_pb2.PAYMENT_STATUS_SUCCEEDED
    assert payments.processor.calls == 1
    assert await payments.all() == [finished]


async def test_a_dead_claim_is_not_found_so_the_caller_knows_nothing_was_charged(payments: Payments) -> None:
    key = _key()
    _dead_claim(payments.engine, key)

    assert (await _error(payments.get(key))).code() == grpc.StatusCode.NOT_FOUND
    assert payments.processor.lookups == 1  # the processor said it authorized nothing under the key
    assert await payments.all() == []


async def test_the_processor_is_asked_under_the_payment_key(payments: Payments) -> None:
    key = _key()
    await payments.stub.Charge(_charge(key))

    assert payments.processor.keys == [key]


async def test_an_authorization_whose_answer_is_lost_is_found_by_key_and_never_repeated(
    payments: Payments,
) -> None:
    """The processor approves, then times out: payment asks it by key and records the approval."""
    key = _key()
    started = time.monotonic()
    payment = await payments.stub.Charge(_charge(key, ANSWER_IS_LOST), timeout=5)

    assert payment.status == payment_pb2.PAYMENT_STATUS_SUCCEEDED
    assert PROCESSOR_TIMEOUT <= time.monotonic() - started < 3
    assert (payments.processor.calls, payments.processor.lookups) == (1, 1)
    assert await payments.stub.Charge(_charge(key, ANSWER_IS_LOST)) == payment
    assert await payments.get(key) == payment
    assert payments.processor.calls == 1
    assert await payments.all() == [payment]


async def test_an_outcome_the_processor_cannot_tell_stays_pending_until_it_can(payments: Payments) -> None:
    key = _key()
    payments.processor.unreachable_lookups = 1
    error = await _error(payments.stub.Charge(_charge(key, ANSWER_IS_LOST), timeout=5))

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "cannot yet say whether it charged" in (error.details() or "")
    assert [p.status for p in await payments.all()] == [payment_pb2.PAYMENT_STATUS_UNSPECIFIED]
    # Once the claim is older than any charge can take, a lookup settles it: charged once.
    with payments.engine.begin() as connection:
        connection.execute(text("UPDATE payments SET claimed_at_ms = 1000"))
    found = await payments.get(key)
    assert found.status == payment_pb2.PAYMENT_STATUS_SUCCEEDED
    assert (payments.processor.calls, payments.processor.lookups) == (1, 2)


async def test_a_dead_claim_the_processor_authorized_is_recorded_not_charged_again(
    payments: Payments,
) -> None:
    """A process died after the processor approved but before it recorded the answer."""
    key = _key()
    await payments.processor.authorize(key, check_card_details(), 1000, "USD")
    _dead_claim(payments.engine, key)

    for ask in (payments.get(key), payments.stub.Charge(_charge(key))):
        assert (await ask).status == payment_pb2.PAYMENT_STATUS_SUCCEEDED
    assert payments.processor.calls == 1  # the seeding call above; the retried Charge asked by key
    assert [p.status for p in await payments.all()] == [payment_pb2.PAYMENT_STATUS_SUCCEEDED]


def check_card_details() -> CardDetails:
    return CardDetails(number=GOOD_CARD_NUMBER, brand="visa", exp_month=12, exp_year=2035, cvv="123")


def _card(number: str, month: int, year: int, cvv: str) -> payment_pb2.Card:
    return payment_pb2.Card(number=number, exp_month=month, exp_year=year, cvv=cvv)


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (_charge("short"), "idempotency_key"),
        (_charge("has spaces in it"), "idempotency_key"),
        (_charge(_key(), amount=money_pb2.Money(currency_code="USD", minor_units=0)), "amount.minor_units"),
        (_charge(_key(), amount=money_pb2.Money(currency_code="USD", minor_units=-5)), "amount.minor_units"),
        (
            _charge(_key(), amount=money_pb2.Money(currency_code="USD", minor_units=1_000_001)),
            "amount.minor_units",
        ),
        (
            _charge(_key(), amount=money_pb2.Money(currency_code="usd", minor_units=100)),
            "amount.currency_code",
        ),
        (_charge(_key(), amount=money_pb2.Money(minor_units=100)), "amount.currency_code"),
        (payment_pb2.ChargeRequest(idempotency_key=_key(), amount=USD_10), "card.number"),
        (_charge(_key(), _card("4242424242424241", 12, 2035, "123")), "card.number"),
        (_charge(_key(), _card("4242424242424242", 10, 2026, "123")), "card.exp_month"),
        (_charge(_key(), _card("4242424242424242", 1, 2020, "123")), "card.exp_year"),
        (_charge(_key(), _card("4242424242424242", 1, 2030, "1")), "card.cvv"),
        (
            payment_pb2.ChargeRequest(idempotency_key=_key(), amount=USD_10, card=GOOD, reference="x" * 101),
            "reference",
        ),
        (
            payment_pb2.ChargeRequest(
                idempotency_key=_key(), amount=USD_10, card=GOOD, reference="ord\x1b[2J"
            ),
            "reference",
        ),
        (_charge(_key(), _card("4242424242424242\x00", 12, 2035, "123")), "card.number"),
    ],
)
async def test_a_bad_charge_names_the_field_and_records_nothing(
    payments: Payments, request_message: payment_pb2.ChargeRequest, field: str
) -> None:
    error = await _error(payments.stub.Charge(request_message))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error)[0][0] == field
    assert await payments.all() == []
    assert payments.processor.calls == 0


async def test_a_payment_is_refunded_once(payments: Payments) -> None:
    paid = await payments.stub.Charge(_charge(_key()))
    refund = payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=paid.id, reason="out of stock")

    first = await payments.stub.Refund(refund)
    again = await payments.stub.Refund(refund)
    other_key = await payments.stub.Refund(
        payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=paid.id)
    )

    assert first.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    assert first.refund_reason == "out of stock"
    assert again == other_key == first
    assert await payments.get(paid.idempotency_key) == first
    assert payments.processor.calls == 1
    with payments.engine.connect() as connection:
        refunded = connection.execute(text("SELECT count(*) FROM payments WHERE refunded_at_ms IS NOT NULL"))
        assert refunded.scalar() == 1


async def test_concurrent_refunds_refund_once(payments: Payments) -> None:
    paid = await payments.stub.Charge(_charge(_key()))
    results = await asyncio.gather(
        *(
            payments.stub.Refund(
                payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=paid.id, reason=f"{n}")
            )
            for n in range(10)
        )
    )

    assert len({r.SerializeToString() for r in results}) == 1


async def test_refunds_of_unknown_or_declined_payments_are_refused(payments: Payments) -> None:
    unknown = await _error(
        payments.stub.Refund(
            payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=f"pay_{uuid.uuid4().hex}")
        )
    )
    declined = await payments.stub.Charge(_charge(_key(), DECLINED))
    refused = await _error(
        payments.stub.Refund(payment_pb2.RefundRequest(idempotency_key=_key(), payment_id=declined.id))
    )
    missing_id = await _error(payments.stub.Refund(payment_pb2.RefundRequest(idempotency_key=_key())))

    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert missing_id.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(missing_id)[0][0] == "payment_id"


async def test_unknown_keys_are_not_found(payments: Payments) -> None:
    error = await _error(payments.get(_key()))

    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_the_ledger_is_listed_oldest_first_in_pages(payments: Payments) -> None:
    charged = []
    for _ in range(5):
        charged.append(await payments.stub.Charge(_charge(_key())))
        await asyncio.sleep(0.002)  # distinct creation times

    listed: list[payment_pb2.Payment] = []
    token = ""
    while True:
        page = await payments.stub.ListPayments(
            payment_pb2.ListPaymentsRequest(page_size=2, page_token=token)
        )
        assert page.total_size == 5
        listed.extend(page.payments)
        token = page.next_page_token
        if not token:
            break

    assert [p.id for p in listed] == [p.id for p in charged]
    bad = await _error(payments.stub.ListPayments(payment_pb2.ListPaymentsRequest(page_token="nonsense")))
    assert field_violations(bad)[0][0] == "page_token"


@pytest.mark.parametrize("value", ["order-key-1\n", "USD\n"])
def test_keys_and_currencies_must_match_whole(value: str) -> None:
    with pytest.raises(InvalidArgument):
        _key_of("idempotency_key", value)
    with pytest.raises(InvalidArgument):
        _check_amount(money_pb2.Money(currency_code=value, minor_units=100))
