"""Finishing checkouts that stopped half-way (a crash, a dependency that was down)."""

import asyncio
import logging
import time

import grpc

from folio_orders.saga import Checkout
from folio_orders.store import OrderStore
from folio_platform.errors import FolioError

log = logging.getLogger(__name__)


async def recover_once(store: OrderStore, checkout: Checkout, *, older_than_seconds: float) -> int:
    """Drive every pending order untouched for `older_than_seconds` to an end; returns how many ended."""
    ended = 0
    for order in await store.stuck(older_than_ms=int((time.time() - older_than_seconds) * 1000)):
        try:
            result = await checkout.advance(order)
        except (FolioError, grpc.aio.AioRpcError) as error:
            log.warning("recovery postponed", extra={"order_id": order.id, "reason": str(error)})
            continue
        if result.status != "pending":
            ended += 1
            log.info("recovered order", extra={"order_id": order.id, "status": result.status})
    return ended


async def recover_forever(
    store: OrderStore, checkout: Checkout, *, interval: float, older_than: float
) -> None:
    while True:
        try:
            await recover_once(store, checkout, older_than_seconds=older_than)
        except Exception:
            log.exception("recovery pass failed")
        await asyncio.sleep(interval)
