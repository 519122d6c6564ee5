import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import ServiceSettings, load_settings


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_X_")

    port: int = Field(ge=1, le=65535)
    service_addresses: dict[str, str] = Field(default_factory=dict)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("PORT", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_GRACE_SECONDS", "SERVICE_ADDRESSES"):
        monkeypatch.delenv(f"FOLIO_X_{name}", raising=False)
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _exit_message(excinfo: pytest.ExceptionInfo[SystemExit]) -> str:
    assert isinstance(excinfo.value.code, str), "the exit must carry a message for the operator"
    return excinfo.value.code


def test_values_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_X_PORT", "8123")
    monkeypatch.setenv("FOLIO_X_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("FOLIO_X_LOG_FORMAT", "text")
    monkeypatch.setenv("FOLIO_X_SHUTDOWN_GRACE_SECONDS", "12.5")
    monkeypatch.setenv("FOLIO_X_SERVICE_ADDRESSES", '{"catalog": "10.0.0.1:50051"}')

    settings = load_settings(ProbeSettings)

    assert settings.port == 8123
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "text"
    assert settings.shutdown_grace_seconds == 12.5
    assert settings.service_addresses == {"catalog": "10.0.0.1:50051"}


def test_shared_knobs_have_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_X_PORT", "1")

    settings = load_settings(ProbeSettings)

    assert (settings.log_level, settings.log_format, settings.shutdown_grace_seconds) == ("INFO", "json", 5.0)


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    monkeypatch.setenv("FOLIO_Y_PORT", "9998")
    monkeypatch.setenv("FOLIO_X_PORT", "7000")

    settings = load_settings(ProbeSettings)

    assert settings.port == 7000
    assert settings.log_level == "INFO"


def test_missing_required_value_exits_naming_the_variable() -> None:
    with pytest.raises(SystemExit) as excinfo:
        load_settings(ProbeSettings)

    message = _exit_message(excinfo)
    assert "FOLIO_X_PORT" in message
    assert "required" in message.lower()


@pytest.mark.parametrize("value", ["not-a-number", "0", "70000"])
def test_invalid_value_exits_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FOLIO_X_PORT", value)

    with pytest.raises(SystemExit) as excinfo:
        load_settings(ProbeSettings)

    assert "FOLIO_X_PORT" in _exit_message(excinfo)


def test_every_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_X_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("FOLIO_X_SHUTDOWN_GRACE_SECONDS", "500")

    with pytest.raises(SystemExit) as excinfo:
        load_settings(ProbeSettings)

    message = _exit_message(excinfo)
    for variable in ("FOLIO_X_PORT", "FOLIO_X_LOG_LEVEL", "FOLIO_X_SHUTDOWN_GRACE_SECONDS"):
        assert variable in message


def test_malformed_json_value_exits_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_X_PORT", "50051")
    monkeypatch.setenv("FOLIO_X_SERVICE_ADDRESSES", "catalog=10.0.0.1:50051")

    with pytest.raises(SystemExit) as excinfo:
        load_settings(ProbeSettings)

    assert "FOLIO_X_SERVICE_ADDRESSES" in _exit_message(excinfo)
