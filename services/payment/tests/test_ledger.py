"""The ledger contract, on SQLite and PostgreSQL: claim, settle, refund, look up, list."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from folio_payment.ledger import ChargeAttempt, PaymentRecord, SqlLedger
from folio_payment.tables import MIGRATIONS
from folio_platform.database import Database, create_engine_for
from folio_platform.errors import FailedPrecondition, NotFound
from folio_testing.plugin import PostgresServer


def _attempt(key: str, amount: int = 1000) -> ChargeAttempt:
    return ChargeAttempt(
        key=key,
        amount_minor=amount,
        currency_code="USD",
        reference="ord_1",
        card_brand="visa",
        card_last4="4242",
    )


async def _paid(ledger: SqlLedger, key: str) -> PaymentRecord:
    claim, _ = await ledger.claim(_attempt(key))
    return await ledger.settle(claim, approved=True, code="", message="")


@pytest.fixture
def ledger(database: Database) -> SqlLedger:
    return SqlLedger(database)


async def test_a_claim_is_pending_until_settled(ledger: SqlLedger) -> None:
    claim, created = await ledger.claim(_attempt("key-00001"))
    settled = await ledger.settle(claim, approved=True, code="", message="")

    assert created
    assert claim.status == "pending"
    assert claim.id.startswith("pay_")
    assert len(claim.id) == 36
    assert settled.status == "succeeded"
    assert await ledger.by_key("key-00001") == settled


async def test_a_second_claim_of_a_key_returns_the_first(ledger: SqlLedger) -> None:
    first, _ = await ledger.claim(_attempt("key-00001"))
    again, created = await ledger.claim(_attempt("key-00001", amount=5))

    assert not created
    assert again.id == first.id
    assert again.amount_minor == 1000
    assert not _attempt("key-00001", amount=5).matches(again)


async def test_concurrent_claims_of_one_key_have_one_winner(ledger: SqlLedger) -> None:
    results = await asyncio.gather(*(ledger.claim(_attempt("key-racing")) for _ in range(20)))

    assert sum(created for _, created in results) == 1
    assert {payment.id for payment, _ in results} == {results[0][0].id}
    _, total = await ledger.page(offset=0, limit=100)
    assert total == 1


async def test_settling_twice_keeps_the_first_answer(ledger: SqlLedger) -> None:
    claim, _ = await ledger.claim(_attempt("key-00001"))
    await ledger.settle(claim, approved=False, code="card_declined", message="Your card was declined.")
    again = await ledger.settle(claim, approved=True, code="", message="")

    assert (again.status, again.decline_code) == ("declined", "card_declined")


async def test_an_abandoned_claim_leaves_nothing(ledger: SqlLedger) -> None:
    claim, _ = await ledger.claim(_attempt("key-00001"))

    assert await ledger.abandon(claim)
    assert await ledger.by_key("key-00001") is None
    assert (await ledger.page(offset=0, limit=10))[1] == 0


async def test_a_settled_payment_cannot_be_abandoned(ledger: SqlLedger) -> None:
    claim, _ = await ledger.claim(_attempt("key-00001"))
    paid = await ledger.settle(claim, approved=True, code="", message="")

    assert not await ledger.abandon(claim)
    assert await ledger.by_key("key-00001") == paid


async def test_only_one_retry_takes_over_a_dead_claim(ledger: SqlLedger) -> None:
    claim, _ = await ledger.claim(_attempt("key-00001"))
    takers = await asyncio.gather(*(ledger.take_over(claim) for _ in range(5)))
    winners = [t for t in takers if t is not None]

    assert len(winners) == 1
    # The old claim can no longer be abandoned from under the new claimant.
    assert not await ledger.abandon(claim)
    assert await ledger.abandon(winners[0])


async def test_an_answer_for_an_abandoned_claim_is_still_recorded(ledger: SqlLedger) -> None:
    claim, _ = await ledger.claim(_attempt("key-00001"))
    await ledger.abandon(claim)
    settled = await ledger.settle(claim, approved=True, code="", message="")

    assert settled.status == "succeeded"
    assert await ledger.by_key("key-00001") == settled


async def test_a_payment_is_refunded_once_whatever_the_key(ledger: SqlLedger) -> None:
    paid = await _paid(ledger, "key-00001")

    first = await ledger.refund(paid.id, refund_key="refund-1", reason="out of stock")
    again = await ledger.refund(paid.id, refund_key="refund-1", reason="again")
    other = await ledger.refund(paid.id, refund_key="refund-2", reason="other")

    assert first.status == "refunded"
    assert first.refund_reason == "out of stock"
    assert first.refunded_at_ms is not None
    assert again == other == first


async def test_a_refund_key_cannot_refund_a_second_payment(ledger: SqlLedger) -> None:
    one = await _paid(ledger, "key-00001")
    two = await _paid(ledger, "key-00002")
    await ledger.refund(one.id, refund_key="refund-1", reason="")

    with pytest.raises(FailedPrecondition, match="idempotency key reused"):
        await ledger.refund(two.id, refund_key="refund-1", reason="")
    assert (await ledger.by_key("key-00002")) == two


async def test_refunds_only_of_succeeded_payments(ledger: SqlLedger) -> None:
    claim, _ = await ledger.claim(_attempt("key-00001"))
    with pytest.raises(FailedPrecondition, match="still being processed"):
        await ledger.refund(claim.id, refund_key="refund-1", reason="")
    declined = await ledger.settle(claim, approved=False, code="card_declined", message="")
    with pytest.raises(FailedPrecondition, match="declined"):
        await ledger.refund(declined.id, refund_key="refund-1", reason="")
    with pytest.raises(NotFound):
        await ledger.refund("pay_unknown", refund_key="refund-1", reason="")


async def test_concurrent_refunds_refund_once(ledger: SqlLedger) -> None:
    paid = await _paid(ledger, "key-00001")
    results = await asyncio.gather(
        *(ledger.refund(paid.id, refund_key=f"refund-{n}", reason=str(n)) for n in range(10))
    )

    assert len({(r.refund_key, r.refunded_at_ms) for r in results}) == 1


async def test_pages_are_oldest_first(ledger: SqlLedger, engine: Engine) -> None:
    for n in range(5):
        await ledger.claim(_attempt(f"key-0000{n}"))
    with engine.begin() as connection:  # distinct, known creation times
        for n in range(5):
            connection.execute(
                text("UPDATE payments SET created_at_ms = :at WHERE idempotency_key = :key"),
                {"at": 1000 - n, "key": f"key-0000{n}"},
            )

    first, total = await ledger.page(offset=0, limit=3)
    rest, _ = await ledger.page(offset=3, limit=3)

    assert total == 5
    assert [p.idempotency_key for p in first + rest] == [f"key-0000{n}" for n in (4, 3, 2, 1, 0)]


async def test_the_ledger_survives_a_new_instance(database_url: str) -> None:
    with Database.connect(database_url) as database:
        paid = await _paid(SqlLedger(database), "key-00001")

    # A restart migrates again: harmless.
    with Database.open(database_url, MIGRATIONS) as database:
        second = SqlLedger(database)
        assert await second.by_key("key-00001") == paid
        again, created = await second.claim(_attempt("key-00001"))
        assert (again, created) == (paid, False)


async def test_no_card_number_or_cvv_column_exists(engine: Engine) -> None:
    with engine.connect() as connection:
        columns = set(connection.execute(text("SELECT * FROM payments")).keys())

    assert {"card_brand", "card_last4"} <= columns
    assert not {c for c in columns if "number" in c or "cvv" in c or "pan" in c}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


async def test_a_ledger_from_the_first_schema_upgrades_in_place(blank_url: str) -> None:
    engine = create_engine_for(blank_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO payments (id, idempotency_key, status, amount_minor, currency_code, card_brand,"
                " card_last4, created_at_ms) VALUES ('pay_old', 'key-00001', 'succeeded', 5, 'USD', 'visa',"
                " '4242', 1234)"
            )
        )
    engine.dispose()

    with Database.open(blank_url, MIGRATIONS) as database:
        ledger = SqlLedger(database)
        old = await ledger.by_key("key-00001")
        assert old is not None
        assert (old.status, old.claimed_at_ms) == ("succeeded", 1234)
        assert (await ledger.refund("pay_old", refund_key="refund-1", reason="")).status == "refunded"
