"""A test OIDC issuer: real RSA keys, a real JWKS and token endpoint over HTTP on loopback.

Services under test verify tokens exactly as in production (discovery document -> JWKS ->
signature, issuer, audience, times); the tests mint whatever token they need, good or bad.
"""

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from folio_platform.auth import SERVICE_ACCOUNT_PREFIX, SERVICE_ROLE, Access, TokenVerifier
from folio_platform.grpc_client import create_channel
from folio_platform.grpc_server import ServerAuth

AUDIENCE = "folio"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(
            kid=uuid.uuid4().hex[:12], private=rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass
class TestIssuer:
    """Mints tokens and publishes its keys at `url` (start with `serve()`)."""

    __test__ = False  # not a test class, whatever its name
    url: str = ""
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    clients: dict[str, str] = field(default_factory=dict)
    jwks_requests: int = 0
    # Refresh tokens it honours (token -> subject; rotated on use), how many refreshes it was
    # asked for, and a status its token endpoint answers instead while set (an outage).
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    refresh_requests: int = 0
    token_endpoint_status: int | None = None

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[-1]

    def rotate(self) -> SigningKey:
        """A new signing key; the old one stays published (tokens it signed remain valid)."""
        self.keys.append(SigningKey.generate())
        return self.signing_key

    def token(
        self,
        subject: str = "alice-id",
        *,
        username: str | None = None,
        roles: Sequence[str] = ("customer",),
        client_id: str = "folio-storefront",
        audience: str = AUDIENCE,
        issuer: str | None = None,
        expires_in: int = 300,
        not_before: int | None = None,
        key: SigningKey | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer or self.url,
            "sub": subject,
            "aud": audience,
            "azp": client_id,
            "iat": now,
            "exp": now + expires_in,
            "preferred_username": username or subject,
            "realm_access": {"roles": list(roles)},
            **({"nbf": not_before} if not_before is not None else {}),
            **(extra or {}),
        }
        signer = key or self.signing_key
        return jwt.encode(claims, signer.private, algorithm="RS256", headers={"kid": signer.kid})

    def service_token(self, client_id: str, **kwargs: Any) -> str:
        """A client-credentials token for `client_id`'s service account, as Keycloak issues one."""
        return self.token(
            f"sa-{client_id}",
            username=f"{SERVICE_ACCOUNT_PREFIX}{client_id}",
            roles=(SERVICE_ROLE,),
            client_id=client_id,
            **kwargs,
        )

    def server_auth(self, access: Mapping[str, Access]) -> ServerAuth:
        """What a GrpcServer under test needs to verify this issuer's tokens against `access`."""
        return ServerAuth(TokenVerifier(issuer=self.url, audience=AUDIENCE, refresh_seconds=0.0), access)

    def channel(self, port: int, token: str | None, *, default_timeout: float = 30.0) -> grpc.aio.Channel:
        """A channel to 127.0.0.1:`port` presenting `token` on every call (None: no token); a call
        without its own deadline gets `default_timeout` seconds: a test about a deadline sets its own,
        the others must not meet one however busy the machine is."""

        async def source() -> str:
            assert token is not None
            return token

        return create_channel(
            [f"127.0.0.1:{port}"],
            token_source=source if token is not None else None,
            default_timeout=default_timeout,
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "token_endpoint": f"{self.url}/token",
            "end_session_endpoint": f"{self.url}/logout",
        }

    def grant_refresh(self, subject: str) -> str:
        """A refresh token for `subject` that the token endpoint will honour once."""
        refresh_token = uuid.uuid4().hex
        self.refresh_tokens[refresh_token] = subject
        return refresh_token

    def token_response(self, body: bytes, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """The token endpoint: client credentials, and refresh tokens (rotated on every use)."""
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization and authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if self.clients.get(client_id) != secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "refresh_token":
            self.refresh_requests += 1
            if self.token_endpoint_status is not None:
                return self.token_endpoint_status, {"error": "temporarily_unavailable"}
            subject = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if subject is None:
                return 400, {"error": "invalid_grant", "error_description": "unknown or used refresh token"}
            return 200, {
                "access_token": self.token(subject),
                "refresh_token": self.grant_refresh(subject),
                "token_type": "Bearer",
                "expires_in": 300,
            }
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        return 200, {"access_token": self.service_token(client_id), "token_type": "Bearer", "expires_in": 300}


def serve_issuer(issuer: TestIssuer, host: str = "127.0.0.1") -> Iterator[TestIssuer]:
    """Run `issuer` over HTTP on a free loopback port until the generator is closed."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                self._reply(200, issuer.discovery())
            elif self.path == "/jwks":
                issuer.jwks_requests += 1
                self._reply(200, issuer.jwks())
            else:
                self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._reply(*issuer.token_response(body, self.headers.get("Authorization")))

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    issuer.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()


FORGED_KINDS = (
    "expired",
    "not yet valid",
    "unknown key",
    "alg none",
    "HS256 with the public key",
    "wrong audience",
    "wrong issuer",
    "tampered",
    "garbage",
)


def forged_tokens(issuer: TestIssuer) -> dict[str, str]:
    """Tokens every Folio service must refuse with UNAUTHENTICATED / 401, by what is wrong with them."""
    now = int(time.time())
    good = issuer.token()
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"] = {"roles": ["customer", "catalog-admin"]}
    tampered_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    public_pem = issuer.signing_key.private.public_key().public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "expired": issuer.token(expires_in=-3600),
        "not yet valid": issuer.token(not_before=now + 3600),
        "unknown key": issuer.token(key=SigningKey.generate()),
        "alg none": jwt.encode(
            {**claims, "exp": now + 300}, "", algorithm="none", headers={"kid": issuer.signing_key.kid}
        ),
        "HS256 with the public key": _hs256_with(
            public_pem, {**claims, "exp": now + 300}, issuer.signing_key.kid
        ),
        "wrong audience": issuer.token(audience="some-other-api"),
        "wrong issuer": issuer.token(issuer="https://evil.example/realms/folio"),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "garbage": "not-a-jwt",
    }


def _hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """The classic key-confusion attack: HMAC-sign with the issuer's *public* key as the secret.

    PyJWT refuses to encode with a PEM as HMAC key, so the token is assembled by hand.
    """
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
