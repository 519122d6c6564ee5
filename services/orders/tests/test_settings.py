"""Settings come from FOLIO_ORDERS_* variables and fail early, naming the variable."""

import pytest

from folio_orders.settings import Settings
from folio_platform.settings import load_settings


def test_defaults_reach_the_local_services(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()

    assert (settings.host, settings.port) == ("127.0.0.1", 50054)
    assert settings.service_addresses == {
        "catalog": "127.0.0.1:50051",
        "cart": "127.0.0.1:50052",
        "payment": "127.0.0.1:50053",
    }
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / '.folio/data/orders.db'}"


def test_variables_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_ORDERS_PORT", "6000")
    monkeypatch.setenv("FOLIO_ORDERS_DATABASE_URL", "postgresql://orders@db/orders")
    monkeypatch.setenv(
        "FOLIO_ORDERS_SERVICE_ADDRESSES",
        '{"cart": "cart:50052", "catalog": "catalog:50051", "payment": "10.0.0.1:50053,10.0.0.2:50053"}',
    )
    monkeypatch.setenv("FOLIO_ORDERS_RECOVERY_INTERVAL_SECONDS", "1.5")

    settings = Settings()

    assert settings.port == 6000
    assert settings.resolved_database_url() == "postgresql://orders@db/orders"
    assert settings.service_addresses["payment"] == "10.0.0.1:50053,10.0.0.2:50053"
    assert settings.recovery_interval_seconds == 1.5


def test_a_missing_dependency_address_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLIO_ORDERS_SERVICE_ADDRESSES", '{"cart": "cart:50052"}')

    with pytest.raises(SystemExit, match=r"FOLIO_ORDERS_SERVICE_ADDRESSES.*catalog, payment"):
        load_settings(Settings)
