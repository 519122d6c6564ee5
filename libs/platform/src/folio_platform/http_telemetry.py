"""Server spans and `http.server.request.duration` for an ASGI app, at a cost that sampling removes.

The signals are the stable HTTP semantic conventions' that the dashboards and SLO rules read: one
server span per request named "METHOD route" (W3C trace context, or whatever `OTEL_PROPAGATORS`
names, taken from the request's headers), and the duration histogram in seconds by
`http.request.method`, `http.route`, `http.response.status_code`, `url.scheme` and
`network.protocol.version` (`error.type` on a 5xx), with the conventions' buckets. It is one pure
ASGI layer: the route is read from the scope after the app has routed the request (FastAPI sets
`scope["route"]`) rather than by routing it a second time, the metric's attributes are built once
per route and status, and a request that is not sampled sets no span attribute.
"""

import time
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

# The ASGI types, spelled out (the platform does not depend on an ASGI framework).
type Scope = MutableMapping[str, Any]
type Message = MutableMapping[str, Any]
type Receive = Callable[[], Awaitable[Message]]
type Send = Callable[[Message], Awaitable[None]]
type ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The semantic conventions' advice for http.server.request.duration (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


class _Headers(Getter[Scope]):
    """An ASGI scope's headers seen as a propagation carrier (names arrive in lower case)."""

    def get(self, scope: Scope, key: str) -> list[str] | None:
        wanted = key.encode("latin-1")
        found = [value.decode("latin-1") for name, value in scope["headers"] if name == wanted]
        return found or None

    def keys(self, scope: Scope) -> list[str]:
        return [name.decode("latin-1") for name, _ in scope["headers"]]


_HEADERS = _Headers()


class HttpServerTelemetry:
    """ASGI middleware: traces and measures every HTTP request but those under `excluded_paths`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        excluded_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.excluded = tuple(excluded_paths)
        self.tracer = (
            trace.get_tracer("folio_platform.http_server", tracer_provider=tracer_provider)
            if tracer_provider is not None
            else None
        )
        self.duration = (
            metrics.get_meter("folio_platform.http_server", meter_provider=meter_provider).create_histogram(
                "http.server.request.duration",
                unit="s",
                description="Duration of HTTP server requests.",
                explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
            )
            if meter_provider is not None
            else None
        )
        # (method, route, status, scheme, version) -> the metric's attributes, built once each.
        self._attributes: dict[tuple[str, str | None, int, str, str], dict[str, Any]] = {}

    def _metric_attributes(
        self, method: str, route: str | None, status: int, scheme: str, version: str
    ) -> dict[str, Any]:
        key = (method, route, status, scheme, version)
        found = self._attributes.get(key)
        if found is None:
            found = {
                "http.request.method": method,
                "http.response.status_code": status,
                "url.scheme": scheme,
                "network.protocol.version": version,
            }
            if route is not None:
                found["http.route"] = route
            if status >= 500:
                found["error.type"] = str(status)
            # Routes and statuses are few; a flood of unmatched paths adds no key (route None).
            self._attributes[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.excluded):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "_OTHER"
        span: trace.Span | None = None
        token: object = None
        if self.tracer is not None:
            parent = propagate.extract(scope, getter=_HEADERS)
            span = self.tracer.start_span(method, parent, kind=SpanKind.SERVER)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send_status)
        except BaseException as error:
            failure = error
            raise
        finally:
            found = scope.get("route")
            route = getattr(found, "path", None) if found is not None else None
            scheme, version = scope.get("scheme", "http"), scope.get("http_version", "1.1")
            if self.duration is not None:
                self.duration.record(
                    time.perf_counter() - started,
                    self._metric_attributes(method, route, status, scheme, version),
                )
            if span is not None:
                if span.is_recording():
                    self._finish(span, scope, method, route, status, failure)
                otel_context.detach(token)  # type: ignore[arg-type]

    @staticmethod
    def _finish(
        span: trace.Span,
        scope: Scope,
        method: str,
        route: str | None,
        status: int,
        failure: BaseException | None,
    ) -> None:
        # One set_attributes call with one dict: each set_attribute call locks and checks the span again.
        attributes: dict[str, Any] = {}
        if route is not None:
            span.update_name(f"{method} {route}")
            attributes["http.route"] = route
        attributes["http.request.method"] = method
        attributes["url.scheme"] = scope.get("scheme", "http")
        attributes["url.path"] = scope["path"]
        attributes["network.protocol.version"] = scope.get("http_version", "1.1")
        attributes["http.response.status_code"] = status
        if scope.get("query_string"):
            attributes["url.query"] = scope["query_string"].decode("latin-1")
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        agent = _HEADERS.get(scope, "user-agent")
        if agent:
            attributes["user_agent.original"] = agent[0]
        if status >= 500:
            attributes["error.type"] = str(status)
        span.set_attributes(attributes)
        if failure is not None:
            span.record_exception(failure)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
