"""Orders settings, from `FOLIO_ORDERS_*` variables."""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_ORDERS_")

    host: str = Field(default="127.0.0.1", description="interface to listen on (0.0.0.0 in a container)")
    port: int = Field(default=50054, ge=0, le=65535)
    data_dir: Path = Field(default=Path(".folio/data"), description="where the embedded SQLite file lives")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means SQLite in data_dir"
    )
    service_addresses: dict[str, str] = Field(
        default={"catalog": "127.0.0.1:50051", "cart": "127.0.0.1:50052", "payment": "127.0.0.1:50053"},
        description='JSON map of service -> "host:port[,host:port...]" for static discovery',
    )
    call_timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="cap on one call to cart or catalog"
    )
    charge_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="cap on one call to payment; keep it above payment's processor timeout",
    )
    recovery_interval_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="how often to look for stuck sagas"
    )
    recovery_after_seconds: float = Field(
        default=15.0, gt=0, le=86400, description="a pending order older than this is taken over by recovery"
    )

    @field_validator("service_addresses")
    @classmethod
    def _names_every_dependency(cls, value: dict[str, str]) -> dict[str, str]:
        missing = sorted({"cart", "catalog", "payment"} - value.keys())
        if missing:
            raise ValueError(f"must give an address for {', '.join(missing)} (checkout calls all three)")
        return value

    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file orders.db under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'orders.db').resolve()}"
