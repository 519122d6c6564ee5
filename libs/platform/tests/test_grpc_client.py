import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from folio_platform import errors
from folio_platform.deadlines import deadline_scope, time_remaining
from folio_platform.grpc_client import (
    RETRYABLE_CODES,
    create_channel,
    idempotent_methods,
    service_config,
    target_for,
)
from folio_platform.grpc_server import GrpcServer

IDEMPOTENT = "folio.test.v1.Reads"
NOT_IDEMPOTENT = "folio.test.v1.Writes"
StartServer = Callable[..., Awaitable[GrpcServer]]
# What the server may see over the caller's budget: the grpc-timeout header rounds it up to its unit,
# and gRPC core reads the time left against a clock it caches per batch of work (seen: 9 ms over 5 s).
DEADLINE_SLACK = 0.05


async def _remaining(request: bytes, context: Any) -> bytes:
    return repr(time_remaining()).encode()


async def _hang(request: bytes, context: Any) -> bytes:
    await asyncio.sleep(30)
    return b"too late"


def _flaky(attempts: list[float], failures: int) -> Callable[[bytes, Any], Awaitable[bytes]]:
    """A handler that answers UNAVAILABLE `failures` times, then succeeds; records each attempt."""

    async def handler(request: bytes, context: Any) -> bytes:
        attempts.append(time.monotonic())
        if len(attempts) <= failures:
            raise errors.Unavailable("postgres")
        return b"ok after %d" % len(attempts)

    return handler


async def test_calls_get_the_default_deadline(start_server: StartServer) -> None:
    server = await start_server(IDEMPOTENT, {"Hang": _hang, "Remaining": _remaining})

    async with create_channel([f"127.0.0.1:{server.port}"], default_timeout=0.3) as channel:
        remaining = float(await channel.unary_unary(f"/{IDEMPOTENT}/Remaining")(b""))
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(f"/{IDEMPOTENT}/Hang")(b"")
        took = time.monotonic() - started

    assert 0 < remaining <= 0.3 + DEADLINE_SLACK
    assert excinfo.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert took < 1.5


async def test_the_request_budget_caps_the_default(start_server: StartServer) -> None:
    server = await start_server(IDEMPOTENT, {"Hang": _hang, "Remaining": _remaining})

    async with create_channel([f"127.0.0.1:{server.port}"], default_timeout=3.0) as channel:
        with deadline_scope(0.2):
            remaining = float(await channel.unary_unary(f"/{IDEMPOTENT}/Remaining")(b""))
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as excinfo:
                await channel.unary_unary(f"/{IDEMPOTENT}/Hang")(b"")
            took = time.monotonic() - started

    # The request's 0.2 s, not the default 3 s.
    assert 0 < remaining <= 0.2 + DEADLINE_SLACK
    assert excinfo.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert took < 1.0


async def test_an_explicit_timeout_is_kept(start_server: StartServer) -> None:
    server = await start_server(IDEMPOTENT, {"Remaining": _remaining})

    async with create_channel([f"127.0.0.1:{server.port}"], default_timeout=0.3) as channel:
        remaining = float(await channel.unary_unary(f"/{IDEMPOTENT}/Remaining")(b"", timeout=5))

    assert 0.3 < remaining <= 5 + DEADLINE_SLACK


async def test_idempotent_services_are_retried_on_unavailable(start_server: StartServer) -> None:
    attempts: list[float] = []
    server = await start_server(IDEMPOTENT, {"Get": _flaky(attempts, failures=2)})

    async with create_channel([f"127.0.0.1:{server.port}"], idempotent_services=[IDEMPOTENT]) as channel:
        reply = await channel.unary_unary(f"/{IDEMPOTENT}/Get")(b"")

    assert reply == b"ok after 3"
    assert len(attempts) == 3
    assert attempts[1] > attempts[0], "retries come one after another, with backoff"


