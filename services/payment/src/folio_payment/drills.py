"""Failure drills for payment (flags `payment.failure_rate`, `payment.latency_ms` in the config center).

They act on the card processor, where a real provider would fail or slow down: a drilled
failure is a decline the ledger records like any other (so nothing is charged and checkout
releases the stock), and drilled latency counts against the service's processor timeout (it
delays the request before it reaches the processor, so a lookup then finds nothing under the key).
"""

import asyncio
import logging
import random
from collections.abc import Callable

from folio_payment.processor import CardDetails, CardProcessor, Decision
from folio_platform.config import PaymentDrills

log = logging.getLogger(__name__)

DRILL_DECLINE = Decision(
    approved=False,
    decline_code="processor_error",
    decline_message="The card processor failed (failure drill); nothing was charged. Try again.",
)


class DrillProcessor:
    """`inner`, slowed down and made to fail as the current drill flags say."""

    def __init__(
        self,
        inner: CardProcessor,
        flags: Callable[[], PaymentDrills],
        *,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.inner = inner
        self.flags = flags
        self.chance = chance

    async def authorize(self, key: str, card: CardDetails, amount_minor: int, currency: str) -> Decision:
        flags = self.flags()
        if flags.latency_ms:
            await asyncio.sleep(flags.latency_ms / 1000)
        if flags.failure_rate and self.chance() < flags.failure_rate:
            log.warning("failure drill: card processor failed", extra={"failure_rate": flags.failure_rate})
            return DRILL_DECLINE
        return await self.inner.authorize(key, card, amount_minor, currency)

    async def lookup(self, key: str) -> Decision | None:
        return await self.inner.lookup(key)
