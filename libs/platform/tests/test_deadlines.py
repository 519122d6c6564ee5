import asyncio
import time

import pytest

from folio_platform.deadlines import deadline_scope, time_remaining


def test_unbounded_outside_any_scope() -> None:
    assert time_remaining() is None


def test_scope_bounds_the_work_inside() -> None:
    with deadline_scope(1.0):
        remaining = time_remaining()
        assert remaining is not None
        assert 0.9 < remaining <= 1.0


def test_scope_counts_down() -> None:
    with deadline_scope(1.0):
        first = time_remaining()
        time.sleep(0.01)
        second = time_remaining()
    assert first is not None
    assert second is not None
    assert second < first


def test_inner_scope_never_extends_the_outer_deadline() -> None:
    with deadline_scope(0.5), deadline_scope(60.0):
        remaining = time_remaining()
        assert remaining is not None
        assert remaining <= 0.5


def test_inner_scope_tightens_and_outer_is_restored_after() -> None:
    with deadline_scope(60.0):
        with deadline_scope(0.2):
            inner = time_remaining()
            assert inner is not None
            assert inner <= 0.2
        outer = time_remaining()
        assert outer is not None
        assert 59.0 < outer <= 60.0
    assert time_remaining() is None


def test_none_scope_keeps_whatever_is_outside() -> None:
    with deadline_scope(None):
        assert time_remaining() is None
    with deadline_scope(0.5), deadline_scope(None):
        remaining = time_remaining()
        assert remaining is not None
        assert remaining <= 0.5


def test_scope_is_restored_when_the_work_raises() -> None:
    with pytest.raises(RuntimeError), deadline_scope(1.0):
        raise RuntimeError("boom")
    assert time_remaining() is None


def test_an_expired_scope_reports_no_time_left() -> None:
    with deadline_scope(0.0):
        remaining = time_remaining()
        assert remaining is not None
        assert remaining <= 0


async def test_concurrent_requests_keep_their_own_deadlines() -> None:
    seen: dict[str, float | None] = {}
    both_inside = asyncio.Barrier(2)

    async def request(name: str, seconds: float) -> None:
        with deadline_scope(seconds):
            await both_inside.wait()
            seen[name] = time_remaining()

    await asyncio.gather(request("short", 0.3), request("long", 30.0))

    assert seen["short"] is not None
    assert seen["long"] is not None
    assert seen["short"] <= 0.3
    assert seen["long"] > 29.0
    assert time_remaining() is None
