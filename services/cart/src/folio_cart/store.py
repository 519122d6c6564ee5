"""Where carts live: Redis in a cluster, SQLite embedded. One interface, one contract suite.

Limits are enforced inside the store's atomic step (a Lua script, a SQL transaction), so two
concurrent adds can neither lose an update nor push a line past its limit.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from folio_cart.tables import cart_items
from folio_platform.database import Database
from folio_platform.errors import FailedPrecondition, Unavailable

STORE = "cart store"


@dataclass(frozen=True)
class Line:
    book_id: str
    quantity: int


@dataclass(frozen=True)
class Limits:
    max_quantity: int = 99
    max_lines: int = 50

    def too_many_copies(self) -> FailedPrecondition:
        return FailedPrecondition(f"at most {self.max_quantity} copies of one book fit in a cart")

    def too_many_lines(self) -> FailedPrecondition:
        return FailedPrecondition(f"a cart holds at most {self.max_lines} different books")


# The SQLite store's statements, built once (building one costs more than running it on SQLite);
# the shopper, the book and the quantity are bound when they run.
_OF_SHOPPER = cart_items.c.shopper_id == bindparam("shopper")
_OF_LINE = (_OF_SHOPPER, cart_items.c.book_id == bindparam("book"))
_LINES_OF = (
    select(cart_items.c.book_id, cart_items.c.quantity).where(_OF_SHOPPER).order_by(cart_items.c.position)
)
_NEW_LINE = sqlite_insert(cart_items).values(
    shopper_id=bindparam("shopper"),
    book_id=bindparam("book"),
    quantity=bindparam("quantity"),
    position=select(func.coalesce(func.max(cart_items.c.position), 0) + 1)
    .where(_OF_SHOPPER)
    .scalar_subquery(),
)
_ADD_LINE = _NEW_LINE.on_conflict_do_update(
    index_elements=["shopper_id", "book_id"],
    set_={"quantity": cart_items.c.quantity + _NEW_LINE.excluded.quantity},
)
_SET_LINE = _NEW_LINE.on_conflict_do_update(
    index_elements=["shopper_id", "book_id"], set_={"quantity": _NEW_LINE.excluded.quantity}
)
_QUANTITY_OF = select(cart_items.c.quantity).where(*_OF_LINE)
_LINE_COUNT = select(func.count()).select_from(cart_items).where(_OF_SHOPPER)
_DELETE_LINE = delete(cart_items).where(*_OF_LINE)
_DELETE_CART = delete(cart_items).where(_OF_SHOPPER)


class CartStore(Protocol):
    async def get(self, shopper_id: str) -> list[Line]: ...

    async def add(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]: ...

    async def set_quantity(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]: ...

    async def remove(self, shopper_id: str, book_id: str) -> list[Line]: ...

    async def clear(self, shopper_id: str) -> list[Line]: ...


class SqliteCartStore:
    """The embedded default: carts in a SQLite file, so they survive a restart of the service."""

    def __init__(self, db: Database, limits: Limits) -> None:
        self._db = db
        self._limits = limits

    @staticmethod
    def _lines(connection: Connection, shopper_id: str) -> list[Line]:
        rows = connection.execute(_LINES_OF, {"shopper": shopper_id})
        return [Line(book_id, quantity) for book_id, quantity in rows]

    def _upsert(
        self, connection: Connection, shopper_id: str, book_id: str, quantity: int, *, add: bool
    ) -> None:
        # The write comes first, so SQLite takes its write lock before anything is read; a new
        # line goes after the shopper's last one, an existing line keeps its place.
        line = {"shopper": shopper_id, "book": book_id, "quantity": quantity}
        connection.execute(_ADD_LINE if add else _SET_LINE, line)
        if connection.execute(_QUANTITY_OF, line).scalar_one() > self._limits.max_quantity:
            raise self._limits.too_many_copies()
        if connection.execute(_LINE_COUNT, line).scalar_one() > self._limits.max_lines:
            raise self._limits.too_many_lines()

    async def get(self, shopper_id: str) -> list[Line]:
        return await self._db.read(lambda c: self._lines(c, shopper_id), by_key=True)

    async def add(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]:
        def work(connection: Connection) -> list[Line]:
            self._upsert(connection, shopper_id, book_id, quantity, add=True)
            return self._lines(connection, shopper_id)

        return await self._db.transaction(work)

    async def set_quantity(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]:
        def work(connection: Connection) -> list[Line]:
            self._upsert(connection, shopper_id, book_id, quantity, add=False)
            return self._lines(connection, shopper_id)

        return await self._db.transaction(work)

    async def remove(self, shopper_id: str, book_id: str) -> list[Line]:
        def work(connection: Connection) -> list[Line]:
            connection.execute(_DELETE_LINE, {"shopper": shopper_id, "book": book_id})
            return self._lines(connection, shopper_id)

        return await self._db.transaction(work)

    async def clear(self, shopper_id: str) -> list[Line]:
        def work(connection: Connection) -> list[Line]:
            connection.execute(_DELETE_CART, {"shopper": shopper_id})
            return []

        return await self._db.transaction(work)


# KEYS: items hash (book -> quantity), order zset (book -> first-added counter), counter.
# ARGV: book, quantity, mode ("add" or "set"), max quantity, max lines, ttl seconds.
_CHANGE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local quantity = tonumber(ARGV[2])
if ARGV[3] == 'add' and current then quantity = quantity + tonumber(current) end
if quantity > tonumber(ARGV[4]) then return redis.error_reply('FOLIO_MAX_QUANTITY') end
if not current and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then
  return redis.error_reply('FOLIO_MAX_LINES')
end
redis.call('HSET', KEYS[1], ARGV[1], quantity)
if not current then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1]) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[6]) end
return quantity
"""
_REMOVE = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""
_READ = """
local books = redis.call('ZRANGE', KEYS[2], 0, -1)
local out = {}
for i, book in ipairs(books) do
  local quantity = redis.call('HGET', KEYS[1], book)
  if quantity then table.insert(out, book); table.insert(out, quantity) end
end
return out
"""


