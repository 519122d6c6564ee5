"""Settings every service shares; each service subclasses with its own env prefix."""

from typing import Literal

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
