"""Who is calling: verified OIDC access tokens, per-RPC access rules, and tokens for service calls.

The same code path runs against Keycloak in a cluster and against the development provider
that `folio up` starts: tokens are RS256/ES256 JWTs whose keys come from the issuer's JWKS.
A caller's token travels in the `authorization: Bearer <jwt>` gRPC metadata; each service
declares, for every RPC, who may call it (`Access`), and the server refuses anything else.
"""

import asyncio
import contextvars
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
import jwt
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from folio_platform.errors import InvalidArgument, PermissionDenied, Unauthenticated

log = logging.getLogger(__name__)

# Asymmetric only: an HS256 token "signed" with our public key, or alg=none, is never accepted.
ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
# Keycloak names a client's service-account user this way; the dev provider does the same.
SERVICE_ACCOUNT_PREFIX = "service-account-"
# The realm role only service accounts hold (the realm file grants it to them and to nobody else):
# a name or a client id is not proof, since a person's username is theirs to pick.
SERVICE_ROLE = "folio-service"
# Staff who read every shopper's orders and payments (customer service, finance).
SUPPORT_ROLE = "support"
# Anonymous shoppers' ids, minted by the storefront and known only to it and the shopper's cookie.
GUEST_PREFIX = "anon-"
STOREFRONT_CLIENT = "folio-storefront"
SHOPPER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class AuthSettings(BaseSettings):
    """Where tokens come from and whom they must be for (FOLIO_AUTH_*; shared by every service)."""

    model_config = SettingsConfigDict(env_prefix="FOLIO_AUTH_")

    issuer_url: str = Field(description="OIDC issuer, e.g. https://keycloak.example/realms/folio")
    discovery_url: str | None = Field(
        default=None,
        description="where to fetch the issuer's discovery document (e.g. Keycloak's in-cluster Service); "
        "tokens still carry issuer_url; unset: issuer_url",
    )
    audience: str = Field(default="folio", description="the aud every access token must carry")
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="clock skew allowed on exp/nbf/iat")
    client_id: str | None = Field(default=None, description="this service's own client (service account)")
    client_secret: SecretStr | None = Field(
        default=None, description="its secret (from a Secret, never a file)"
    )
    jwks_refresh_seconds: float = Field(
        default=10.0, gt=0, description="at most one JWKS fetch per this many seconds on unknown key ids"
    )

    @property
    def metadata_base(self) -> str:
        """The base URL the discovery document is fetched from."""
        return (self.discovery_url or self.issuer_url).rstrip("/")


@dataclass(frozen=True)
class Identity:
    """A verified caller: a person (subject, roles) or a service account (client id)."""

    subject: str
    username: str
    roles: frozenset[str] = frozenset()
    client_id: str = ""
    token: str = field(default="", repr=False)

    @property
    def service(self) -> str | None:
        """The client id when this is a service account's token, else None.

        A service account is recognised by the realm role only service accounts carry, and its
        username must be the one Keycloak gives the service account of the token's client (azp).
        """
        if (
            SERVICE_ROLE in self.roles
            and self.client_id
            and self.username == SERVICE_ACCOUNT_PREFIX + self.client_id
        ):
            return self.client_id
        return None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: str = "") -> "Identity":
        realm_access = claims.get("realm_access") or {}
        roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
        return cls(
            subject=str(claims["sub"]),
            username=str(claims.get("preferred_username") or claims["sub"]),
            roles=frozenset(r for r in roles or () if isinstance(r, str)),
            client_id=str(claims.get("azp") or claims.get("client_id") or ""),
            token=token,
        )


@dataclass(frozen=True)
class Access:
    """Who may call one RPC: anyone, people holding one of `roles`, or the listed service accounts."""

    anyone: bool = False
    customers: bool = False
    roles: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()

    def allows(self, identity: Identity | None) -> bool:
        if self.anyone:
            return True
        if identity is None:
            return False
        if identity.service is not None:
            return identity.service in self.services
        return self.customers or bool(self.roles & identity.roles)

    def needs_token(self) -> bool:
        return not self.anyone


