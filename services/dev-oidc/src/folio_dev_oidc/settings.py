"""Settings of the development OpenID provider (FOLIO_DEV_OIDC_*)."""

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_DEV_OIDC_")

    host: str = Field(default="127.0.0.1", description="loopback only: this provider is for development")
    port: int = Field(default=8090, ge=0, le=65535)
    issuer_url: str | None = Field(default=None, description="defaults to http://<host>:<port>")
    users_file: Path = Field(
        description="JSON {username: {password, roles, name, email}} (made by `folio up`)"
    )
    clients_file: Path = Field(description="JSON {client_id: {secret, redirect_uris}} (made by `folio up`)")
    audience: str = Field(default="folio", description="the aud of every access token")
    access_token_seconds: int = Field(default=300, ge=30, le=3600)
    # The deployment environment, shared by every service: this provider refuses to run in production.
    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="FOLIO_ENVIRONMENT"
    )

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the development OpenID provider listens on loopback only (127.0.0.1)")
        return host

    @field_validator("environment")
    @classmethod
    def _never_in_production(cls, environment: str) -> str:
        if environment == "production":
            raise ValueError("the development OpenID provider must not run in production: use Keycloak")
        return environment

    def issuer(self) -> str:
        return (self.issuer_url or f"http://{self.host}:{self.port}").rstrip("/")
