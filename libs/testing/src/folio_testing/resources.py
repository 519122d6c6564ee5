"""What a service's `resources()` asks of the platform, read without opening anything."""

from types import ModuleType
from typing import Any

import pytest


class _Opened(Exception):
    """Raised by the spy once the service has asked for its database."""


async def database_options(
    monkeypatch: pytest.MonkeyPatch, app: ModuleType, runtime: Any
) -> dict[str, object]:
    """The keyword options `app.resources(runtime)` passes to `open_database` (e.g. `durable`): the
    call is stopped there, so no database is made and nothing after it starts."""
    asked: dict[str, object] = {}

    def spy(url: str, migrations: object, **options: object) -> object:
        asked.update(options)
        raise _Opened

    monkeypatch.setattr(app, "open_database", spy)
    with pytest.raises(_Opened):
        async with app.resources(runtime):
            pass
    return asked
