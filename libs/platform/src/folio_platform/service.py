"""Running a gRPC service: the service declares what it is, the platform runs it.

A service's `app.py` builds a `ServiceSpec` — its name, its settings class, who may call each
RPC, and the resources it opens — and its `main()` is `run_service(spec)`. The platform then does
the same for every service, in this order: settings from the environment (or exit naming the bad
variable), logging, telemetry (before any database engine, so engines are traced), the config
center and the registry, the service's own resources (which give the servicers and any extra
interceptors), the server with health, reflection (not in production), per-RPC authorization and
the control-character check of every request, registration once it serves; on SIGTERM or SIGINT
it deregisters, drains within the grace period and closes all of it in reverse order.
"""

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import grpc
import uvloop

from folio_platform.auth import Access, AuthSettings
from folio_platform.center import PRODUCTION, Center, CenterSettings, open_center
from folio_platform.grpc_server import Register, serve_grpc
from folio_platform.logging import configure_logging
from folio_platform.settings import GrpcServiceSettings, load_settings
from folio_platform.telemetry import Telemetry, configure_telemetry


@dataclass(frozen=True)
class Servicer:
    """One gRPC service a process serves: its full name (health, reflection) and how it is added."""

    name: str
    register: Register


@dataclass(frozen=True)
class Serving:
    """What a service's resources hand the server: its servicers and the interceptors of its own
    (failure drills), which run on every call before authorization."""

    servicers: Sequence[Servicer]
    interceptors: Sequence[grpc.aio.ServerInterceptor] = field(default=())  # type: ignore[type-arg]


@dataclass(frozen=True)
class Runtime[S: GrpcServiceSettings]:
    """What the platform has opened by the time a service opens its own resources."""

    settings: S
    auth: AuthSettings
    telemetry: Telemetry
    center: Center


type Resources[S: GrpcServiceSettings] = Callable[[Runtime[S]], AbstractAsyncContextManager[Serving]]


@dataclass(frozen=True)
class ServiceSpec[S: GrpcServiceSettings]:
    """What a gRPC service is.

    `access` gives every RPC ("/pkg.Service/Method") its rule (an RPC without one is refused);
    `resources` opens what the service owns (storage, channels to the services it calls,
    background tasks) and yields the `Serving` built on them; it closes them on exit;
    `multiline` names the request fields ("pkg.Message.field") that may hold line breaks (every
    other text field refuses control characters).
    """

    name: str
    settings: type[S]
    access: Mapping[str, Access]
    resources: Resources[S]
    multiline: frozenset[str] = frozenset()


async def serve_service[S: GrpcServiceSettings](
    spec: ServiceSpec[S],
    settings: S,
    auth: AuthSettings,
    center_settings: CenterSettings | None = None,
    *,
    owns_process: bool = False,
) -> None:
    """Run `spec` with these settings until SIGTERM/SIGINT, then drain and close everything
    (`owns_process`: see `serve_grpc`)."""
    telemetry = configure_telemetry(spec.name, metrics_port=settings.metrics_port, metrics_host=settings.host)
    try:
        async with open_center(spec.name, center_settings or load_settings(CenterSettings)) as center:
            runtime = Runtime(settings=settings, auth=auth, telemetry=telemetry, center=center)
            async with spec.resources(runtime) as serving:

                def register(server: grpc.aio.Server) -> None:
                    for servicer in serving.servicers:
                        servicer.register(server)

                await serve_grpc(
                    settings,
                    register=register,
                    service_names=[servicer.name for servicer in serving.servicers],
                    telemetry=telemetry,
                    auth_settings=auth,
                    access=spec.access,
                    center=center,
                    interceptors=serving.interceptors,
                    multiline=spec.multiline,
                    reflection=center.settings.environment != PRODUCTION,
                    owns_process=owns_process,
                )
    finally:
        telemetry.shutdown()


def run_service[S: GrpcServiceSettings](spec: ServiceSpec[S]) -> None:
    """A service's `main()`: its settings and the shared auth settings from the environment,
    logging, then the service until it is told to stop."""
    settings = load_settings(spec.settings)
    auth = load_settings(AuthSettings)
    configure_logging(spec.name, level=settings.log_level, fmt=settings.log_format)
    # uvloop, as the storefront's uvicorn runs: the loop's own bookkeeping (selector, handles, the
    # self-pipe that wakes it when a database thread finishes) was a sixth of a catalog call's CPU.
    asyncio.run(serve_service(spec, settings, auth, owns_process=True), loop_factory=uvloop.new_event_loop)
