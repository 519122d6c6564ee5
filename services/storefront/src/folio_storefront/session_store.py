"""Where browser sessions live: Redis in a cluster, SQLite embedded. One interface, one contract suite.

A session is a small map (the guest's id, or a signed-in person's tokens) under a random id that
the cookie carries. Sessions expire after `idle_seconds` without a request and `absolute_seconds`
after they began, whichever comes first; an expired session loads as no session. A session
signed in through the identity provider is indexed by the provider's session ("<iss> <sid>"),
so a front-channel logout can end it without the browser's cookie.

The store also holds short leases (`acquire`/`release`): one storefront replica at a time
refreshes a session's tokens.
"""

import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    Connection,
    Float,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from folio_platform import database

MIGRATIONS = Path(__file__).parent / "migrations"
Clock = Callable[[], float]


class SessionStoreUnavailable(Exception):
    """The store did not answer: the request goes on without its session where it can."""


@dataclass(frozen=True)
class Expiry:
    idle_seconds: float
    absolute_seconds: float

    def expired(self, *, created_at: float, seen_at: float, now: float) -> bool:
        return now >= seen_at + self.idle_seconds or now >= created_at + self.absolute_seconds


@dataclass(frozen=True)
class StoredSession:
    data: dict[str, Any]
    created_at: float
    seen_at: float


class SessionStore(Protocol):
    async def load(self, session_id: str) -> StoredSession | None:
        """The session, or None when it is unknown, ended or expired."""
        ...

    async def save(
        self,
        session_id: str,
        changed: dict[str, Any],
        removed: Iterable[str] = (),
        *,
        provider_session: str | None = None,
    ) -> None:
        """Set `changed` keys and drop `removed` ones (other keys stay as stored: two requests
        changing different keys both land); creates the session if new; marks it seen."""
        ...

    async def touch(self, session_id: str) -> None:
        """Mark the session seen now (its idle clock restarts)."""
        ...

    async def delete(self, session_id: str) -> None: ...

    async def end_provider_session(self, provider_session: str) -> int:
        """End every session signed in under the provider's session; how many there were."""
        ...

    async def acquire(self, name: str, ttl_seconds: float) -> str | None:
        """A lease on `name` for `ttl_seconds` (its token), or None while another holds it."""
        ...

    async def release(self, name: str, token: str) -> None: ...

    async def prune(self) -> int:
        """Remove expired sessions and leases; how many sessions went."""
        ...

    async def close(self) -> None: ...


