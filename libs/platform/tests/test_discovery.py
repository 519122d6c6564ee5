import pytest

from folio_platform.discovery import ServiceNotFound, StaticDiscovery


def test_resolves_a_single_address() -> None:
    discovery = StaticDiscovery({"catalog": "catalog.folio.svc:50051"})

    assert discovery.resolve("catalog") == ["catalog.folio.svc:50051"]


def test_resolves_comma_separated_addresses_in_order_without_blanks() -> None:
    discovery = StaticDiscovery({"catalog": " 10.0.0.1:50051, 10.0.0.2:50052 ,"})

    assert discovery.resolve("catalog") == ["10.0.0.1:50051", "10.0.0.2:50052"]


def test_each_service_resolves_to_its_own_addresses() -> None:
    discovery = StaticDiscovery({"catalog": "127.0.0.1:1", "orders": "127.0.0.1:2"})

    assert discovery.resolve("catalog") == ["127.0.0.1:1"]
    assert discovery.resolve("orders") == ["127.0.0.1:2"]


def test_callers_cannot_change_the_table_through_a_result() -> None:
    discovery = StaticDiscovery({"catalog": "127.0.0.1:1"})

    discovery.resolve("catalog").append("127.0.0.1:666")

    assert discovery.resolve("catalog") == ["127.0.0.1:1"]


def test_unknown_service_raises_naming_the_known_ones() -> None:
    discovery = StaticDiscovery({"orders": "127.0.0.1:2", "catalog": "127.0.0.1:1"})

    with pytest.raises(ServiceNotFound) as excinfo:
        discovery.resolve("payments")

    message = str(excinfo.value)
    assert "payments" in message
    assert "catalog" in message
    assert "orders" in message
    assert isinstance(excinfo.value, LookupError)


def test_unknown_service_with_an_empty_table() -> None:
    with pytest.raises(ServiceNotFound, match="catalog"):
        StaticDiscovery({}).resolve("catalog")


@pytest.mark.parametrize(
    "value", ["nohost", "h:0", "h:99999", "", " , ", ":50051", "h:", "h:port", "h:-1", "ok:1,nohost"]
)
def test_malformed_addresses_fail_at_construction(value: str) -> None:
    with pytest.raises(ValueError, match="catalog"):
        StaticDiscovery({"catalog": value})


@pytest.mark.parametrize("value", ["h:1", "h:65535", "[::1]:50051"])
def test_port_range_edges_and_ipv6_are_accepted(value: str) -> None:
    assert StaticDiscovery({"catalog": value}).resolve("catalog") == [value]
