"""The provider's state: signing keys made at start, seeded users and clients, codes, refresh tokens.

Everything lives in memory: a restart signs with new keys, so earlier sessions must sign in
again — which is also how key rotation looks to the services (they refetch the JWKS).
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from folio_platform.auth import SERVICE_ACCOUNT_PREFIX, SERVICE_ROLE

CODE_SECONDS = 60


class OAuthError(Exception):
    """An RFC 6749 error: `error` is the code, `description` what to fix; answered 400 or 401."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class User:
    username: str
    password: str = field(repr=False)
    roles: tuple[str, ...]
    name: str
    email: str

    @property
    def subject(self) -> str:
        # Stable across restarts, so carts and orders stay with the person.
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"folio-dev-oidc:user:{self.username}"))


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None = field(repr=False)
    redirect_uris: tuple[str, ...] = ()
    # OpenID front-channel logout: framed with ?iss=&sid= when a session it joined ends.
    frontchannel_logout_uri: str = ""


@dataclass(frozen=True)
class Grant:
    """What an authorization code (or a refresh token) stands for."""

    user: User
    client_id: str
    redirect_uri: str = ""
    code_challenge: str = ""
    nonce: str = ""
    scope: str = "openid"
    expires_at: float = 0.0
    sid: str = ""


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> "SigningKey":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid=uuid.uuid4().hex[:16], private=key)

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


def load_users(path: Path) -> dict[str, User]:
    """The people who may sign in; none of them may pass for a service account."""
    raw = json.loads(path.read_text())
    for name, user in raw.items():
        if SERVICE_ROLE in user.get("roles", ()) or name.startswith(SERVICE_ACCOUNT_PREFIX):
            raise ValueError(
                f"user {name!r}: the role {SERVICE_ROLE} and the name prefix "
                f"{SERVICE_ACCOUNT_PREFIX!r} belong to service accounts only"
            )
    return {
        name: User(
            username=name,
            password=str(u["password"]),
            roles=tuple(u.get("roles", ())),
            name=str(u.get("name", name)),
            email=str(u.get("email", f"{name}@folio.example")),
        )
        for name, u in raw.items()
    }


