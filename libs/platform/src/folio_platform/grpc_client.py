"""Client channels with deadlines, retries for idempotent calls, and balancing.

Retries use gRPC's own retry machinery (service config), limited to the methods the
caller names as idempotent, with exponential backoff and a retry budget (throttling)
so a struggling server is not buried under retries. Which methods are idempotent is the
contract's to say: each method's `idempotency_level` option in the proto. A whole service
named as idempotent is retried only for the methods its proto marks safe to repeat, and a
method named on its own that the proto does not mark is refused, so a method without the
option (payment's Charge) is never retried by any client.
"""

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions

from folio_platform.auth import TokenSource
from folio_platform.deadlines import time_remaining
from folio_platform.rpc_telemetry import RpcClientTelemetry
from folio_platform.telemetry import Telemetry

RETRYABLE_CODES = ["UNAVAILABLE", "RESOURCE_EXHAUSTED"]
SAFE_TO_REPEAT = (MethodOptions.IDEMPOTENT, MethodOptions.NO_SIDE_EFFECTS)


def is_idempotent(method: MethodDescriptor) -> bool:
    """Does the proto mark `method` safe to repeat (idempotency_level IDEMPOTENT or NO_SIDE_EFFECTS)?"""
    return method.GetOptions().idempotency_level in SAFE_TO_REPEAT


def idempotent_methods(service: ServiceDescriptor) -> list[str]:
    """The methods of `service` its proto marks safe to repeat, as "package.Service/Method" names
    for `create_channel(idempotent_services=...)`."""
    return [f"{service.full_name}/{method.name}" for method in service.methods if is_idempotent(method)]


class _DeadlineUnaryUnary:
    """A unary-unary multicallable whose calls without a timeout get the time left in the current
    deadline scope, capped by a default; with `telemetry`, each call is traced."""

    __slots__ = ("_call", "_default", "_method", "_telemetry")

    def __init__(
        self, call: Any, default_timeout: float, method: str, telemetry: RpcClientTelemetry | None
    ) -> None:
        self._call = call
        self._default = default_timeout
        self._method = method
        self._telemetry = telemetry

    def __call__(self, request: Any, *, timeout: float | None = None, **kwargs: Any) -> Any:
        if timeout is None:
            remaining = time_remaining()
            timeout = self._default if remaining is None else max(0.0, min(remaining, self._default))
        if self._telemetry is None:
            return self._call(request, timeout=timeout, **kwargs)
        return _traced(self._telemetry, self._method, self._call, request, timeout=timeout, **kwargs)


def _traced(telemetry: RpcClientTelemetry, method: str, call: Any, request: Any, **kwargs: Any) -> Any:
    span, kwargs["metadata"] = telemetry.start(method, kwargs.get("metadata"))
    started = call(request, **kwargs)
    telemetry.finish(span, started)
    return started


class _TracedUnaryStream:
    """A unary-stream multicallable whose calls are traced."""

    __slots__ = ("_call", "_method", "_telemetry")

    def __init__(self, call: Any, method: str, telemetry: RpcClientTelemetry) -> None:
        self._call = call
        self._method = method
        self._telemetry = telemetry

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        return _traced(self._telemetry, self._method, self._call, request, **kwargs)


class DeadlineChannel(grpc.aio.Channel):
    """A channel whose unary calls always carry a deadline (see `_DeadlineUnaryUnary`) and, with
    `telemetry`, whose unary and server-streaming calls are traced (`RpcClientTelemetry`).

    This is a wrapper, not an interceptor, on purpose: grpc.aio runs every call of a channel that
    has any interceptor through a slower path (a task of its own per call), so a channel with
    nothing else to intercept keeps the direct one.
    """

    def __init__(
        self, channel: grpc.aio.Channel, default_timeout: float, telemetry: RpcClientTelemetry | None = None
    ) -> None:
        self._channel = channel
        self.default_timeout = default_timeout
        self.telemetry = telemetry

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _DeadlineUnaryUnary(
            self._channel.unary_unary(method, *args, **kwargs), self.default_timeout, method, self.telemetry
        )

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        call = self._channel.unary_stream(method, *args, **kwargs)
        return call if self.telemetry is None else _TracedUnaryStream(call, method, self.telemetry)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._channel.stream_stream(method, *args, **kwargs)

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()

    async def __aenter__(self) -> "DeadlineChannel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(None)


