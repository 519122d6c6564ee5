import time

from folio_payment.drills import DRILL_DECLINE, DrillProcessor
from folio_payment.processor import CardDetails, Decision, SimulatedProcessor
from folio_platform.config import PaymentDrills
from folio_testing.data import CVV, EXP_MONTH, EXP_YEAR, GOOD_CARD_NUMBER

CARD = CardDetails(number=GOOD_CARD_NUMBER, brand="visa", exp_month=EXP_MONTH, exp_year=EXP_YEAR, cvv=CVV)


async def test_without_drills_the_processor_answers_as_ever() -> None:
    processor = DrillProcessor(SimulatedProcessor(), lambda: PaymentDrills())
    assert await processor.authorize("key-1", CARD, 1000, "USD") == Decision(approved=True)


async def test_the_failure_rate_declines_that_share_of_charges_as_a_processor_error() -> None:
    rolls = iter([0.1, 0.9, 0.49, 0.5])
    processor = DrillProcessor(
        SimulatedProcessor(), lambda: PaymentDrills(failure_rate=0.5), chance=lambda: next(rolls)
    )

    outcomes = [await processor.authorize(f"key-{n}", CARD, 1000, "USD") for n in range(4)]

    assert outcomes == [DRILL_DECLINE, Decision(approved=True), DRILL_DECLINE, Decision(approved=True)]
    assert DRILL_DECLINE.decline_code == "processor_error"


async def test_latency_delays_the_answer_and_follows_the_flag_live() -> None:
    flags = PaymentDrills(latency_ms=150)
    processor = DrillProcessor(SimulatedProcessor(), lambda: flags)
    started = time.monotonic()
    await processor.authorize("key-1", CARD, 1000, "USD")
    assert time.monotonic() - started >= 0.15

    flags = PaymentDrills()
    started = time.monotonic()
    await processor.authorize("key-2", CARD, 1000, "USD")
    assert time.monotonic() - started < 0.1


async def test_a_lookup_passes_through_to_the_processor() -> None:
    processor = DrillProcessor(SimulatedProcessor(), lambda: PaymentDrills(latency_ms=50))
    assert await processor.lookup("key-1") is None
    decision = await processor.authorize("key-1", CARD, 1000, "USD")
    assert await processor.lookup("key-1") == decision
