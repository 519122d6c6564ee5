"""Failure drill for the storefront (flag `storefront.memory_leak_kb_per_request`): every request
keeps that much memory for good, as a cache without eviction would, up to
`storefront.memory_leak_max_mb`. Clearing the flag lets it all go.
"""

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from folio_platform.config import LiveConfig, LiveSettings

log = logging.getLogger(__name__)


class MemoryLeakDrill:
    """ASGI middleware; reads the flags from `app.state.live_config` (set in the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.leaked: list[bytes] = []
        self.leaked_bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            live: LiveConfig[LiveSettings] | None = getattr(scope["app"].state, "live_config", None)
            if live is not None:
                self.step(live.current)
        await self.app(scope, receive, send)

    def step(self, settings: LiveSettings) -> None:
        drill = settings.flags.storefront
        if not drill.memory_leak_kb_per_request:
            if self.leaked:
                log.info("memory leak drill off: releasing", extra={"released_bytes": self.leaked_bytes})
                self.leaked, self.leaked_bytes = [], 0
            return
        chunk = drill.memory_leak_kb_per_request * 1024
        if self.leaked_bytes + chunk > drill.memory_leak_max_mb * 1024 * 1024:
            return
        # Filled, not just reserved: untouched pages would never show up in the process's RSS.
        self.leaked.append(b"\x01" * chunk)
        self.leaked_bytes += chunk
