"""Failure drill for the cart (flag `cart.store_outage` in the config center): while it is on,
the cart store answers exactly as an unreachable Redis does (UNAVAILABLE naming the cart store).
"""

from collections.abc import Callable

from folio_cart.store import STORE, CartStore, Line
from folio_platform.errors import Unavailable

DRILL_MESSAGE = f"{STORE} is unavailable (failure drill: cart.store_outage)"


class OutageDrillStore:
    """`inner`, or an outage while `outage()` is true."""

    def __init__(self, inner: CartStore, outage: Callable[[], bool]) -> None:
        self.inner = inner
        self.outage = outage

    def _check(self) -> None:
        if self.outage():
            raise Unavailable(STORE, DRILL_MESSAGE)

    async def get(self, shopper_id: str) -> list[Line]:
        self._check()
        return await self.inner.get(shopper_id)

    async def add(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]:
        self._check()
        return await self.inner.add(shopper_id, book_id, quantity)

    async def set_quantity(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]:
        self._check()
        return await self.inner.set_quantity(shopper_id, book_id, quantity)

    async def remove(self, shopper_id: str, book_id: str) -> list[Line]:
        self._check()
        return await self.inner.remove(shopper_id, book_id)

    async def clear(self, shopper_id: str) -> list[Line]:
        self._check()
        return await self.inner.clear(shopper_id)