async def test_retries_stop_at_the_attempt_limit(start_server: StartServer) -> None:
    attempts: list[float] = []
    server = await start_server(IDEMPOTENT, {"Get": _flaky(attempts, failures=10)})

    async with create_channel([f"127.0.0.1:{server.port}"], idempotent_services=[IDEMPOTENT]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(f"/{IDEMPOTENT}/Get")(b"")

    assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(attempts) == 3


async def test_other_services_are_not_retried(start_server: StartServer) -> None:
    attempts: list[float] = []
    server = await start_server(NOT_IDEMPOTENT, {"Place": _flaky(attempts, failures=2)})

    async with create_channel([f"127.0.0.1:{server.port}"], idempotent_services=[IDEMPOTENT]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(f"/{NOT_IDEMPOTENT}/Place")(b"")

    assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE
    assert excinfo.value.details() == "postgres is unavailable"
    assert len(attempts) == 1


async def test_nothing_is_retried_when_no_service_is_idempotent(start_server: StartServer) -> None:
    attempts: list[float] = []
    server = await start_server(IDEMPOTENT, {"Get": _flaky(attempts, failures=2)})

    async with create_channel([f"127.0.0.1:{server.port}"]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(f"/{IDEMPOTENT}/Get")(b"")

    assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(attempts) == 1


async def test_a_channel_whose_mesh_retries_leaves_every_retry_to_it(start_server: StartServer) -> None:
    attempts: list[float] = []
    server = await start_server(IDEMPOTENT, {"Get": _flaky(attempts, failures=2)})

    async with create_channel(
        [f"127.0.0.1:{server.port}"], idempotent_services=[IDEMPOTENT], retries=False
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(f"/{IDEMPOTENT}/Get")(b"")

    assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(attempts) == 1


async def test_errors_that_are_not_transient_are_not_retried(start_server: StartServer) -> None:
    attempts: list[float] = []

    async def missing(request: bytes, context: Any) -> bytes:
        attempts.append(time.monotonic())
        raise errors.NotFound("no such book")

    server = await start_server(IDEMPOTENT, {"Get": missing})

    async with create_channel([f"127.0.0.1:{server.port}"], idempotent_services=[IDEMPOTENT]) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await channel.unary_unary(f"/{IDEMPOTENT}/Get")(b"")

    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(attempts) == 1


async def test_calls_are_balanced_across_addresses(start_server: StartServer) -> None:
    def named(name: bytes) -> Callable[[bytes, Any], Awaitable[bytes]]:
        async def handler(request: bytes, context: Any) -> bytes:
            return name

        return handler

    first = await start_server(IDEMPOTENT, {"Who": named(b"first")})
    second = await start_server(IDEMPOTENT, {"Who": named(b"second")})
    addresses = [f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"]

    async with create_channel(addresses) as channel:
        await channel.channel_ready()
        answers = [await channel.unary_unary(f"/{IDEMPOTENT}/Who")(b"") for _ in range(20)]

    assert set(answers) == {b"first", b"second"}


def test_target_for_one_address_is_that_address() -> None:
    assert target_for(["catalog.folio.svc:50051"]) == "catalog.folio.svc:50051"


def test_target_for_several_addresses_lists_them_all() -> None:
    assert target_for(["10.0.0.1:50051", "10.0.0.2:50052"]) == "ipv4:10.0.0.1:50051,10.0.0.2:50052"


def test_target_for_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no address"):
        target_for([])


def test_target_for_several_names_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="catalog-b:50051"):
        target_for(["10.0.0.1:50051", "catalog-b:50051"])


def test_service_config_balances_round_robin_with_a_retry_budget() -> None:
    config = service_config([IDEMPOTENT])

    assert {"round_robin": {}} in config["loadBalancingConfig"]
    assert config["retryThrottling"]["maxTokens"] > 0
    assert 0 < config["retryThrottling"]["tokenRatio"] <= 1
    (method_config,) = config["methodConfig"]
    assert method_config["name"] == [{"service": IDEMPOTENT}]
    policy = method_config["retryPolicy"]
    assert set(policy["retryableStatusCodes"]) == set(RETRYABLE_CODES)
    assert "UNAVAILABLE" in policy["retryableStatusCodes"]
    assert policy["maxAttempts"] == 3
    json.dumps(config)


def test_service_config_attempts_are_configurable() -> None:
    config = service_config(["a.A", "b.B"], max_attempts=5)

    (method_config,) = config["methodConfig"]
    assert method_config["name"] == [{"service": "a.A"}, {"service": "b.B"}]
    assert method_config["retryPolicy"]["maxAttempts"] == 5


def test_idempotent_methods_come_from_the_proto_and_leave_charge_out() -> None:
    from folio.cart.v1 import cart_pb2
    from folio.payment.v1 import payment_pb2

    payment = idempotent_methods(payment_pb2.DESCRIPTOR.services_by_name["PaymentService"])
    cart = idempotent_methods(cart_pb2.DESCRIPTOR.services_by_name["CartService"])

    assert payment == [
        "folio.payment.v1.PaymentService/Refund",
        "folio.payment.v1.PaymentService/GetPayment",
        "folio.payment.v1.PaymentService/ListPayments",
    ]
    assert "folio.cart.v1.CartService/AddItem" not in cart
    assert "folio.cart.v1.CartService/RemoveItem" in cart
    retried = service_config(payment)["methodConfig"][0]["name"]
    assert {"service": "folio.payment.v1.PaymentService", "method": "Charge"} not in retried


def test_a_whole_service_is_retried_only_where_its_proto_allows() -> None:
    from folio.payment.v1 import payment_pb2  # noqa: F401  (loads the proto into the pool)

    config = service_config(["folio.payment.v1.PaymentService"])
    names = {entry["method"] for entry in config["methodConfig"][0]["name"]}
    assert names == {"Refund", "GetPayment", "ListPayments"}


def test_naming_a_method_its_proto_does_not_mark_safe_is_refused() -> None:
    from folio.payment.v1 import payment_pb2  # noqa: F401

    with pytest.raises(ValueError, match="PaymentService/Charge cannot be retried"):
        create_channel(["127.0.0.1:1"], idempotent_services=["folio.payment.v1.PaymentService/Charge"])
