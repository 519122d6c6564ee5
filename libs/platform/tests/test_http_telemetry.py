"""HTTP telemetry: a request is one server span named by its route, under the caller's trace
context, and one http.server.request.duration measurement by route, method and status; excluded
paths make neither."""

import httpx
from fastapi import FastAPI, HTTPException
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from folio_platform.http_telemetry import HttpServerTelemetry

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/books/{book_id}")
    async def book(book_id: str) -> dict[str, str]:
        if book_id == "broken":
            raise HTTPException(503, "down")
        return {"id": book_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {}

    return app


async def test_requests_are_traced_and_measured_by_route() -> None:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = HttpServerTelemetry(
        _app(),
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
        excluded_paths=("/healthz",),
    )
    parent = {"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01", "user-agent": "probe/1"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop") as client:
        assert (await client.get("/books/dracula?shelf=2", headers=parent)).status_code == 200
        assert (await client.get("/books/broken")).status_code == 503
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200

    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["GET /books/{book_id}", "GET /books/{book_id}", "GET"]
    first, broken, unrouted = spans
    assert first.kind == trace.SpanKind.SERVER
    assert f"{first.context.trace_id:032x}" == CALLER_TRACE
    # Every attribute and status, so that a cheaper way of setting them can neither drop nor add one.
    assert dict(first.attributes or {}) == {
        "http.route": "/books/{book_id}",
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/books/dracula",
        "network.protocol.version": "1.1",
        "http.response.status_code": 200,
        "url.query": "shelf=2",
        "client.address": "127.0.0.1",
        "user_agent.original": "probe/1",
    }
    assert first.status.status_code == trace.StatusCode.UNSET
    assert dict(broken.attributes or {}) == {
        "http.route": "/books/{book_id}",
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/books/broken",
        "network.protocol.version": "1.1",
        "http.response.status_code": 503,
        "client.address": "127.0.0.1",
        "user_agent.original": broken.attributes["user_agent.original"],  # type: ignore[index]
        "error.type": "503",
    }
    assert broken.status.status_code == trace.StatusCode.ERROR
    assert "http.route" not in (unrouted.attributes or {})
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        (p.attributes.get("http.route"), p.attributes["http.response.status_code"]): p.count  # type: ignore[union-attr,index]
        for m in data.resource_metrics[0].scope_metrics[0].metrics
        if m.name == "http.server.request.duration"
        for p in m.data.data_points  # type: ignore[union-attr]
    }
    assert points == {("/books/{book_id}", 200): 1, ("/books/{book_id}", 503): 1, (None, 404): 1}
