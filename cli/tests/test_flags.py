"""`folio flags`: what it writes is what the services read, and what they would refuse it refuses."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from folio_cli.flags import all_flags
from folio_cli.main import app
from folio_platform.config import LiveSettings

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def flags(config_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["flags", *args, "--config-dir", str(config_dir)])
    return result.exit_code, result.output


def test_every_drill_of_the_issue_has_a_flag() -> None:
    assert {f.name for f in all_flags()} >= {
        "payment.failure_rate",
        "payment.latency_ms",
        "catalog.latency_ms",
        "cart.store_outage",
        "storefront.memory_leak_kb_per_request",
        "assistant.llm_rate_limit",
        "assistant.llm_slow_ms",
        "assistant.llm_wrong_answers",
    }


def test_set_writes_the_shared_document_the_services_validate(tmp_path: Path) -> None:
    assert flags(tmp_path, "set", "payment.failure_rate", "0.3") == (0, "payment.failure_rate = 0.3\n")
    assert flags(tmp_path, "set", "cart.store_outage", "true")[0] == 0

    settings = LiveSettings.model_validate(yaml.safe_load((tmp_path / "shared.yaml").read_text()))
    assert settings.flags.payment.failure_rate == 0.3
    assert settings.flags.cart.store_outage is True
    code, listing = flags(tmp_path, "list")
    assert code == 0
    assert "payment.failure_rate" in listing
    assert "0.3" in listing


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("payment.failure_rate", "1.5", "less than or equal to 1"),
        ("catalog.latency_ms", "soon", "valid integer"),
        ("payment.failure", "0.5", "unknown flag 'payment.failure'; known flags:"),
    ],
)
def test_a_value_the_services_would_reject_is_refused_and_nothing_written(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    code, output = flags(tmp_path, "set", name, value)

    assert code == 2
    assert message in output
    assert not (tmp_path / "shared.yaml").exists()


def test_clear_one_flag_keeps_the_others_and_clear_all_empties_them(tmp_path: Path) -> None:
    flags(tmp_path, "set", "payment.latency_ms", "300")
    flags(tmp_path, "set", "catalog.latency_ms", "200")

    assert flags(tmp_path, "clear", "payment.latency_ms") == (0, "cleared: payment.latency_ms\n")
    assert yaml.safe_load((tmp_path / "shared.yaml").read_text()) == {
        "flags": {"catalog": {"latency_ms": 200}}
    }
    assert flags(tmp_path, "clear") == (0, "cleared: catalog.latency_ms\n")
    assert (
        LiveSettings.model_validate(yaml.safe_load((tmp_path / "shared.yaml").read_text()) or {})
        == LiveSettings()
    )
    assert flags(tmp_path, "clear") == (0, "nothing to clear\n")


def test_list_names_a_hand_edited_file_that_the_services_reject(tmp_path: Path) -> None:
    (tmp_path / "shared.yaml").write_text("flags: {cart: {store_outage: maybe}}")

    code, output = flags(tmp_path, "list")

    assert code == 1
    assert "flags.cart.store_outage" in output
    assert "keep their last good config" in output