_metadata = MetaData()
sessions = Table(
    "sessions",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("data", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("provider_session", String(400), nullable=True),
)
leases = Table(
    "session_leases",
    _metadata,
    Column("name", String(200), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Read or touched on every request of a shopper with a session: built once (building a statement costs
# more than running it on SQLite), the id and time bound when they run; the UPDATE sets `seen_at`.
_SESSION_BY_ID = select(sessions.c.data, sessions.c.created_at, sessions.c.seen_at).where(
    sessions.c.id == bindparam("session_id")
)
_MARK_SEEN = update(sessions).where(sessions.c.id == bindparam("session_id"))


class SqliteSessionStore:
    """The embedded default: sessions in a SQLite file in the storefront's data dir."""

    def __init__(self, url: str, expiry: Expiry, *, clock: Clock = time.time) -> None:
        self._db = database.Database.open(url, migrations=MIGRATIONS, workers=2, name="session-db")
        self._expiry = expiry
        self._clock = clock

    async def load(self, session_id: str) -> StoredSession | None:
        def work(connection: Connection) -> StoredSession | None:
            row = connection.execute(_SESSION_BY_ID, {"session_id": session_id}).first()
            if row is None:
                return None
            if self._expiry.expired(created_at=row.created_at, seen_at=row.seen_at, now=self._clock()):
                return None
            return StoredSession(json.loads(row.data), row.created_at, row.seen_at)

        return await self._db.read(work, by_key=True)

    async def save(
        self,
        session_id: str,
        changed: dict[str, Any],
        removed: Iterable[str] = (),
        *,
        provider_session: str | None = None,
    ) -> None:
        dropped = set(removed)

        def work(connection: Connection) -> None:
            now = self._clock()
            # The write comes first, so SQLite takes its write lock before the merge reads.
            connection.execute(
                sqlite_insert(sessions)
                .values(id=session_id, data="{}", created_at=now, seen_at=now)
                .on_conflict_do_update(index_elements=["id"], set_={"seen_at": now})
            )
            stored = connection.execute(
                select(sessions.c.data).where(sessions.c.id == session_id)
            ).scalar_one()
            data = {k: v for k, v in json.loads(stored).items() if k not in dropped} | changed
            values: dict[str, Any] = {"data": json.dumps(data)}
            if provider_session is not None:
                values["provider_session"] = provider_session
            connection.execute(update(sessions).where(sessions.c.id == session_id).values(**values))

        await self._db.transaction(work)

    async def touch(self, session_id: str) -> None:
        now = self._clock()
        await self._db.transaction(
            lambda c: c.execute(_MARK_SEEN, {"session_id": session_id, "seen_at": now})
        )

    async def delete(self, session_id: str) -> None:
        await self._db.transaction(lambda c: c.execute(delete(sessions).where(sessions.c.id == session_id)))

    async def end_provider_session(self, provider_session: str) -> int:
        def work(connection: Connection) -> int:
            result = connection.execute(
                delete(sessions).where(sessions.c.provider_session == provider_session)
            )
            return int(result.rowcount)

        return await self._db.transaction(work)

    async def acquire(self, name: str, ttl_seconds: float) -> str | None:
        token = secrets.token_hex(16)

        def work(connection: Connection) -> bool:
            now = self._clock()
            connection.execute(delete(leases).where(leases.c.name == name, leases.c.expires_at <= now))
            result = connection.execute(
                sqlite_insert(leases)
                .values(name=name, token=token, expires_at=now + ttl_seconds)
                .on_conflict_do_nothing()
            )
            return bool(result.rowcount == 1)

        return token if await self._db.transaction(work) else None

    async def release(self, name: str, token: str) -> None:
        await self._db.transaction(
            lambda c: c.execute(delete(leases).where(leases.c.name == name, leases.c.token == token))
        )

    async def prune(self) -> int:
        def work(connection: Connection) -> int:
            now = self._clock()
            connection.execute(delete(leases).where(leases.c.expires_at <= now))
            result = connection.execute(
                delete(sessions).where(
                    (sessions.c.seen_at <= now - self._expiry.idle_seconds)
                    | (sessions.c.created_at <= now - self._expiry.absolute_seconds)
                )
            )
            return int(result.rowcount)

        return await self._db.transaction(work)

    async def close(self) -> None:
        self._db.close()


# KEYS[1]: the session hash. ARGV: now, idle, absolute, count of changed pairs, the pairs, then
# the fields to drop. Data fields are "d:<key>" holding JSON; "_created" and "_seen" the clock.
_SAVE = """
local now, idle, absolute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local created = tonumber(redis.call('HGET', KEYS[1], '_created'))
if not created then created = now; redis.call('HSET', KEYS[1], '_created', ARGV[1]) end
redis.call('HSET', KEYS[1], '_seen', ARGV[1])
local i = 5
for n = 1, tonumber(ARGV[4]) do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
while i <= #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]); i = i + 1 end
redis.call('EXPIRE', KEYS[1], math.max(1, math.ceil(math.min(idle, created + absolute - now))))
return 1
"""
_TOUCH = """
local created = tonumber(redis.call('HGET', KEYS[1], '_created'))
if not created then return 0 end
local now, idle, absolute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', KEYS[1], '_seen', ARGV[1])
redis.call('EXPIRE', KEYS[1], math.max(1, math.ceil(math.min(idle, created + absolute - now))))
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisSessionStore:
    """Sessions in Redis (the cluster store): one hash per session, expired by Redis itself."""

    def __init__(self, url: str, expiry: Expiry, *, clock: Clock = time.time, timeout: float = 1.0) -> None:
        # redis-py is imported by the cluster store only: the embedded one never loads it.
        import redis.asyncio as aioredis
        from redis import exceptions

        self._unavailable = (exceptions.ConnectionError, exceptions.TimeoutError, OSError)
        self._redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._expiry = expiry
        self._clock = clock
        self._save = self._redis.register_script(_SAVE)
        self._touch = self._redis.register_script(_TOUCH)
        self._release = self._redis.register_script(_RELEASE)

    @staticmethod
    def _key(session_id: str) -> str:
        return f"folio:session:{session_id}"

    @staticmethod
    def _provider_key(provider_session: str) -> str:
        return f"folio:session-provider:{provider_session}"

    def _clock_args(self) -> list[float]:
        return [self._clock(), self._expiry.idle_seconds, self._expiry.absolute_seconds]

    async def _call(self, work: Any) -> Any:
        try:
            return await work
        except self._unavailable as error:
            raise SessionStoreUnavailable(str(error)) from None

    async def load(self, session_id: str) -> StoredSession | None:
        fields: dict[str, str] = await self._call(self._redis.hgetall(self._key(session_id)))
        if "_created" not in fields:
            return None
        created_at, seen_at = float(fields["_created"]), float(fields.get("_seen", fields["_created"]))
        if self._expiry.expired(created_at=created_at, seen_at=seen_at, now=self._clock()):
            return None
        data = {name[2:]: json.loads(value) for name, value in fields.items() if name.startswith("d:")}
        return StoredSession(data, created_at, seen_at)

    async def save(
        self,
        session_id: str,
        changed: dict[str, Any],
        removed: Iterable[str] = (),
        *,
        provider_session: str | None = None,
    ) -> None:
        pairs = [part for key, value in changed.items() for part in (f"d:{key}", json.dumps(value))]
        args: list[str | float] = [*self._clock_args(), len(changed), *pairs, *(f"d:{k}" for k in removed)]
        await self._call(self._save(keys=[self._key(session_id)], args=args))
        if provider_session is not None:
            index = self._provider_key(provider_session)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(session_id), "_provider", provider_session)
                pipe.sadd(index, session_id)
                pipe.expire(index, int(self._expiry.absolute_seconds))
                await self._call(pipe.execute())

    async def touch(self, session_id: str) -> None:
        await self._call(self._touch(keys=[self._key(session_id)], args=self._clock_args()))

    async def delete(self, session_id: str) -> None:
        provider = await self._call(self._redis.hget(self._key(session_id), "_provider"))
        if provider:
            await self._call(self._redis.srem(self._provider_key(provider), session_id))
        await self._call(self._redis.delete(self._key(session_id)))

    async def end_provider_session(self, provider_session: str) -> int:
        index = self._provider_key(provider_session)
        members: set[str] = await self._call(self._redis.smembers(index))
        ended = 0
        if members:
            ended = int(await self._call(self._redis.delete(*(self._key(m) for m in members))))
        await self._call(self._redis.delete(index))
        return ended

    async def acquire(self, name: str, ttl_seconds: float) -> str | None:
        token = secrets.token_hex(16)
        taken = await self._call(
            self._redis.set(f"folio:session-lease:{name}", token, nx=True, px=int(ttl_seconds * 1000))
        )
        return token if taken else None

    async def release(self, name: str, token: str) -> None:
        await self._call(self._release(keys=[f"folio:session-lease:{name}"], args=[token]))

    async def prune(self) -> int:
        # Redis expires each session on its own (EXPIRE follows the idle and absolute limits).
        return 0

    async def close(self) -> None:
        await self._redis.aclose()