class RedisCartStore:
    """Carts in Redis (the cluster store): one hash and one sorted set per shopper, changed by Lua scripts."""

    def __init__(self, url: str, limits: Limits, *, ttl_seconds: int, timeout: float = 1.0) -> None:
        # redis-py is imported by the cluster store only: the embedded one never loads it.
        import redis.asyncio as aioredis
        from redis import exceptions

        self._refused = exceptions.ResponseError
        self._unavailable = (exceptions.ConnectionError, exceptions.TimeoutError, OSError)
        self._redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._limits = limits
        self._ttl = ttl_seconds
        self._change = self._redis.register_script(_CHANGE)
        self._remove = self._redis.register_script(_REMOVE)
        self._read = self._redis.register_script(_READ)

    @staticmethod
    def _keys(shopper_id: str) -> list[str]:
        # One hash tag per shopper keeps a cart's keys on one Redis Cluster slot.
        return [f"folio:cart:{{{shopper_id}}}:{part}" for part in ("items", "order", "counter")]

    async def _call(self, script: Any, shopper_id: str, *args: object) -> Any:
        try:
            return await script(keys=self._keys(shopper_id), args=list(args))
        except self._refused as error:
            if "FOLIO_MAX_QUANTITY" in str(error):
                raise self._limits.too_many_copies() from None
            if "FOLIO_MAX_LINES" in str(error):
                raise self._limits.too_many_lines() from None
            raise
        except self._unavailable:
            raise Unavailable(STORE) from None

    async def get(self, shopper_id: str) -> list[Line]:
        flat = await self._call(self._read, shopper_id)
        return [Line(flat[i], int(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def _set(self, shopper_id: str, book_id: str, quantity: int, mode: str) -> list[Line]:
        limits = self._limits
        await self._call(
            self._change,
            shopper_id,
            book_id,
            quantity,
            mode,
            limits.max_quantity,
            limits.max_lines,
            self._ttl,
        )
        return await self.get(shopper_id)

    async def add(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]:
        return await self._set(shopper_id, book_id, quantity, "add")

    async def set_quantity(self, shopper_id: str, book_id: str, quantity: int) -> list[Line]:
        return await self._set(shopper_id, book_id, quantity, "set")

    async def remove(self, shopper_id: str, book_id: str) -> list[Line]:
        await self._call(self._remove, shopper_id, book_id)
        return await self.get(shopper_id)

    async def clear(self, shopper_id: str) -> list[Line]:
        try:
            await self._redis.delete(*self._keys(shopper_id))
        except self._unavailable:
            raise Unavailable(STORE) from None
        return []

    async def close(self) -> None:
        await self._redis.aclose()
