"""Choosing the config center and the registry from `FOLIO_*` settings, and opening them.

Nacos when FOLIO_NACOS_SERVER_ADDRESSES is set (a cluster); otherwise the embedded ones when
FOLIO_CONFIG_DIR / FOLIO_REGISTRY_DIR are set (`folio up` sets both); otherwise neither: default
live settings and the static addresses only.
"""

import contextlib
import importlib.util
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from folio_platform.config import ConfigSource, FileConfigSource, LiveConfig, LiveSettings
from folio_platform.discovery import Discovery
from folio_platform.registry import FileRegistry, Instance, Registry, RegistryDiscovery, RegistryUnavailable

log = logging.getLogger(__name__)

# The FOLIO_ENVIRONMENT that refuses failure drills and gRPC reflection.
PRODUCTION = "production"


class CenterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_", extra="ignore")

    config_dir: Path | None = Field(
        default=None, description="embedded config center: <dir>/<service>.yaml, shared.yaml"
    )
    config_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="how often the files are checked"
    )
    registry_dir: Path | None = Field(
        default=None, description="embedded registry: a directory of instance files"
    )
    nacos_server_addresses: str | None = Field(
        default=None,
        description="Nacos host:port list (e.g. nacos:8848); set, it replaces both embedded ones",
    )
    nacos_namespace: str = Field(default="", description="Nacos namespace id (empty: public)")
    nacos_group: str = Field(default="FOLIO", description="group of Folio's data ids and services")
    nacos_username: str | None = None
    nacos_password: SecretStr | None = None
    nacos_connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    nacos_cache_dir: Path = Field(default=Path("/tmp/folio-nacos"), description="the SDK's cache and logs")  # noqa: S108
    advertise_host: str | None = Field(
        default=None,
        description="address others reach this instance at (the pod IP); default: the listen host",
    )
    zone: str = Field(default="local", description="registered as instance metadata (topology zone)")
    environment: str = Field(
        default="development",
        description="the deployment environment; production refuses failure drills and serves no gRPC reflection",
    )


def _nacos_options(settings: CenterSettings):  # type: ignore[no-untyped-def]
    if importlib.util.find_spec("v2") is None:  # the Nacos SDK's package
        raise SystemExit(
            "FOLIO_NACOS_SERVER_ADDRESSES is set, but Nacos' SDK is not installed: "
            "the service needs folio-platform[nacos]"
        )
    from folio_platform.nacos import NacosOptions

    assert settings.nacos_server_addresses is not None
    return NacosOptions(
        server_addresses=settings.nacos_server_addresses,
        namespace=settings.nacos_namespace,
        group=settings.nacos_group,
        username=settings.nacos_username,
        password=settings.nacos_password.get_secret_value() if settings.nacos_password else None,
        connect_timeout_seconds=settings.nacos_connect_timeout_seconds,
        cache_dir=settings.nacos_cache_dir,
    )


def config_source(settings: CenterSettings) -> ConfigSource | None:
    if settings.nacos_server_addresses:
        from folio_platform.nacos import NacosConfigSource

        return NacosConfigSource(_nacos_options(settings))
    if settings.config_dir is not None:
        return FileConfigSource(settings.config_dir, poll_seconds=settings.config_poll_seconds)
    return None


def registry_for(settings: CenterSettings) -> Registry | None:
    if settings.nacos_server_addresses:
        from folio_platform.nacos import NacosRegistry

        return NacosRegistry(_nacos_options(settings))
    if settings.registry_dir is not None:
        return FileRegistry(settings.registry_dir)
    return None


def _version(service: str) -> str:
    try:
        return metadata.version(f"folio-{service}")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Center:
    """One service's view of the config center and the registry."""

    service: str
    settings: CenterSettings
    config: LiveConfig[LiveSettings]
    registry: Registry | None
    # What `open_center` closes on exit (discoveries started through this center).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def instance(self, host: str, port: int) -> Instance:
        """This process as the registry should know it."""
        advertised = self.settings.advertise_host or host
        if advertised in ("0.0.0.0", "::", ""):  # noqa: S104 - listening everywhere: advertise our own address
            advertised = socket.gethostbyname(socket.gethostname())
        return Instance(
            self.service, advertised, port, {"version": _version(self.service), "zone": self.settings.zone}
        )

    async def register(self, instance: Instance) -> bool:
        """Announce `instance`; a registry that is down is logged, not fatal (clients keep static addresses)."""
        if self.registry is None:
            return False
        try:
            await self.registry.register(instance)
        except RegistryUnavailable as error:
            log.error("registry down: serving without registration", extra={"reason": str(error)})
            return False
        return True

    async def deregister(self, instance: Instance) -> None:
        if self.registry is None:
            return
        try:
            await self.registry.deregister(instance)
        except RegistryUnavailable as error:
            log.warning("registry down: could not deregister", extra={"reason": str(error)})

    async def discovery(self, static: Discovery, services: Sequence[str]) -> Discovery:
        """Registry-backed discovery of `services` (static as fallback), or `static` without a registry."""
        if self.registry is None:
            return static
        discovery = RegistryDiscovery(self.registry, static, services)
        await discovery.start()
        self.closers.append(discovery.close)
        return discovery


@contextlib.asynccontextmanager
async def open_center(service: str, settings: CenterSettings | None = None) -> AsyncIterator[Center]:
    """The config center (loaded and watched) and the registry for `service`, closed on exit."""
    settings = settings or CenterSettings()
    config = LiveConfig(
        service, LiveSettings, config_source(settings), refuse_drills=settings.environment == PRODUCTION
    )
    center = Center(service, settings, config, registry_for(settings))
    await config.start()
    try:
        yield center
    finally:
        for close in reversed(center.closers):
            await close()
        await config.close()
        if center.registry is not None:
            await center.registry.close()
