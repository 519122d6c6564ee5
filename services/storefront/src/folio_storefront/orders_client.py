"""The storefront's view of the orders service."""

import grpc

from folio.orders.v1 import orders_pb2, orders_pb2_grpc
from folio_platform.auth import bearer
from folio_storefront.backends import call_backend, is_serving
from folio_storefront.shopper import Shopper

ORDERS = "orders"
ORDERS_SERVICE = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name


class OrdersClient:
    def __init__(self, channel: grpc.aio.Channel, *, checkout_timeout: float) -> None:
        self._channel = channel
        self._stub = orders_pb2_grpc.OrdersServiceStub(channel)
        self._checkout_timeout = checkout_timeout

    async def place(self, shopper: Shopper, request: orders_pb2.PlaceOrderRequest) -> orders_pb2.Order:
        # Checkout calls three services in turn: it gets its own, longer budget.
        call = self._stub.PlaceOrder(request, timeout=self._checkout_timeout, metadata=bearer(shopper.token))
        return await call_backend(ORDERS, call)

    async def get(self, shopper: Shopper, order_id: str) -> orders_pb2.Order:
        request = orders_pb2.GetOrderRequest(shopper_id=shopper.id, order_id=order_id)
        return await call_backend(ORDERS, self._stub.GetOrder(request, metadata=bearer(shopper.token)))

    async def list(
        self, shopper: Shopper, *, page_size: int = 20, page_token: str = ""
    ) -> orders_pb2.ListOrdersResponse:
        request = orders_pb2.ListOrdersRequest(
            shopper_id=shopper.id, page_size=page_size, page_token=page_token
        )
        return await call_backend(ORDERS, self._stub.ListOrders(request, metadata=bearer(shopper.token)))

    async def is_serving(self, probe_timeout: float = 1.0) -> bool:
        return await is_serving(self._channel, ORDERS_SERVICE, probe_timeout)
