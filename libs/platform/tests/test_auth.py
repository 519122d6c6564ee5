"""Token verification and per-RPC access rules, against a real issuer serving its JWKS over HTTP."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from folio_platform import auth as folio_auth
from folio_platform import errors
from folio_platform.auth import (
    SERVICE_ROLE,
    Access,
    Identity,
    ServiceTokens,
    TokenVerifier,
    bearer,
    current_caller,
    require_shopper,
    reset_caller,
    role,
    rules_for,
    services_only,
    set_caller,
    signed_in,
)
from folio_platform.grpc_client import create_channel
from folio_platform.grpc_server import GrpcServer
from folio_testing.issuer import FORGED_KINDS, TestIssuer, forged_tokens

PROBE = "folio.test.v1.Probe"
StartServer = Callable[..., Awaitable[GrpcServer]]
SERVICE = frozenset({SERVICE_ROLE})


def verifier_for(issuer: TestIssuer, **options: float) -> TokenVerifier:
    return TokenVerifier(issuer=issuer.url, audience="folio", **options)  # type: ignore[arg-type]


async def test_a_good_token_gives_the_callers_identity(issuer: TestIssuer) -> None:
    verifier = verifier_for(issuer)
    identity = await verifier.verify(issuer.token("u-1", username="alice", roles=("customer",)))
    assert (identity.subject, identity.username, identity.roles) == ("u-1", "alice", {"customer"})
    assert identity.service is None
    await verifier.close()


async def test_keys_come_from_the_discovery_address_while_tokens_name_the_public_issuer(
    issuer: TestIssuer,
) -> None:
    """In a cluster the services fetch Keycloak's keys from its in-cluster Service; the tokens still
    carry the public issuer URL, which is what they are checked against."""
    public = "https://keycloak.example.com/realms/folio"
    verifier = TokenVerifier(issuer=public, audience="folio", discovery=issuer.url)
    identity = await verifier.verify(issuer.token("u-1", issuer=public))
    assert identity.subject == "u-1"
    with pytest.raises(errors.Unauthenticated):
        await verifier.verify(issuer.token("u-2"))  # signed by the same keys, but another issuer
    await verifier.close()


async def test_a_service_account_token_names_its_client(issuer: TestIssuer) -> None:
    verifier = verifier_for(issuer)
    assert (await verifier.verify(issuer.service_token("folio-orders"))).service == "folio-orders"
    # A person signed in through the storefront has azp=folio-storefront but is not its service account.
    assert (await verifier.verify(issuer.token("u-1", client_id="folio-storefront"))).service is None
    await verifier.close()


@pytest.mark.parametrize(
    "disguise",
    [
        {"username": "service-account-folio-storefront"},
        {"username": "service-account-folio-storefront", "extra": {"client_id": "folio-storefront"}},
        {"username": "service-account-folio-orders", "client_id": "folio-orders", "roles": ("customer",)},
        {"username": "alice", "roles": (SERVICE_ROLE,)},
        {"username": "service-account-folio-orders", "roles": (SERVICE_ROLE,)},
    ],
    ids=["username", "username+client_id claim", "another client", "role, own name", "role, other name"],
)
async def test_a_person_dressed_as_a_service_account_is_not_one(
    issuer: TestIssuer, disguise: dict[str, Any]
) -> None:
    """A username is the person's to pick (and an LDAP directory's): only the role that the realm
    grants to service accounts alone, on the account named after the token's own client, makes a service."""
    verifier = verifier_for(issuer)
    identity = await verifier.verify(issuer.token("mallory-id", **disguise))
    assert identity.service is None
    assert not services_only("folio-orders", "folio-storefront").allows(identity)
    token = set_caller(identity)
    try:
        with pytest.raises(errors.PermissionDenied):
            require_shopper("anon-someone-else")
    finally:
        reset_caller(token)
    await verifier.close()


