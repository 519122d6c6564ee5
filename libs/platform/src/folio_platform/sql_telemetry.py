"""SQL spans and connection-pool usage for every SQLAlchemy engine, at no cost per request unsampled.

The signals are the standard SQLAlchemy instrumentation's: a client span per statement named by
its first keyword and the database ("SELECT /data/catalog.db"), with `db.system`, `db.name`,
`db.statement` (and `net.peer.name`/`net.peer.port` for a server), its status set when the
statement fails; and `db.client.connections.usage` by `pool.name` and `state` (idle, used). Two
differences make them cheap: a statement gets a span only as a child of a recording span (a
traced request's RPC), so a statement of a request that is not sampled, or of background work,
costs one look at the current span; and the pool's usage is read from the pool when metrics are
collected instead of being counted up and down on every checkout and checkin (four measurements
per request).
"""

import weakref
from collections.abc import Iterable
from typing import Any, ClassVar

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Connection, Engine, event

_SPAN = "_folio_span"


def _attributes(engine: Engine) -> dict[str, Any]:
    url = engine.url
    found: dict[str, Any] = {"db.system": engine.dialect.name}
    if url.database:
        found["db.name"] = url.database
    if url.host:
        found["net.peer.name"] = url.host
    if url.port:
        found["net.peer.port"] = url.port
    if url.username:
        found["db.user"] = url.username
    return found


def _pool_name(engine: Engine) -> str:
    url = engine.url
    named = getattr(engine.pool, "logging_name", None)
    return named or f"{url.drivername}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


class SqlTelemetry:
    """Installed once per process by `configure_telemetry`; traces and measures every engine."""

    # SQLAlchemy's class-level events are process-wide, so is the one instance listening to them.
    _installed: ClassVar["SqlTelemetry | None"] = None

    def __init__(
        self, tracer_provider: trace.TracerProvider | None, meter_provider: metrics.MeterProvider | None
    ) -> None:
        self.tracer = trace.get_tracer("folio_platform.sql", tracer_provider=tracer_provider)
        self._engines: weakref.WeakSet[Engine] = weakref.WeakSet()
        self._static: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()
        metrics.get_meter(
            "folio_platform.sql", meter_provider=meter_provider
        ).create_observable_up_down_counter(
            "db.client.connections.usage",
            callbacks=[self._usage],
            unit="connections",
            description="The number of connections that are currently in state described by the state attribute",
        )

    @classmethod
    def install(
        cls, tracer_provider: trace.TracerProvider | None, meter_provider: metrics.MeterProvider | None
    ) -> "SqlTelemetry":
        """Listen to every engine's statements and connections (class-level SQLAlchemy events),
        once per process: a second call keeps the first, so a statement never gets two spans."""
        if cls._installed is None:
            cls._installed = cls(tracer_provider, meter_provider)
            cls._installed._listen()
        return cls._installed

    @classmethod
    def installed(cls) -> "SqlTelemetry | None":
        return cls._installed

    def _listen(self) -> None:
        for name, listener in (
            ("engine_connect", self._seen),
            ("before_cursor_execute", self._before),
            ("after_cursor_execute", self._after),
            ("handle_error", self._failed),
        ):
            event.listen(Engine, name, listener)

    def _seen(self, connection: Connection) -> None:
        self._engines.add(connection.engine)

    def _usage(self, _options: CallbackOptions) -> Iterable[Observation]:
        for engine in list(self._engines):
            pool = engine.pool
            used, idle = getattr(pool, "checkedout", None), getattr(pool, "checkedin", None)
            if used is None or idle is None:
                continue
            name = _pool_name(engine)
            yield Observation(used(), {"pool.name": name, "state": "used"})
            yield Observation(idle(), {"pool.name": name, "state": "idle"})

    def _before(
        self, connection: Connection, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if not trace.get_current_span().is_recording():
            return
        engine = connection.engine
        static = self._static.get(engine)
        if static is None:
            static = self._static[engine] = _attributes(engine)
        words = statement.split(None, 1)
        name = " ".join(filter(None, (words[0] if words else "", static.get("db.name", ""))))
        # Given to start_span: cheaper than setting them on the started span.
        span = self.tracer.start_span(
            name or engine.dialect.name, kind=SpanKind.CLIENT, attributes=static | {"db.statement": statement}
        )
        setattr(context, _SPAN, span)

    def _after(
        self, _connection: Connection, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        span = getattr(context, _SPAN, None)
        if span is not None:
            span.end()

    def _failed(self, exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, _SPAN, None)
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, str(exception_context.original_exception)))
            span.end()
