"""Catalog settings, from `FOLIO_CATALOG_*` variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_CATALOG_")
    database_file = "catalog.db"

    port: int = Field(default=50051, ge=0, le=65535)
    seed_on_start: bool = Field(
        default=True, description="load the bundled seed catalog if books are missing"
    )