@pytest.mark.parametrize("kind", FORGED_KINDS)
async def test_forged_tokens_are_refused(issuer: TestIssuer, kind: str) -> None:
    verifier = verifier_for(issuer)
    with pytest.raises(errors.Unauthenticated):
        await verifier.verify(forged_tokens(issuer)[kind])
    await verifier.close()


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the verifier decodes (its signature checked), in order."""
    seen: list[str] = []
    decode = folio_auth.jwt.decode

    def counting_decode(token: str, *args: object, **kwargs: object) -> object:
        seen.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(folio_auth.jwt, "decode", counting_decode)
    return seen


async def test_a_verified_token_is_remembered_until_it_expires(
    issuer: TestIssuer, decoded: list[str]
) -> None:
    verifier = verifier_for(issuer, leeway_seconds=0)
    short = issuer.token("u-1", expires_in=2)
    assert (await verifier.verify(short)).subject == "u-1"
    assert (await verifier.verify(short)).subject == "u-1"
    assert decoded == [short]
    await asyncio.sleep(2.2)
    with pytest.raises(errors.Unauthenticated, match="expired"):
        await verifier.verify(short)
    await verifier.close()


async def test_the_verified_token_table_is_bounded(issuer: TestIssuer, decoded: list[str]) -> None:
    verifier = verifier_for(issuer, cache_size=2)
    first, second, third = (issuer.token(f"u-{n}") for n in range(3))
    for token in (first, second, third, third, second):
        await verifier.verify(token)
    assert decoded == [first, second, third]
    await verifier.verify(first)  # the least recently used, so forgotten
    assert decoded == [first, second, third, first]
    await verifier.close()


async def test_a_refused_token_is_never_remembered(issuer: TestIssuer) -> None:
    verifier = verifier_for(issuer)
    expired = forged_tokens(issuer)["expired"]
    for _ in range(2):
        with pytest.raises(errors.Unauthenticated):
            await verifier.verify(expired)
    await verifier.close()


async def test_a_rotated_key_is_picked_up_without_a_restart(issuer: TestIssuer) -> None:
    verifier = verifier_for(issuer, refresh_seconds=0.0)
    await verifier.verify(issuer.token())
    issuer.rotate()
    identity = await verifier.verify(issuer.token("after-rotation"))
    assert identity.subject == "after-rotation"
    await verifier.close()


async def test_warming_fetches_the_keys_before_the_first_caller(issuer: TestIssuer) -> None:
    verifier = verifier_for(issuer, refresh_seconds=60.0)
    before = issuer.jwks_requests
    await verifier.warm()
    assert issuer.jwks_requests == before + 1
    assert (await verifier.verify(issuer.token("first"))).subject == "first"
    assert issuer.jwks_requests == before + 1  # the first caller did not wait for the keys
    await verifier.close()


async def test_warming_against_an_issuer_that_does_not_answer_leaves_the_keys_to_the_first_call(
    issuer: TestIssuer,
) -> None:
    verifier = TokenVerifier(
        issuer=issuer.url, audience="folio", discovery="http://127.0.0.1:9", refresh_seconds=60.0
    )
    await verifier.warm()  # logged, not raised
    # The failed warm-up does not count as a recent fetch: the first call asks the issuer again.
    verifier.discovery = issuer.url
    before = issuer.jwks_requests
    assert (await verifier.verify(issuer.token("first"))).subject == "first"
    assert issuer.jwks_requests == before + 1
    await verifier.close()


async def test_unknown_key_ids_cannot_flood_the_issuer_with_jwks_requests(issuer: TestIssuer) -> None:
    verifier = verifier_for(issuer, refresh_seconds=60.0)
    await verifier.verify(issuer.token())
    before = issuer.jwks_requests
    unknown = forged_tokens(issuer)["unknown key"]
    for _ in range(20):
        with pytest.raises(errors.Unauthenticated):
            await verifier.verify(unknown)
    assert issuer.jwks_requests - before <= 1
    await verifier.close()


async def test_service_tokens_come_from_client_credentials_and_are_reused(issuer: TestIssuer) -> None:
    tokens = ServiceTokens(
        issuer=issuer.url, client_id="folio-orders", client_secret=issuer.clients["folio-orders"]
    )
    first = await tokens.token()
    assert first == await tokens.token()
    verifier = verifier_for(issuer)
    assert (await verifier.verify(first)).service == "folio-orders"
    wrong = ServiceTokens(issuer=issuer.url, client_id="folio-orders", client_secret="not-the-secret")
    with pytest.raises(errors.Unauthenticated, match="folio-orders"):
        await wrong.token()
    for closable in (tokens, wrong, verifier):
        await closable.close()


def test_access_rules() -> None:
    alice = Identity("a", "alice", frozenset({"customer"}), "folio-storefront")
    admin = Identity("c", "carol", frozenset({"customer", "catalog-admin"}), "folio-storefront")
    orders = Identity("sa", "service-account-folio-orders", frozenset({SERVICE_ROLE}), "folio-orders")
    assert not signed_in().allows(None)
    assert signed_in().allows(alice)
    assert not signed_in().allows(orders)
    assert signed_in(services=("folio-orders",)).allows(orders)
    assert role("catalog-admin").allows(admin)
    assert not role("catalog-admin").allows(alice)
    assert services_only("folio-orders").allows(orders)
    assert not services_only("folio-orders").allows(admin)


def test_rules_must_cover_every_rpc() -> None:
    from folio.cart.v1 import cart_pb2

    service = cart_pb2.DESCRIPTOR.services_by_name["CartService"]
    with pytest.raises(ValueError, match="no access rule for"):
        rules_for(service, {"GetCart": signed_in()})


@pytest.mark.parametrize(
    ("caller", "shopper", "allowed"),
    [
        (Identity("a", "alice"), "a", True),
        (Identity("a", "alice"), "b", False),
        (Identity("sa", "service-account-folio-storefront", SERVICE, "folio-storefront"), "anon-1", True),
        (Identity("sa", "service-account-folio-storefront", SERVICE, "folio-storefront"), "a", False),
        (Identity("sa", "service-account-folio-orders", SERVICE, "folio-orders"), "a", True),
        (None, "a", False),
    ],
)
def test_who_may_act_for_a_shopper(caller: Identity | None, shopper: str, allowed: bool) -> None:
    token = set_caller(caller)
    try:
        if allowed:
            require_shopper(shopper, trusted_services=("folio-orders",))
        else:
            with pytest.raises((errors.PermissionDenied, errors.Unauthenticated)):
                require_shopper(shopper, trusted_services=("folio-orders",))
    finally:
        reset_caller(token)


async def _whoami(request: bytes, context: object) -> bytes:
    caller = current_caller()
    return (caller.username if caller else "anonymous").encode()


async def test_the_server_enforces_each_rpcs_rule(start_server: StartServer, issuer: TestIssuer) -> None:
    server = await start_server(
        PROBE,
        {"Open": _whoami, "Customers": _whoami, "Admins": _whoami, "Undeclared": _whoami},
        access={"Customers": signed_in(), "Admins": role("catalog-admin"), "Undeclared": Access()},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:

        async def call(name: str, token: str | None = None) -> bytes:
            metadata = bearer(token) if token is not None else None
            result: bytes = await channel.unary_unary(f"/{PROBE}/{name}")(b"", metadata=metadata, timeout=5)
            return result

        async def refused(name: str, token: str | None = None) -> grpc.StatusCode:
            with pytest.raises(grpc.aio.AioRpcError) as excinfo:
                await call(name, token)
            return excinfo.value.code()

        alice = issuer.token("a", username="alice")
        carol = issuer.token("c", username="carol", roles=("customer", "catalog-admin"))
        assert await call("Open") == b"anonymous"
        assert await call("Customers", alice) == b"alice"
        assert await refused("Customers") == grpc.StatusCode.UNAUTHENTICATED
        assert await refused("Admins", alice) == grpc.StatusCode.PERMISSION_DENIED
        assert await call("Admins", carol) == b"carol"
        assert await refused("Undeclared", carol) == grpc.StatusCode.PERMISSION_DENIED
        for kind, forged in forged_tokens(issuer).items():
            assert await refused("Customers", forged) == grpc.StatusCode.UNAUTHENTICATED, kind
            # A bad token is refused even where no token is needed: it is never silently dropped.
            assert await refused("Open", forged) == grpc.StatusCode.UNAUTHENTICATED, kind


async def test_channels_present_the_services_own_token(start_server: StartServer, issuer: TestIssuer) -> None:
    server = await start_server(PROBE, {"Orders": _whoami}, access={"Orders": services_only("folio-orders")})
    tokens = ServiceTokens(
        issuer=issuer.url, client_id="folio-orders", client_secret=issuer.clients["folio-orders"]
    )
    channel = create_channel([f"127.0.0.1:{server.port}"], token_source=tokens.token)
    reply = await channel.unary_unary(f"/{PROBE}/Orders")(b"", timeout=5)
    assert reply == b"service-account-folio-orders"
    await channel.close()
    await tokens.close()
    await asyncio.sleep(0)
