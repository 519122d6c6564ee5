import time
from typing import Any, NamedTuple

from folio_catalog.drills import LatencyDrill


class Details(NamedTuple):
    method: str
    invocation_metadata: Any = ()


async def _handler(details: Any) -> str:
    return "handler"


async def _timed(drill: LatencyDrill, method: str) -> float:
    started = time.monotonic()
    assert await drill.intercept_service(_handler, Details(method)) == "handler"  # type: ignore[arg-type]
    return time.monotonic() - started


async def test_catalog_calls_wait_as_long_as_the_flag_says() -> None:
    latency = 120
    drill = LatencyDrill(lambda: latency)
    assert await _timed(drill, "/folio.catalog.v1.CatalogService/GetBook") >= 0.12

    latency = 0
    assert await _timed(drill, "/folio.catalog.v1.CatalogService/GetBook") < 0.05


async def test_health_checks_and_reflection_are_never_delayed() -> None:
    drill = LatencyDrill(lambda: 5000)
    assert await _timed(drill, "/grpc.health.v1.Health/Check") < 0.05
    assert await _timed(drill, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") < 0.05
