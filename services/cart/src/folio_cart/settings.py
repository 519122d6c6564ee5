"""Cart settings, from `FOLIO_CART_*` variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import GrpcServiceSettings


class Settings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_CART_")

    port: int = Field(default=50052, ge=0, le=65535)
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0; unset means SQLite in data_dir"
    )
    max_quantity: int = Field(default=99, ge=1, description="copies of one book in a cart")
    max_lines: int = Field(default=50, ge=1, description="distinct books in a cart")
    ttl_days: int = Field(default=30, ge=1, description="Redis: a cart untouched this long expires")
