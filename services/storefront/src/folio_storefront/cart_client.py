"""The storefront's view of the cart service."""

import grpc

from folio.cart.v1 import cart_pb2, cart_pb2_grpc
from folio_storefront.backends import call_backend, is_serving

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

    async def get(self, shopper_id: str) -> cart_pb2.Cart:
        return await call_backend(CART, self._stub.GetCart(cart_pb2.GetCartRequest(shopper_id=shopper_id)))

    async def add(self, shopper_id: str, book_id: str, quantity: int) -> cart_pb2.Cart:
        request = cart_pb2.AddItemRequest(shopper_id=shopper_id, book_id=book_id, quantity=quantity)
        return await call_backend(CART, self._stub.AddItem(request))

    async def update(self, shopper_id: str, book_id: str, quantity: int) -> cart_pb2.Cart:
        request = cart_pb2.UpdateQuantityRequest(shopper_id=shopper_id, book_id=book_id, quantity=quantity)
        return await call_backend(CART, self._stub.UpdateQuantity(request))

    async def remove(self, shopper_id: str, book_id: str) -> cart_pb2.Cart:
        request = cart_pb2.RemoveItemRequest(shopper_id=shopper_id, book_id=book_id)
        return await call_backend(CART, self._stub.RemoveItem(request))

    async def empty(self, shopper_id: str) -> cart_pb2.Cart:
        return await call_backend(
            CART, self._stub.EmptyCart(cart_pb2.EmptyCartRequest(shopper_id=shopper_id))
        )

    async def is_serving(self, probe_timeout: float = 1.0) -> bool:
        return await is_serving(self._channel, CART_SERVICE, probe_timeout)
