"""Payment settings, from `FOLIO_PAYMENT_*` variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_PAYMENT_")
    database_file = "payment.db"

    port: int = Field(default=50053, ge=0, le=65535)
    processor_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="how long a charge waits for the card processor before asking it by key what happened",
    )
    processor_lookup_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="how long asking the card processor by key may take before the outcome stays unknown",
    )
