import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from folio_platform.config import FileConfigSource, LiveConfig, LiveSettings, merge, parse_document

POLL = 0.05


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveConfig[LiveSettings]]:
    config = LiveConfig("payment", LiveSettings, FileConfigSource(tmp_path, poll_seconds=POLL))
    await config.start()
    yield config
    await config.close()


async def _until(condition: object, seconds: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(POLL)


async def test_without_documents_the_defaults_apply(live: LiveConfig[LiveSettings]) -> None:
    assert live.current == LiveSettings()
    assert live.current.flags.payment.failure_rate == 0


async def test_a_change_to_the_shared_file_is_applied_live(
    tmp_path: Path, live: LiveConfig[LiveSettings]
) -> None:
    seen: list[LiveSettings] = []
    live.on_change(seen.append)
    (tmp_path / "shared.yaml").write_text("flags:\n  payment:\n    failure_rate: 0.5\n")

    await _until(lambda: live.current.flags.payment.failure_rate == 0.5)
    assert seen[-1].flags.payment.failure_rate == 0.5


async def test_the_service_document_wins_over_the_shared_one(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text("flags: {payment: {failure_rate: 0.5, latency_ms: 100}}")
    (tmp_path / "payment.yaml").write_text("flags: {payment: {latency_ms: 900}}")
    config = LiveConfig("payment", LiveSettings, FileConfigSource(tmp_path))
    await config.start()
    await config.close()

    assert config.current.flags.payment.failure_rate == 0.5
    assert config.current.flags.payment.latency_ms == 900


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "flags: {payment: {failure_rate: 2}}",
            "flags.payment.failure_rate: Input should be less than or equal to 1",
        ),
        ("flags: {payment: {failure_rat: 0.5}}", "flags.payment.failure_rat: Extra inputs are not permitted"),
        ("flags: {payment: [", "shared: not valid YAML"),
        ("- just\n- a list", "shared: must be a mapping"),
    ],
)
async def test_an_invalid_change_is_rejected_and_the_last_good_config_stays(
    tmp_path: Path, live: LiveConfig[LiveSettings], caplog: pytest.LogCaptureFixture, text: str, reason: str
) -> None:
    (tmp_path / "shared.yaml").write_text("flags: {payment: {failure_rate: 0.25}}")
    await _until(lambda: live.current.flags.payment.failure_rate == 0.25)

    with caplog.at_level(logging.ERROR):
        (tmp_path / "shared.yaml").write_text(text)
        await _until(lambda: live.rejected is not None)

    assert reason in (live.rejected or "")
    assert live.current.flags.payment.failure_rate == 0.25
    rejection = next(r for r in caplog.records if r.getMessage().startswith("config change rejected"))
    assert reason in rejection.reason  # type: ignore[attr-defined]


async def test_production_refuses_failure_drills_and_keeps_the_last_good_config(tmp_path: Path) -> None:
    (tmp_path / "payment.yaml").write_text("llm: {timeout_seconds: 10}\n")
    config = LiveConfig("payment", LiveSettings, FileConfigSource(tmp_path), refuse_drills=True)
    await config.start()
    assert config.current.llm.timeout_seconds == 10
    (tmp_path / "payment.yaml").write_text("flags: {payment: {failure_rate: 0.5}}\n")
    assert not await config.reload()
    assert config.current.flags.payment.failure_rate == 0
    assert config.current.llm.timeout_seconds == 10
    assert config.rejected is not None
    assert "refused in production" in config.rejected
    await config.close()


async def test_a_deleted_document_brings_back_the_defaults(
    tmp_path: Path, live: LiveConfig[LiveSettings]
) -> None:
    (tmp_path / "shared.yaml").write_text("flags: {cart: {store_outage: true}}")
    await _until(lambda: live.current.flags.cart.store_outage)

    (tmp_path / "shared.yaml").unlink()

    await _until(lambda: not live.current.flags.cart.store_outage)


async def test_an_invalid_document_at_start_leaves_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text("flags: {catalog: {latency_ms: -1}}")
    config = LiveConfig("catalog", LiveSettings, FileConfigSource(tmp_path))
    await config.start()
    await config.close()

    assert config.current == LiveSettings()
    assert config.rejected is not None
    assert "flags.catalog.latency_ms" in config.rejected


async def test_no_source_means_defaults_and_no_watching() -> None:
    config = LiveConfig("cart", LiveSettings, None)
    await config.start()

    assert config.current == LiveSettings()
    assert await config.reload() is False


def test_merge_lays_mappings_over_each_other() -> None:
    assert merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"c": 9}}) == {"a": {"b": 1, "c": 9}, "d": 3}


def test_a_blank_document_is_empty() -> None:
    assert parse_document("shared", "  \n") == {}
    assert parse_document("shared", None) == {}


async def test_a_change_right_after_start_is_not_missed(tmp_path: Path) -> None:
    config = LiveConfig("catalog", LiveSettings, FileConfigSource(tmp_path, poll_seconds=POLL))
    await config.start()
    try:
        # No await between start and the write: the watcher must already know the old state.
        (tmp_path / "shared.yaml").write_text("flags: {catalog: {latency_ms: 5}}")
        await _until(lambda: config.current.flags.catalog.latency_ms == 5)
    finally:
        await config.close()
