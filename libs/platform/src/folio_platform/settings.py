"""Settings every service shares; each service subclasses with its own env prefix."""

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base of each service's `Settings`: logging and shutdown knobs common to all.

    A subclass sets `env_prefix="FOLIO_<SERVICE>_"`, so `FOLIO_CATALOG_LOG_LEVEL=DEBUG`
    configures only the catalog.
    """

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = Field(
        default="json", description="json for machines (default), text for a human at a terminal"
    )
    shutdown_grace_seconds: float = Field(
        default=5.0, ge=0, le=120, description="how long in-flight requests may finish after SIGTERM"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve Prometheus metrics (RED, business) on this port at /metrics; unset: no endpoint",
    )
    client_retries: bool = Field(
        default=True,
        description="retry the calls the protos mark safe to repeat in the gRPC client; false where "
        "the mesh retries them (one layer retries)",
    )


class GrpcServiceSettings(ServiceSettings):
    """A gRPC service: where it listens and where its embedded files live.

    A subclass gives `port` its own default (catalog 50051, cart 50052, ...).
    """

    host: str = Field(default="127.0.0.1", description="interface to listen on (0.0.0.0 in a container)")
    port: int = Field(default=0, ge=0, le=65535)
    data_dir: Path = Field(default=Path(".folio/data"), description="where the embedded SQLite files live")

    def sqlite_url(self, filename: str) -> str:
        """A SQLite file of this service under data_dir."""
        return f"sqlite:///{(self.data_dir / filename).resolve()}"


class DatabaseServiceSettings(GrpcServiceSettings):
    """A gRPC service owning a SQL database: PostgreSQL when a URL is set, else SQLite in data_dir."""

    # The embedded default's file name, e.g. "catalog.db".
    database_file: ClassVar[str]

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql://user@host/db; unset means SQLite in data_dir",
    )

    def resolved_database_url(self) -> str:
        """The configured URL, or the service's SQLite file under data_dir."""
        return self.database_url or self.sqlite_url(self.database_file)


def load_settings[S: BaseSettings](settings_class: type[S]) -> S:
    """Build settings from the environment, or exit with a message naming each bad variable."""
    import re

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    prefix = str(settings_class.model_config.get("env_prefix", ""))
    try:
        return settings_class()
    except SettingsError as error:
        # Raised for values that must be JSON (dicts, lists) and are not; it names only the field.
        field = re.search(r'field "([^"]+)"', str(error))
        variable = f"{prefix}{field.group(1)}".upper() if field else "settings"
        raise SystemExit(
            f"invalid settings for {settings_class.__module__}:\n  {variable}: {error.__cause__ or error}"
        ) from None
    except ValidationError as error:
        problems = "\n".join(
            f"  {prefix}{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        raise SystemExit(f"invalid settings for {settings_class.__module__}:\n{problems}") from None
