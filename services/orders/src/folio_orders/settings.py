"""Orders settings, from `FOLIO_ORDERS_*` variables."""

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_ORDERS_")
    database_file = "orders.db"

    port: int = Field(default=50054, ge=0, le=65535)
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
    recovery_batch: int = Field(
        default=20, ge=1, le=1000, description="the most stuck orders one recovery pass takes on"
    )
    recovery_max_backoff_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="the longest an order recovery could not end waits before it is tried again",
    )

    @field_validator("service_addresses")
    @classmethod
    def _names_every_dependency(cls, value: dict[str, str]) -> dict[str, str]:
        missing = sorted({"cart", "catalog", "payment"} - value.keys())
        if missing:
            raise ValueError(f"must give an address for {', '.join(missing)} (checkout calls all three)")
        return value