def load_clients(path: Path) -> dict[str, Client]:
    raw = json.loads(path.read_text())
    return {
        cid: Client(
            client_id=cid,
            secret=c.get("secret"),
            redirect_uris=tuple(c.get("redirect_uris", ())),
            frontchannel_logout_uri=str(c.get("frontchannel_logout_uri", "")),
        )
        for cid, c in raw.items()
    }


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Provider:
    """Issues Keycloak-shaped tokens: RS256, aud, azp, preferred_username, realm_access.roles."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        users: dict[str, User],
        clients: dict[str, Client],
        access_token_seconds: int = 300,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.users = users
        self.clients = clients
        self.access_token_seconds = access_token_seconds
        self.keys = [SigningKey.generate()]
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        # Sign-in sessions: sid -> the clients that received tokens in it.
        self._sessions: dict[str, set[str]] = {}

    # --- discovery and keys ------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "frontchannel_logout_supported": True,
            "frontchannel_logout_session_supported": True,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile", "email"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.keys]}

    def rotate_keys(self) -> str:
        """Sign with a new key from now on; the old one stays published for tokens already issued."""
        self.keys.append(SigningKey.generate())
        return self.keys[-1].kid

    # --- the authorization code flow with PKCE --------------------------------------------------

    def client(self, client_id: str) -> Client:
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", f"unknown client {client_id!r}", 401)
        return client

    def check_authorize_request(
        self, *, client_id: str, redirect_uri: str, code_challenge: str, method: str
    ) -> None:
        client = self.client(client_id)
        if redirect_uri not in client.redirect_uris:
            raise OAuthError(
                "invalid_request", f"redirect_uri {redirect_uri!r} is not registered for {client_id}"
            )
        if not code_challenge or method != "S256":
            raise OAuthError(
                "invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256"
            )

    def sign_in(self, username: str, password: str) -> User | None:
        user = self.users.get(username)
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            return None
        return user

    def start_session(self) -> str:
        """A new sign-in session (its sid goes into the tokens and the provider's cookie)."""
        sid = secrets.token_urlsafe(16)
        self._sessions[sid] = set()
        return sid

    def session_active(self, sid: str) -> bool:
        return sid in self._sessions

    def issue_code(
        self,
        user: User,
        *,
        client_id: str,
        redirect_uri: str,
        code_challenge: str,
        nonce: str,
        scope: str,
        sid: str = "",
    ) -> str:
        code = secrets.token_urlsafe(32)
        self._codes[code] = Grant(
            user, client_id, redirect_uri, code_challenge, nonce, scope, time.time() + CODE_SECONDS, sid
        )
        self._sessions.setdefault(sid, set()).add(client_id)
        return code

    def session_of_id_token(self, id_token: str) -> tuple[str, str]:
        """(sid, client) named by an ID token this provider signed; expired ones are fine (a hint)."""
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            key = next(k for k in self.keys if k.kid == kid)
            claims = jwt.decode(
                id_token,
                key.private.public_key(),
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"verify_exp": False, "verify_aud": False},
            )
        except (jwt.PyJWTError, StopIteration):
            raise OAuthError(
                "invalid_request", "id_token_hint is not an ID token from this provider"
            ) from None
        return str(claims.get("sid", "")), str(claims.get("azp", ""))

    def end_session(self, sid: str) -> dict[str, str]:
        """End sign-in session `sid`: its refresh tokens stop working. Returns the front-channel
        logout URI (with iss and sid) of each client that joined it and has one."""
        clients = self._sessions.pop(sid, set())
        for token, grant in list(self._refresh.items()):
            if grant.sid == sid:
                del self._refresh[token]
        query = urlencode({"iss": self.issuer, "sid": sid})
        return {
            c: f"{self.clients[c].frontchannel_logout_uri}?{query}"
            for c in sorted(clients)
            if c in self.clients and self.clients[c].frontchannel_logout_uri
        }

    def exchange_code(
        self, *, client: Client, code: str, redirect_uri: str, code_verifier: str
    ) -> dict[str, Any]:
        grant = self._codes.pop(code, None)  # single use, whatever happens next
        if grant is None or grant.expires_at < time.time() or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code is unknown, expired, used or for another client")
        if grant.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the one the code was issued for")
        if not code_verifier or not hmac.compare_digest(_s256(code_verifier), grant.code_challenge):
            raise OAuthError("invalid_grant", "the PKCE code_verifier does not match the code_challenge")
        return self._tokens(grant)

    def refresh(self, *, client: Client, refresh_token: str) -> dict[str, Any]:
        grant = self._refresh.pop(refresh_token, None)  # rotated on every use
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the refresh token is unknown, used or for another client")
        if grant.sid and grant.sid not in self._sessions:
            raise OAuthError("invalid_grant", "the session has ended")
        return self._tokens(grant)

    def authenticate_client(self, client_id: str, secret: str | None) -> Client:
        client = self.client(client_id)
        if client.secret is not None and not hmac.compare_digest(
            client.secret.encode(), (secret or "").encode()
        ):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def client_credentials(self, client: Client) -> dict[str, Any]:
        if client.secret is None:
            raise OAuthError("unauthorized_client", "a public client has no service account")
        claims = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"folio-dev-oidc:client:{client.client_id}")),
            "preferred_username": f"service-account-{client.client_id}",
            "azp": client.client_id,
            # As the realm file grants it to Keycloak's service accounts, and to nobody else.
            "realm_access": {"roles": [SERVICE_ROLE]},
        }
        return {
            "access_token": self._sign({**claims, "aud": self.audience, "typ": "Bearer"}),
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
        }

    def _tokens(self, grant: Grant) -> dict[str, Any]:
        user = grant.user
        person = {
            "sub": user.subject,
            "preferred_username": user.username,
            "name": user.name,
            "email": user.email,
            **({"sid": grant.sid} if grant.sid else {}),
        }
        access = self._sign(
            {
                **person,
                "aud": self.audience,
                "azp": grant.client_id,
                "typ": "Bearer",
                "scope": grant.scope,
                "realm_access": {"roles": list(user.roles)},
            }
        )
        id_token = self._sign(
            {**person, "aud": grant.client_id, "azp": grant.client_id, "typ": "ID", "nonce": grant.nonce}
        )
        refresh_token = secrets.token_urlsafe(32)
        self._refresh[refresh_token] = grant
        return {
            "access_token": access,
            "id_token": id_token,
            "refresh_token": refresh_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
            "scope": grant.scope,
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        key = self.keys[-1]
        payload = {"iss": self.issuer, "iat": now, "exp": now + self.access_token_seconds, **claims}
        return jwt.encode(payload, key.private, algorithm="RS256", headers={"kid": key.kid})
