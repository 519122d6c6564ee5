"""The storefront's view of the cart service."""

import grpc

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio_platform.auth import bearer
from folio_storefront.backends import call_backend, is_serving
from folio_storefront.shopper import Shopper

CART = "cart"
CART_SERVICE = cart_pb2.DESCRIPTOR.services_by_name["CartService"].full_name
# AddItem adds to what is there, so a blind retry could add twice; the rest are safe to retry.
CART_IDEMPOTENT_METHODS = [
    f"{CART_SERVICE}/{m}" for m in ("GetCart", "UpdateQuantity", "RemoveItem", "EmptyCart")
]


class CartClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel
        self._stub = cart_pb2_grpc.CartServiceStub(channel)

    # Each call presents the shopper's token: their own, or the storefront's for a guest.
    async def get(self, shopper: Shopper) -> cart_pb2.Cart:
        request = cart_pb2.GetCartRequest(shopper_id=shopper.id)
        return await call_backend(CART, self._stub.GetCart(request, metadata=bearer(shopper.token)))

    async def add(self, shopper: Shopper, book_id: str, quantity: int) -> cart_pb2.Cart:
        request = cart_pb2.AddItemRequest(shopper_id=shopper.id, book_id=book_id, quantity=quantity)
        return await call_backend(CART, self._stub.AddItem(request, metadata=bearer(shopper.token)))

    async def update(self, shopper: Shopper, book_id: str, quantity: int) -> cart_pb2.Cart:
        request = cart_pb2.UpdateQuantityRequest(shopper_id=shopper.id, book_id=book_id, quantity=quantity)
        return await call_backend(CART, self._stub.UpdateQuantity(request, metadata=bearer(shopper.token)))

    async def remove(self, shopper: Shopper, book_id: str) -> cart_pb2.Cart:
        request = cart_pb2.RemoveItemRequest(shopper_id=shopper.id, book_id=book_id)
        return await call_backend(CART, self._stub.RemoveItem(request, metadata=bearer(shopper.token)))

    async def empty(self, shopper: Shopper) -> cart_pb2.Cart:
        request = cart_pb2.EmptyCartRequest(shopper_id=shopper.id)
        return await call_backend(CART, self._stub.EmptyCart(request, metadata=bearer(shopper.token)))

    async def is_serving(self, probe_timeout: float = 1.0) -> bool:
        return await is_serving(self._channel, CART_SERVICE, probe_timeout)
