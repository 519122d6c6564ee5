"""Finding the instances of a service by name.

`Discovery` is what clients depend on; `StaticDiscovery` answers from settings (the
embedded default and plain Kubernetes Services); the registry work adds Nacos behind the
same interface.
"""

from collections.abc import Mapping
from typing import Protocol


class ServiceNotFound(LookupError):
    """Discovery knows no instance of the service."""


class Discovery(Protocol):
    def resolve(self, service: str) -> list[str]:
        """host:port of every instance of `service`; raises ServiceNotFound if there is none."""
        ...


class StaticDiscovery:
    """A fixed table: service name -> one or more comma-separated host:port addresses."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self._table = {name: _parse(name, value) for name, value in table.items()}

    def resolve(self, service: str) -> list[str]:
        try:
            return list(self._table[service])
        except KeyError:
            known = ", ".join(sorted(self._table)) or "none"
            raise ServiceNotFound(f"no address configured for service {service!r} (known: {known})") from None


def _parse(name: str, value: str) -> list[str]:
    addresses = [part.strip() for part in value.split(",") if part.strip()]
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"address {address!r} for service {name!r} is not host:port")
    if not addresses:
        raise ValueError(f"service {name!r} has no address")
    return addresses
