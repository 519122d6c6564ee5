"""Finishing checkouts that stopped half-way (a crash, a dependency that was down, a caller that left).

The recovery loop drives each stuck order through the same state machine as a live checkout
(`Checkout.advance`), without a card: created -> released, FAILED; reserved -> the payment
ledger decides (charged: continue to CONFIRMED; not charged: released, FAILED); charged ->
commit, CONFIRMED.

It is fair: each pass takes a bounded batch, orders it never tried first; an order it cannot
end yet (a dependency down, or an error) waits out a backoff of its own, doubling with each
attempt up to a cap, so orders that keep failing neither fill every batch nor get hammered.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from folio_orders.saga import Checkout
from folio_orders.store import OrderStatus
from folio_platform.errors import Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """How long an order recovery could not end waits before the next try: `first` seconds, doubling
    with each attempt up to `cap`, each wait drawn between half and all of that (jitter, so orders
    that failed together are not retried together)."""

    first: float = 5.0
    cap: float = 300.0
    chance: Callable[[], float] = random.random

    def seconds(self, attempts: int) -> float:
        longest = min(self.cap, self.first * 2.0 ** min(attempts, 32))
        return longest * (0.5 + self.chance() / 2)


async def recover_once(
    checkout: Checkout, *, older_than_seconds: float, limit: int = 20, backoff: Backoff = Backoff()
) -> int:
    """Drive up to `limit` pending orders untouched for `older_than_seconds` to an end; returns how
    many ended. One that cannot end yet is postponed by `backoff`."""
    ended = 0
    cutoff_ms = int((time.time() - older_than_seconds) * 1000)
    # The poll runs every few seconds and usually finds nothing: untraced, or it would be a trace each time.
    with suppress_instrumentation():
        stuck = await checkout.store.stuck(older_than_ms=cutoff_ms, limit=limit)
    tracer = trace.get_tracer(__name__)
    for order in stuck:
        try:
            # One trace per recovered order, holding the calls and SQL its recovery makes.
            with tracer.start_as_current_span("recover order", attributes={"folio.order_id": order.id}):
                result = await checkout.advance(order)
        except Exception as error:
            wait = backoff.seconds(order.recovery_attempts)
            if isinstance(error, Unavailable):
                log.warning(
                    "recovery postponed",
                    extra={
                        "order_id": order.id,
                        "dependency": error.dependency,
                        "retry_in_s": round(wait, 1),
                    },
                )
            else:
                log.exception("recovery of an order failed", extra={"order_id": order.id})
            await checkout.store.postpone(order.id, until_ms=int((time.time() + wait) * 1000))
            continue
        if result.status != OrderStatus.PENDING:
            ended += 1
            log.info(
                "recovered order",
                extra={"order_id": order.id, "from_step": order.step, "status": result.status},
            )
    return ended


async def recover_forever(
    checkout: Checkout,
    *,
    interval: float,
    older_than: float,
    limit: int = 20,
    backoff: Backoff = Backoff(),
) -> None:
    """Run `recover_once` now and then every `interval` seconds, until cancelled."""
    while True:
        try:
            await recover_once(checkout, older_than_seconds=older_than, limit=limit, backoff=backoff)
        except Exception:
            log.exception("recovery pass failed")
        await asyncio.sleep(interval)
