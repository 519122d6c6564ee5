"""Storefront settings, from `FOLIO_STOREFRONT_*` variables."""

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_STOREFRONT_")

    host: str = Field(default="127.0.0.1", description="interface to listen on (0.0.0.0 in a container)")
    port: int = Field(default=8000, ge=0, le=65535)
    service_addresses: dict[str, str] = Field(
        default={
            "catalog": "127.0.0.1:50051",
            "cart": "127.0.0.1:50052",
            "orders": "127.0.0.1:50054",
            "assistant": "127.0.0.1:50055",
        },
        description='JSON map of service -> "host:port[,host:port...]" for static discovery',
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=10 * 1024 * 1024, description="larger request bodies get 413"
    )
    request_timeout_seconds: float = Field(
        default=3.0, gt=0, le=60, description="budget for one request, shared by every backend call it makes"
    )
    backend_timeout_seconds: float = Field(default=1.5, gt=0, le=60, description="cap on any one gRPC call")
    checkout_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="budget for PlaceOrder, which calls cart, catalog and payment"
    )
    ask_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="budget for one streamed assistant answer (an LLM may be slow)",
    )
    session_secret: SecretStr = Field(
        description="signs the session id the cookie carries; 32+ random characters, never committed"
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:6379/0 for the session store; unset means SQLite in data_dir",
    )
    data_dir: Path = Field(default=Path(".folio/data"), description="where the embedded session store lives")
    session_idle_seconds: int = Field(
        default=7 * 86400, ge=60, description="a session unused this long ends (a guest's cart goes with it)"
    )
    session_absolute_seconds: int = Field(
        default=30 * 86400, ge=60, description="every session ends this long after it began"
    )
    cookie_secure: bool = Field(default=False, description="send the session cookie over HTTPS only")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the shop's external URL: the identity provider redirects back to <public_url>/signin/callback",
    )

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value
