"""Errors that mean something, shared by servers and clients.

A servicer raises one of these; the platform's server interceptor turns it into the gRPC
status and, for bad input, a google.rpc.BadRequest detail naming the field. Clients read
the field back with `field_violations`.
"""

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class FolioError(Exception):
    """Base of the errors a servicer may raise on purpose; `message` is for a person."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(FolioError):
    """The caller sent something unusable; `field` names the request field at fault."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.description = message


class NotFound(FolioError):
    """No resource with that id."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(FolioError):
    """Something with that id exists already (a retried create is recognisable by this)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(FolioError):
    """The request is well-formed but the system is not in a state to honour it."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(FolioError):
    """A dependency is down; `dependency` names it so the edge can say which."""

    code = grpc.StatusCode.UNAVAILABLE

    def __init__(self, dependency: str, message: str | None = None) -> None:
        super().__init__(message or f"{dependency} is unavailable")
        self.dependency = dependency


class ResourceExhausted(FolioError):
    """Too busy to take this call now (HTTP 429); the caller may retry after a short wait."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unauthenticated(FolioError):
    """No token, or a token that does not verify (HTTP 401)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(FolioError):
    """A verified caller who may not do this (HTTP 403)."""

    code = grpc.StatusCode.PERMISSION_DENIED


def to_status(error: FolioError) -> grpc.Status:
    """The rich gRPC status for `error` (with a BadRequest detail for InvalidArgument)."""
    from google.rpc import code_pb2, status_pb2

    status = status_pb2.Status(code=getattr(code_pb2, error.code.name), message=error.message)
    if isinstance(error, InvalidArgument):
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.description)
            ]
        )
        status.details.add().Pack(detail)
    return rpc_status.to_status(status)


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) pairs from an INVALID_ARGUMENT error's BadRequest detail."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend((v.field, v.description) for v in bad_request.field_violations)
    return violations