class _BearerToken:
    """Presents this service's own access token on every call that does not carry one already."""

    def __init__(self, token_source: TokenSource) -> None:
        self.token_source = token_source

    async def _with_token(self, details: Any) -> Any:
        metadata = list(details.metadata or ())
        if not any(key == "authorization" for key, _ in metadata):
            metadata.append(("authorization", f"Bearer {await self.token_source()}"))
        return details._replace(metadata=metadata)


# One class per call shape: grpc.aio files an interceptor under the first shape it implements only.
class BearerTokenUnaryInterceptor(_BearerToken, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._with_token(client_call_details), request)


class BearerTokenStreamInterceptor(_BearerToken, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(await self._with_token(client_call_details), request)


def retried_methods(names: Sequence[str]) -> list[str]:
    """`names` checked against the protos this process knows: a whole service becomes the methods its
    proto marks safe to repeat; a method it does not mark is refused (ValueError). A name no loaded
    proto defines is kept as given."""
    pool = descriptor_pool.Default()
    retried: list[str] = []
    for name in names:
        service_name, _, method_name = name.partition("/")
        try:
            service = pool.FindServiceByName(service_name)
        except KeyError:
            retried.append(name)
            continue
        if not method_name:
            retried += idempotent_methods(service)
            continue
        method = service.methods_by_name.get(method_name)
        if method is not None and not is_idempotent(method):
            raise ValueError(
                f"{name} cannot be retried: its proto does not mark it safe to repeat (idempotency_level)"
            )
        retried.append(name)
    return retried


def _method_name(name: str) -> dict[str, str]:
    service, _, method = name.partition("/")
    return {"service": service, "method": method} if method else {"service": service}


def service_config(idempotent_services: Sequence[str], *, max_attempts: int = 3) -> dict[str, Any]:
    """gRPC service config: round-robin balancing, retries for `idempotent_services`.

    Each entry is a whole service ("folio.catalog.v1.CatalogService": the methods its proto marks
    safe to repeat) or one method of it ("folio.cart.v1.CartService/GetCart"); see `retried_methods`.
    """
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [_method_name(name) for name in retried_methods(idempotent_services)],
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": RETRYABLE_CODES,
                },
            }
        ],
        # The retry budget: retries stop when more than half the token bucket is spent on failures.
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    }


def target_for(addresses: Sequence[str]) -> str:
    """A channel target for one or more host:port addresses (several are balanced across)."""
    if not addresses:
        raise ValueError("no address to connect to")
    if len(addresses) == 1:
        return addresses[0]
    # gRPC balances across a fixed list only of IP literals (the ipv4: scheme); names need DNS.
    for address in addresses:
        try:
            ipaddress.IPv4Address(address.rpartition(":")[0])
        except ValueError:
            raise ValueError(
                f"cannot balance across {address!r}: several addresses must be IPv4 host:port; "
                "give one DNS name instead"
            ) from None
    return "ipv4:" + ",".join(addresses)


def create_channel(
    addresses: Sequence[str],
    *,
    idempotent_services: Sequence[str] = (),
    retries: bool = True,
    default_timeout: float = 2.0,
    telemetry: Telemetry | None = None,
    token_source: TokenSource | None = None,
) -> grpc.aio.Channel:
    """An insecure aio channel (the mesh adds mTLS in the cluster) with Folio's call policy:
    every unary call has a deadline (the request's remaining budget, capped by `default_timeout`);
    with `telemetry` exporting traces, calls are traced and carry the trace context.

    With `token_source`, calls carry that token unless the caller set its own authorization.
    `retries=False` leaves every retry to the mesh (its routes retry the same methods).
    """
    interceptors: list[Any] = []
    if token_source is not None:
        interceptors += [
            BearerTokenUnaryInterceptor(token_source),
            BearerTokenStreamInterceptor(token_source),
        ]
    options = [
        ("grpc.service_config", json.dumps(service_config(idempotent_services if retries else ()))),
        ("grpc.enable_retries", 1),
        # Reconnect quickly after a restart of the server instead of the default ~20 s backoff cap.
        ("grpc.max_reconnect_backoff_ms", 2000),
        ("grpc.initial_reconnect_backoff_ms", 200),
    ]
    channel = grpc.aio.insecure_channel(
        target_for(addresses), options=options, interceptors=interceptors or None
    )
    traced = None
    if telemetry is not None and telemetry.tracer_provider is not None:
        traced = RpcClientTelemetry(telemetry.tracer_provider)
    return DeadlineChannel(channel, default_timeout, traced)