PUBLIC = Access(anyone=True)


def signed_in(*, services: tuple[str, ...] = ()) -> Access:
    """Any signed-in person (ownership is checked by the handler), plus the listed services."""
    return Access(customers=True, services=frozenset(services))


def role(name: str, *, services: tuple[str, ...] = ()) -> Access:
    """People holding realm role `name`, plus the listed services."""
    return Access(roles=frozenset({name}), services=frozenset(services))


def services_only(*names: str) -> Access:
    return Access(services=frozenset(names))


def rules_for(service: Any, rules: Mapping[str, Access]) -> dict[str, Access]:
    """Full method names -> rules for a proto service descriptor; every RPC must have exactly one.

    Raises at start-up when an RPC has no rule (a new RPC is never open by accident).
    """
    methods = {m.name for m in service.methods}
    missing, unknown = methods - rules.keys(), rules.keys() - methods
    if missing or unknown:
        raise ValueError(
            f"{service.full_name}: no access rule for {sorted(missing)}; unknown {sorted(unknown)}"
        )
    return {f"/{service.full_name}/{name}": rule for name, rule in rules.items()}


TokenSource = Callable[[], Awaitable[str]]

_caller: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("folio_caller", default=None)


def current_caller() -> Identity | None:
    """The verified caller of the RPC being handled (None for a public call without a token)."""
    return _caller.get()


def set_caller(identity: Identity | None) -> contextvars.Token[Identity | None]:
    return _caller.set(identity)


def reset_caller(token: contextvars.Token[Identity | None]) -> None:
    _caller.reset(token)


def require_shopper(shopper_id: str, *, trusted_services: tuple[str, ...] = ()) -> None:
    """Refuse unless the caller may act for `shopper_id`.

    A person acts only for themselves (their token's subject). The storefront's service account
    acts for guests (ids it minted, `anon-...`, held only in their signed cookie). Services in
    `trusted_services` (orders, for the carts it checks out) act for anyone.
    """
    caller = current_caller()
    if caller is None:
        raise Unauthenticated("a bearer token is required")
    if caller.service is None:
        if caller.subject != shopper_id:
            raise PermissionDenied("you can only see and change your own cart and orders")
        return
    if caller.service in trusted_services:
        return
    if caller.service == STOREFRONT_CLIENT and shopper_id.startswith(GUEST_PREFIX):
        return
    raise PermissionDenied(f"service {caller.service} may not act for this shopper")


def checked_shopper(shopper_id: str, *, trusted_services: tuple[str, ...] = ()) -> str:
    """`shopper_id` from a request, once it is well-formed and the caller may act for that shopper."""
    if not SHOPPER_ID.fullmatch(shopper_id):
        raise InvalidArgument("shopper_id", "is required: 1-128 letters, digits or . _ : -")
    require_shopper(shopper_id, trusted_services=trusted_services)
    return shopper_id


async def _discovered(http: httpx.AsyncClient, issuer: str, key: str) -> str:
    """One endpoint from the issuer's OpenID discovery document."""
    discovery = await http.get(f"{issuer}/.well-known/openid-configuration")
    discovery.raise_for_status()
    return str(discovery.json()[key])


