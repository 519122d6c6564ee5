"""Server-side browser sessions: the cookie carries a random id, the session lives in the store.

`ServerSessions` (ASGI middleware) loads the session named by the `folio_session` cookie into
`request.session` and writes back only the keys a request changed, so two requests changing
different keys do not undo each other. The id is signed with the session secret, so a forged
cookie costs no store lookup. A new id is issued when a person signs in (no session fixation)
and the session is deleted on the server when it ends.
"""

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, Signer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from folio_storefront.session_store import Expiry, SessionStore, SessionStoreUnavailable

log = logging.getLogger(__name__)
COOKIE = "folio_session"
# A session's idle clock is restarted at most this often (a write per request would be waste).
TOUCH_EVERY_SECONDS = 60.0


@dataclass
class SessionState:
    """One request's view of its session (`request.scope["folio.session"]`)."""

    id: str | None
    data: dict[str, Any]
    seen_at: float = 0.0
    unavailable: bool = False
    _snapshot: dict[str, Any] = field(default_factory=dict)
    _rotate: bool = False
    _end: bool = False
    _provider_session: str | None = None

    def __post_init__(self) -> None:
        self._snapshot = {k: _copy(v) for k, v in self.data.items()}

    def rotate(self, provider_session: str | None = None) -> None:
        """Issue a new id when the response is sent (sign-in), indexed by the provider's session."""
        self._rotate = True
        self._provider_session = provider_session

    def end(self) -> None:
        """Delete the session on the server and clear the cookie (sign-out)."""
        self._end = True
        self.data.clear()

    def changes(self) -> tuple[dict[str, Any], list[str]]:
        changed = {k: v for k, v in self.data.items() if self._snapshot.get(k, _MISSING) != v}
        removed = [k for k in self._snapshot if k not in self.data]
        return changed, removed

    def mark_saved(self, keys: dict[str, Any]) -> None:
        """What the store now holds for `keys` (written before the response, e.g. by a refresh)."""
        for key, value in keys.items():
            self._snapshot[key] = _copy(value)


_MISSING = object()


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class Sessions:
    """The store, its limits, the cookie's signer, and one lock per session for token refreshes."""

    def __init__(self, expiry: Expiry, secret: str, *, cookie_secure: bool) -> None:
        self._store: SessionStore | None = None
        self.expiry = expiry
        self.cookie_secure = cookie_secure
        self._signer = Signer(secret, salt="folio-session-id")
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def store(self) -> SessionStore:
        if self._store is None:
            raise SessionStoreUnavailable("the session store is not open")
        return self._store

    def open(self, store: SessionStore) -> None:
        """Use `store` (opened in the app's lifespan, after the middleware was built)."""
        self._store = store

    def sign(self, session_id: str) -> str:
        return self._signer.sign(session_id).decode()

    def unsign(self, cookie: str) -> str | None:
        try:
            return self._signer.unsign(cookie).decode()
        except BadSignature:
            return None

    def cookie(self, session_id: str | None) -> str:
        attributes = "; path=/; httponly; samesite=lax" + ("; secure" if self.cookie_secure else "")
        if session_id is None:
            return f"{COOKIE}=; max-age=0{attributes}"
        return f"{COOKIE}={self.sign(session_id)}; max-age={int(self.expiry.absolute_seconds)}{attributes}"

    @asynccontextmanager
    async def exclusive(self, session_id: str, *, wait_seconds: float = 5.0) -> AsyncIterator[bool]:
        """Hold the session's refresh lock: in this process first (parallel requests queue here
        and share the outcome), then across replicas through a lease in the store. Yields False
        when the lease could not be had in time (the caller treats it as a transient failure)."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        async with lock:
            name = f"refresh:{session_id}"
            deadline = time.monotonic() + wait_seconds
            token = await self.store.acquire(name, ttl_seconds=wait_seconds * 2)
            while token is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                token = await self.store.acquire(name, ttl_seconds=wait_seconds * 2)
            try:
                yield token is not None
            finally:
                if token is not None:
                    await self.store.release(name, token)


def session_state(request: HTTPConnection) -> SessionState:
    state: SessionState = request.scope["folio.session"]
    return state


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


class ServerSessions:
    """ASGI middleware: `request.session` backed by the store (see the module docstring)."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    async def _load(self, scope: Scope) -> SessionState:
        cookie = HTTPConnection(scope).cookies.get(COOKIE)
        session_id = self.sessions.unsign(cookie) if cookie else None
        if session_id is None:
            return SessionState(None, {})
        try:
            stored = await self.sessions.store.load(session_id)
        except SessionStoreUnavailable as error:
            log.warning("session store unavailable", extra={"error": str(error)})
            return SessionState(session_id, {}, unavailable=True)
        if stored is None:
            return SessionState(None, {})
        return SessionState(session_id, stored.data, seen_at=stored.seen_at)

    async def _persist(self, state: SessionState) -> str | None:
        """Write what the request changed; the Set-Cookie value, if the cookie changes."""
        store = self.sessions.store
        if state.unavailable:
            return None
        if state._end:
            if state.id is not None:
                await store.delete(state.id)
            return self.sessions.cookie(None)
        changed, removed = state.changes()
        if state._rotate or (state.id is None and state.data):
            old, state.id = state.id, secrets.token_urlsafe(32)
            await store.save(state.id, dict(state.data), provider_session=state._provider_session)
            if old is not None:
                await store.delete(old)
            return self.sessions.cookie(state.id)
        if state.id is None:
            return None
        if changed or removed:
            await store.save(state.id, changed, removed)
        elif time.time() - state.seen_at > TOUCH_EVERY_SECONDS:
            await store.touch(state.id)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = await self._load(scope)
        scope["session"] = state.data
        scope["folio.session"] = state

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                try:
                    cookie = await self._persist(state)
                except SessionStoreUnavailable as error:
                    log.warning("session not saved: store unavailable", extra={"error": str(error)})
                    cookie = None
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
