"""A grpc.aio server with what every Folio service needs.

Standard health service (grpc.health.v1) and, outside production, reflection; every call is
authorized against the service's declared `Access` rules before its handler runs (fail closed: an
RPC without a rule is refused), then its request is checked for control characters in any text
field (`folio_platform.text`); each handler runs inside the caller's deadline and maps
`FolioError`s to real status codes; SIGTERM or SIGINT flips health to NOT_SERVING, stops taking new calls and
lets in-flight ones finish.
"""

import asyncio
import inspect
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection as grpc_reflection

from folio_platform.auth import (
    PUBLIC,
    Access,
    AuthSettings,
    Identity,
    TokenVerifier,
    reset_caller,
    set_caller,
    token_from_metadata,
)
from folio_platform.center import Center
from folio_platform.deadlines import deadline_scope
from folio_platform.errors import FolioError, PermissionDenied, Unauthenticated, to_status
from folio_platform.heap import settle_heap
from folio_platform.rpc_telemetry import RpcServerTelemetry
from folio_platform.settings import GrpcServiceSettings
from folio_platform.telemetry import Telemetry
from folio_platform.text import check_message

log = logging.getLogger(__name__)

Register = Callable[[grpc.aio.Server], None]


class _Unobserved:
    """A call observed by nobody (telemetry off)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


_UNOBSERVED = _Unobserved()


def _unobserved(_method: str, _context: Any, _metadata: Any) -> _Unobserved:
    return _UNOBSERVED


# The standard protocols every caller (probes, grpcurl) may use without a token.
_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


@dataclass(frozen=True)
class ServerAuth:
    """How a server knows its callers: a token verifier and, per full method name, who may call."""

    verifier: TokenVerifier
    access: Mapping[str, Access]

    def rule(self, method: str) -> Access | None:
        if method.startswith(_OPEN_PREFIXES):
            return PUBLIC
        return self.access.get(method)

    async def authorize(self, method: str, metadata: Any) -> Identity | None:
        """The verified caller of `method`, or the FolioError that refuses the call."""
        rule = self.rule(method)
        if rule is None:
            raise PermissionDenied(f"{method} declares no access rule, so nobody may call it")
        token = token_from_metadata(metadata)
        identity = None
        if token == "":
            raise Unauthenticated("the authorization metadata must be 'Bearer <access token>'")
        if token is not None:
            identity = await self.verifier.verify(token)
        if not rule.allows(identity):
            if identity is None:
                raise Unauthenticated(f"{method} needs a bearer token")
            raise PermissionDenied(f"{identity.username} may not call {method}")
        return identity


class FolioServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Authorizes each call, refuses control characters in its request's text, runs its handler
    inside the caller's deadline, turns FolioErrors into statuses, and (with telemetry on) traces it
    and records RED metrics per RPC (`folio_platform.rpc_telemetry`).

    `multiline` names the string fields that may hold line breaks ("pkg.Message.field").
    """

    def __init__(
        self,
        auth: ServerAuth,
        telemetry: RpcServerTelemetry | None = None,
        *,
        multiline: Collection[str] = frozenset(),
    ) -> None:
        self.auth = auth
        self.telemetry = telemetry
        self.multiline = frozenset(multiline)
        # Wrapped handlers by method: building one per call showed up in profiles. Only methods the
        # server serves are kept, so callers inventing method names cannot grow it.
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _checked(self, request: Any) -> None:
        if isinstance(request, Message):
            check_message(request, multiline=self.multiline)

    def _wrap(self, method: str, handler: Any) -> Any:
        if handler is None or method.startswith(_OPEN_PREFIXES):
            return handler
        auth, checked = self.auth, self._checked
        observe = self.telemetry.observe if self.telemetry is not None else _unobserved
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                metadata = context.invocation_metadata()
                with observe(method, context, metadata), deadline_scope(context.time_remaining()):
                    try:
                        caller = set_caller(await auth.authorize(method, metadata))
                        try:
                            checked(request)
                            return await unary(request, context)
                        finally:
                            reset_caller(caller)
                    except FolioError as error:
                        await context.abort_with_status(to_status(error))

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None and inspect.isasyncgenfunction(handler.unary_stream):
            stream = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                metadata = context.invocation_metadata()
                with observe(method, context, metadata), deadline_scope(context.time_remaining()):
                    try:
                        caller = set_caller(await auth.authorize(method, metadata))
                        try:
                            checked(request)
                            async for reply in stream(request, context):
                                yield reply
                        finally:
                            reset_caller(caller)
                    except FolioError as error:
                        await context.abort_with_status(to_status(error))

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Other shapes (streaming requests, write-style handlers) are refused rather than served unchecked.
        raise TypeError(f"{method}: only unary and async-generator server-streaming RPCs are supported")


