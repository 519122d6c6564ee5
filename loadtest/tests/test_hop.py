"""The hop's open-loop sender: calls go out on schedule whatever the answers' speed."""

import asyncio

from loadtest.hop import open_loop


async def test_slow_answers_do_not_hold_the_schedule_back_and_each_side_is_timed_apart() -> None:
    async def slow() -> None:
        await asyncio.sleep(0.2)

    async def quick() -> None:
        return None

    slow_side, quick_side = await open_loop([slow, quick], rate=40, seconds=0.5, warmup=0.25)
    # 40 a second each for 0.5 s measured: 20 calls a side, although every slow answer takes 8 periods.
    assert (len(slow_side.ms), len(quick_side.ms)) == (20, 20)
    assert slow_side.percentile(50) >= 200
    assert quick_side.percentile(99) < 100


async def test_a_failing_call_counts_as_an_error_not_a_latency() -> None:
    async def failing() -> None:
        raise RuntimeError("refused")

    (side,) = await open_loop([failing], rate=20, seconds=0.5, warmup=0)
    assert (side.errors, side.ms) == (10, [])
