"""Calling the services behind the storefront: one place where gRPC failures become edge errors."""

from collections.abc import Awaitable, Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from folio_platform.errors import field_violations
from folio_storefront.errors import (
    BadRequest,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    NotFoundError,
    NotSignedIn,
    TooBusy,
)

_UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def call_backend[T](
    dependency: str, call: Awaitable[T], *, parameters: Mapping[str, str] | None = None
) -> T:
    """Await a gRPC call to `dependency`; map its failure to the error the edge answers with.

    `parameters` renames request fields to the names the REST caller used (genre_id -> genre),
    so a 400 names what the caller actually sent.
    """
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.NOT_FOUND:
            raise NotFoundError(details or "not found") from None
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            violations = field_violations(error)
            if not violations:
                raise BadRequest(details or "invalid request") from None
            field, description = violations[0]
            field = (parameters or {}).get(field, field)
            raise BadRequest(f"{field}: {description}", field=field) from None
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise NotSignedIn(details or "sign in again") from None
        if code == grpc.StatusCode.PERMISSION_DENIED:
            raise Forbidden(details or "not allowed") from None
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            raise Conflict(details or "the request cannot be done now") from None
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise TooBusy(dependency, detail=details) from None
        if code in _UNAVAILABLE:
            raise DependencyUnavailable(dependency, detail=details) from None
        raise


async def is_serving(channel: grpc.aio.Channel, service: str, probe_timeout: float = 1.0) -> bool:
    """The service's own answer through the standard gRPC health protocol."""
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=probe_timeout
        )
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