class GrpcServer:
    """One service's gRPC server: build, `start`, then `wait_for_termination` or `stop`."""

    def __init__(
        self,
        *,
        register: Register,
        service_names: Iterable[str],
        address: str,
        telemetry: Telemetry,
        auth: ServerAuth,
        grace_seconds: float = 5.0,
        extra_interceptors: Iterable[grpc.aio.ServerInterceptor] = (),  # type: ignore[type-arg]
        multiline: Collection[str] = frozenset(),
        reflection: bool = True,
    ) -> None:
        observed = (
            RpcServerTelemetry(telemetry.tracer_provider, telemetry.meter_provider)
            if telemetry.enabled
            else None
        )
        # Extra interceptors go first: the Folio one caches handlers and would skip them after one call.
        interceptors: list[Any] = [
            *extra_interceptors,
            FolioServerInterceptor(auth, observed, multiline=multiline),
        ]
        # No SO_REUSEPORT: a second instance on the same port must fail, not silently share it.
        self.server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
        self.grace_seconds = grace_seconds
        # grpc-stubs predates the asyncio health servicer.
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.service_names = list(service_names)
        register(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        # Reflection hands anyone the full contract; production serves it to nobody.
        if reflection:
            grpc_reflection.enable_server_reflection(
                [
                    *self.service_names,
                    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                    grpc_reflection.SERVICE_NAME,
                ],
                self.server,
            )
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as error:  # current grpcio raises; older versions returned 0
            raise OSError(f"cannot listen on {address}: is the port already in use?") from error
        if self.port == 0:
            raise OSError(f"cannot listen on {address}: is the port already in use?")

    async def start(self) -> None:
        """Listen and report SERVING for the server and each of its services."""
        await self.server.start()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("grpc server listening", extra={"port": self.port, "services": self.service_names})

    async def stop(self) -> None:
        """Report NOT_SERVING, refuse new calls, let in-flight calls finish within the grace period."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.grace_seconds)
        log.info("grpc server stopped")

    async def serve_until_signalled(self, center: Center | None = None, host: str = "127.0.0.1") -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully.

        With `center`, the instance registers once it serves and deregisters before draining,
        so clients move off it before it stops taking calls.
        """
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await self.start()
        instance = center.instance(host, self.port) if center is not None else None
        if center is not None and instance is not None:
            await center.register(instance)
        try:
            await stopping.wait()
            log.info("signal received, draining")
        finally:
            if center is not None and instance is not None:
                await center.deregister(instance)
            await self.stop()


async def serve_grpc(
    settings: GrpcServiceSettings,
    *,
    register: Register,
    service_names: Iterable[str],
    telemetry: Telemetry,
    auth_settings: AuthSettings,
    access: Mapping[str, Access],
    center: Center | None = None,
    interceptors: Iterable[grpc.aio.ServerInterceptor] = (),  # type: ignore[type-arg]
    multiline: Collection[str] = frozenset(),
    reflection: bool = True,
    owns_process: bool = False,
) -> None:
    """Serve on the settings' host and port until SIGTERM/SIGINT, then drain within their grace period.

    `access` says, for every RPC ("/pkg.Service/Method"), who may call it; with `center` the
    instance is registered while it serves; `interceptors` run on every call, before authorization;
    `multiline` names the text fields that may hold line breaks; `reflection` serves the
    reflection service (never in production); `owns_process`: the service is its process's main,
    whose heap is settled once it is warm.
    """
    verifier = TokenVerifier.from_settings(auth_settings)
    server = GrpcServer(
        register=register,
        service_names=service_names,
        address=f"{settings.host}:{settings.port}",
        telemetry=telemetry,
        auth=ServerAuth(verifier, access),
        grace_seconds=settings.shutdown_grace_seconds,
        extra_interceptors=interceptors,
        multiline=multiline,
        reflection=reflection,
    )

    async def warm() -> None:
        await verifier.warm()
        if owns_process:
            settle_heap()

    # The issuer's keys are fetched beside the start, not before it: readiness does not wait for
    # them. Then, in a process of its own, the heap is settled (`folio_platform.heap`); in a shared
    # one (tests, tools) freezing would pin everyone else's objects for good.
    warming = asyncio.create_task(warm())
    try:
        await server.serve_until_signalled(center, settings.host)
    finally:
        warming.cancel()
        await verifier.close()
