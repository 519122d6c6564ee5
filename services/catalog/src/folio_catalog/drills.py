"""Failure drill for the catalog (flag `catalog.latency_ms` in the config center): every catalog
RPC waits that long before it runs, as a slow database or a noisy neighbour would make it.

Health checks and reflection are not delayed: a drill must slow the shop, not get the pod
killed by its probes.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

_EXEMPT = ("/grpc.health.v1.", "/grpc.reflection.")


class LatencyDrill(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, latency_ms: Callable[[], int]) -> None:
        self.latency_ms = latency_ms

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        delay = self.latency_ms()
        if delay and not handler_call_details.method.startswith(_EXEMPT):
            await asyncio.sleep(delay / 1000)
        return await continuation(handler_call_details)
