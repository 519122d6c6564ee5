"""Payment settings, from `FOLIO_PAYMENT_*` variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_PAYMENT_")

    host: str = Field(default="127.0.0.1", description="interface to listen on (0.0.0.0 in a container)")
    port: int = Field(default=50053, ge=0, le=65535)
    data_dir: Path = Field(default=Path(".folio/data"), description="where the embedded SQLite ledger lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql://user@host/payment; unset means SQLite in data_dir",
    )
    processor_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="how long a charge waits for the card processor before answering UNAVAILABLE",
    )

    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'payment.db').resolve()}"
