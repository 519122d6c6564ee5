"""A grpc.aio server with what every Folio service needs.

Standard health service (grpc.health.v1) and reflection; each handler runs inside the
caller's deadline and maps `FolioError`s to real status codes; SIGTERM or SIGINT flips
health to NOT_SERVING, stops taking new calls and lets in-flight ones finish.
"""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from folio_platform.deadlines import deadline_scope
from folio_platform.errors import FolioError, to_status
from folio_platform.logging import configure_logging
from folio_platform.settings import GrpcServiceSettings, load_settings
from folio_platform.telemetry import Telemetry

log = logging.getLogger(__name__)

Register = Callable[[grpc.aio.Server], None]


class FolioServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Runs unary handlers inside the caller's deadline and turns FolioErrors into statuses."""

    def __init__(self) -> None:
        # Wrapped handlers by method: building one per call showed up in profiles.
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._wrapped[method] = self._wrap(await continuation(handler_call_details))
        return wrapped

    @staticmethod
    def _wrap(handler: Any) -> Any:
        if handler is None or handler.unary_unary is None:
            return handler
        behaviour = handler.unary_unary

        async def unary_unary(request: Any, context: Any) -> Any:
            with deadline_scope(context.time_remaining()):
                try:
                    return await behaviour(request, context)
                except FolioError as error:
                    await context.abort_with_status(to_status(error))

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """One service's gRPC server: build, `start`, then `wait_for_termination` or `stop`."""

    def __init__(
        self,
        *,
        register: Register,
        service_names: Iterable[str],
        address: str,
        telemetry: Telemetry,
        grace_seconds: float = 5.0,
    ) -> None:
        interceptors: list[Any] = [FolioServerInterceptor()]
        if telemetry.enabled:
            from opentelemetry.instrumentation.grpc import aio_server_interceptor

            interceptors.insert(0, aio_server_interceptor())  # type: ignore[no-untyped-call]
        # No SO_REUSEPORT: a second instance on the same port must fail, not silently share it.
        self.server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
        self.grace_seconds = grace_seconds
        # grpc-stubs predates the asyncio health servicer.
        self.health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self.service_names = list(service_names)
        register(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [
                *self.service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
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

    async def serve_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await self.start()
        await stopping.wait()
        log.info("signal received, draining")
        await self.stop()


async def serve_grpc(
    settings: GrpcServiceSettings, *, register: Register, service_names: Iterable[str], telemetry: Telemetry
) -> None:
    """Serve on the settings' host and port until SIGTERM/SIGINT, then drain within their grace period."""
    server = GrpcServer(
        register=register,
        service_names=service_names,
        address=f"{settings.host}:{settings.port}",
        telemetry=telemetry,
        grace_seconds=settings.shutdown_grace_seconds,
    )
    await server.serve_until_signalled()


def run_service[S: GrpcServiceSettings](
    name: str, settings_class: type[S], serve: Callable[[S], Coroutine[Any, Any, None]]
) -> None:
    """A service's `main()`: settings from the environment, logging, then `serve(settings)` to the end."""
    settings = load_settings(settings_class)
    configure_logging(name, level=settings.log_level, fmt=settings.log_format)
    asyncio.run(serve(settings))
