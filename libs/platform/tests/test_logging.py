import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from folio_platform.logging import configure_logging

OTHER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_others = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in OTHER_LOGGERS
    }
    yield
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])
    for name, (handlers, propagate) in saved_others.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_json_lines_carry_the_fields_every_service_relies_on(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("catalog")

    logging.getLogger("folio_catalog.servicer").info("found %d books", 3)
    logging.getLogger("folio_catalog.db").warning("slow query")

    first, second = _lines(capsys)
    assert first["level"] == "INFO"
    assert first["logger"] == "folio_catalog.servicer"
    assert first["message"] == "found 3 books"
    assert first["service"] == "catalog"
    datetime.strptime(first["time"], "%Y-%m-%d %H:%M:%S,%f")
    assert (second["level"], second["logger"], second["message"]) == (
        "WARNING",
        "folio_catalog.db",
        "slow query",
    )


def test_outside_a_span_trace_fields_are_empty(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("catalog")

    logging.getLogger("probe").info("no span here")

    (line,) = _lines(capsys)
    assert line["trace_id"] == ""
    assert line["span_id"] == ""


def test_inside_a_span_the_line_carries_its_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("catalog")
    tracer = TracerProvider().get_tracer("test")

    with tracer.start_as_current_span("outer") as outer:
        logging.getLogger("probe").info("in outer")
        with tracer.start_as_current_span("inner") as inner:
            logging.getLogger("probe").info("in inner")
    logging.getLogger("probe").info("after")

    in_outer, in_inner, after = _lines(capsys)
    outer_context, inner_context = outer.get_span_context(), inner.get_span_context()
    assert re.fullmatch(r"[0-9a-f]{32}", in_outer["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", in_outer["span_id"])
    assert in_outer["trace_id"] == format(outer_context.trace_id, "032x")
    assert in_outer["span_id"] == format(outer_context.span_id, "016x")
    assert in_inner["trace_id"] == in_outer["trace_id"]
    assert in_inner["span_id"] == format(inner_context.span_id, "016x")
    assert in_inner["span_id"] != in_outer["span_id"]
    assert (after["trace_id"], after["span_id"]) == ("", "")


def test_extra_fields_appear_in_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("storefront")

    logging.getLogger("probe").info("request done", extra={"book_id": "b-42", "status": 404, "ms": 1.5})

    (line,) = _lines(capsys)
    assert (line["book_id"], line["status"], line["ms"]) == ("b-42", 404, 1.5)
    assert line["service"] == "storefront"


def test_exceptions_stay_inside_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("catalog")

    try:
        raise ValueError("bad row\nsecond line")
    except ValueError:
        logging.getLogger("probe").exception("import failed")

    (line,) = _lines(capsys)
    assert line["message"] == "import failed"
    assert "ValueError: bad row" in line["exc_info"]


def test_level_filters_lower_records(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("catalog", level="WARNING")

    logging.getLogger("probe").info("hidden")
    logging.getLogger("probe").warning("shown")

    assert [line["message"] for line in _lines(capsys)] == ["shown"]


def test_reconfiguring_replaces_the_handler_instead_of_duplicating(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("catalog")
    configure_logging("catalog")

    logging.getLogger("probe").info("once")

    assert len(_lines(capsys)) == 1


def test_uvicorn_records_go_through_the_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler())
    uvicorn_error.propagate = False
    configure_logging("storefront")

    uvicorn_error.info("Application startup complete.")

    (line,) = _lines(capsys)
    assert (line["logger"], line["message"], line["service"]) == (
        "uvicorn.error",
        "Application startup complete.",
        "storefront",
    )


def test_text_format_is_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("catalog", fmt="text")

    logging.getLogger("probe").warning("disk nearly full")

    out = capsys.readouterr().out.strip()
    assert "WARNING" in out
    assert "probe: disk nearly full" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)
