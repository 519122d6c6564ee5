"""Finishing checkouts that stopped half-way (a crash, a dependency that was down, a caller that left).

The recovery loop drives each stuck order through the same state machine as a live checkout
(`Checkout.advance`), without a card: created -> released, FAILED; reserved -> the payment
ledger decides (charged: continue to CONFIRMED; not charged: released, FAILED); charged ->
commit, CONFIRMED.
"""

import asyncio
import logging
import time

from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from folio_orders.saga import Checkout
from folio_orders.store import OrderStatus
from folio_platform.errors import Unavailable

log = logging.getLogger(__name__)


async def recover_once(checkout: Checkout, *, older_than_seconds: float, limit: int = 100) -> int:
    """Drive pending orders untouched for `older_than_seconds` to an end; returns how many ended."""
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
        except Unavailable as down:
            log.warning("recovery postponed", extra={"order_id": order.id, "dependency": down.dependency})
            continue
        except Exception:
            log.exception("recovery of an order failed", extra={"order_id": order.id})
            continue
        if result.status != OrderStatus.PENDING:
            ended += 1
            log.info(
                "recovered order",
                extra={"order_id": order.id, "from_step": order.step, "status": result.status},
            )
    return ended


async def recover_forever(checkout: Checkout, *, interval: float, older_than: float) -> None:
    """Run `recover_once` now and then every `interval` seconds, until cancelled."""
    while True:
        try:
            await recover_once(checkout, older_than_seconds=older_than)
        except Exception:
            log.exception("recovery pass failed")
        await asyncio.sleep(interval)