class TokenVerifier:
    """Verifies access tokens: signature by a key from the issuer's JWKS, issuer, audience, times.

    The JWKS is fetched lazily and cached; a token signed by a key id we have not seen triggers a
    refetch (that is how a rotated key is picked up without a restart), at most once per
    `refresh_seconds`, so a flood of made-up key ids cannot turn into a flood of JWKS requests.

    A token that passed is remembered until its own expiry (not the leeway past it), in a bounded
    least-recently-used table of `cache_size` tokens: a caller presents the same token on every
    call, and checking its signature again each time was most of a call's CPU. Only tokens that
    passed are remembered; a refused one is checked again each time it is presented.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: int = 30,
        refresh_seconds: float = 10.0,
        http: httpx.AsyncClient | None = None,
        discovery: str | None = None,
        cache_size: int = 4096,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.discovery = (discovery or issuer).rstrip("/")
        self.audience = audience
        self.leeway = leeway_seconds
        self.refresh_seconds = refresh_seconds
        self.cache_size = cache_size
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks_uri: str | None = None
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> "TokenVerifier":
        return cls(
            issuer=settings.issuer_url,
            audience=settings.audience,
            leeway_seconds=settings.leeway_seconds,
            refresh_seconds=settings.jwks_refresh_seconds,
            discovery=settings.metadata_base,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def verify(self, token: str) -> Identity:
        """The caller the token proves, or `Unauthenticated` saying why not."""
        cached = self._verified.get(token)
        if cached is not None:
            identity, expires_at = cached
            if time.time() < expires_at:
                self._verified.move_to_end(token)
                return identity
            del self._verified[token]
        identity, expires_at = await self._verify(token)
        if self.cache_size > 0:
            self._verified[token] = (identity, expires_at)
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return identity

    async def _verify(self, token: str) -> tuple[Identity, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"malformed token: {error}") from None
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(f"token algorithm {header.get('alg')!r} is not accepted")
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"token rejected: {error}") from None
        return Identity.from_claims(claims, token), float(claims["exp"])

    async def _key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._keys:
            async with self._lock:
                if kid not in self._keys and time.monotonic() - self._fetched_at >= self.refresh_seconds:
                    await self._refresh()
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthenticated("token signed by an unknown key") from None

    async def warm(self) -> None:
        """Fetch the issuer's keys now, as a service starts, so its first caller with a token does
        not wait for them (nor for the HTTP stack that fetches them to load: a third of a second on
        a busy machine). An issuer that does not answer is logged and asked again on the first call."""
        async with self._lock:
            if not self._keys:
                await self._refresh()
            if not self._keys:
                self._fetched_at = -float("inf")

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await _discovered(self._http, self.discovery, "jwks_uri")
            response = await self._http.get(self._jwks_uri)
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWTError) as error:
            # Keep the keys we have: a flaky issuer must not log everyone out.
            log.warning("cannot fetch the issuer's keys", extra={"issuer": self.issuer, "error": str(error)})
            return
        self._keys = {str(k.key_id): k for k in key_set.keys if k.key_id}
        log.info("issuer keys loaded", extra={"issuer": self.issuer, "key_ids": sorted(self._keys)})


class ServiceTokens:
    """This service's own access token (OAuth client credentials), fetched once and reused until
    shortly before it expires."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient | None = None,
        renew_before_seconds: float = 30.0,
        discovery: str | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.discovery = (discovery or issuer).rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._renew_before = renew_before_seconds
        self._token = ""
        self._expires_at = 0.0
        self._token_endpoint: str | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> "ServiceTokens":
        if not settings.client_id or settings.client_secret is None:
            raise SystemExit(
                "invalid settings: FOLIO_AUTH_CLIENT_ID and FOLIO_AUTH_CLIENT_SECRET are required "
                "for a service that calls others as itself"
            )
        return cls(
            issuer=settings.issuer_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            discovery=settings.metadata_base,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def token(self) -> str:
        """A valid access token for this service; raises `Unauthenticated` when the issuer refuses."""
        if time.monotonic() < self._expires_at - self._renew_before:
            return self._token
        async with self._lock:
            if time.monotonic() >= self._expires_at - self._renew_before:
                await self._fetch()
        return self._token

    async def _fetch(self) -> None:
        try:
            if self._token_endpoint is None:
                self._token_endpoint = await _discovered(self._http, self.discovery, "token_endpoint")
            response = await self._http.post(
                self._token_endpoint,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._secret),
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError, KeyError) as error:
            raise Unauthenticated(f"cannot get a token for {self.client_id}: {error}") from None
        self._token = str(body["access_token"])
        self._expires_at = time.monotonic() + float(body.get("expires_in", 60))


def bearer(token: str) -> tuple[tuple[str, str]]:
    """gRPC call metadata carrying `token`."""
    return (("authorization", f"Bearer {token}"),)


def token_from_metadata(metadata: Any) -> str | None:
    """The bearer token in a call's invocation metadata, if any."""
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = str(value).partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return None
