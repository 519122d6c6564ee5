import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from folio_platform.telemetry import configure_telemetry
from folio_testing.plugin import free_port

# Enabling telemetry installs global providers, so the enabled path runs in its own interpreter.
REPORT = "TELEMETRY-REPORT "
ENABLED_SCRIPT = textwrap.dedent(
    f"""
    import json, os
    from opentelemetry import metrics, trace
    from folio_platform.telemetry import configure_telemetry

    telemetry = configure_telemetry("catalog")
    report = {{
        "enabled": telemetry.enabled,
        "exporters": telemetry.exporters,
        "tracer_is_global": telemetry.tracer_provider is not None
        and trace.get_tracer_provider() is telemetry.tracer_provider,
        "meter_is_global": telemetry.meter_provider is not None
        and metrics.get_meter_provider() is telemetry.meter_provider,
    }}
    print({REPORT!r} + json.dumps(report), flush=True)
    if os.environ.get("PROBE_SPAN"):
        with trace.get_tracer("probe").start_as_current_span("probe-span"):
            pass
        telemetry.shutdown()
    # Skip exit hooks: nothing may try to reach an OTLP endpoint that does not exist.
    os._exit(0)
    """
)


def _run_enabled(env: dict[str, str]) -> tuple[dict[str, Any], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", ENABLED_SCRIPT],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    before, _, after = result.stdout.partition(REPORT)
    report_line, _, rest = after.partition("\n")
    return json.loads(report_line), before + rest


def _exported_spans(output: str) -> list[dict[str, Any]]:
    decoder, spans, index = json.JSONDecoder(), [], 0
    while (index := output.find("{", index)) != -1:
        span, index = decoder.raw_decode(output, index)
        spans.append(span)
    return spans


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
        {"OTEL_SERVICE_NAME": "catalog", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=dev"},
    ],
)
def test_off_when_no_exporter_is_configured(env: dict[str, str]) -> None:
    telemetry = configure_telemetry("catalog", env=env)

    assert telemetry.enabled is False
    assert telemetry.tracer_provider is None
    assert telemetry.meter_provider is None
    assert telemetry.exporters == []
    telemetry.shutdown()


@pytest.mark.parametrize("disabled", ["true", "TRUE", "True"])
def test_sdk_disabled_wins_over_configured_exporters(disabled: str) -> None:
    env = {
        "OTEL_SDK_DISABLED": disabled,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_TRACES_EXPORTER": "console",
    }

    telemetry = configure_telemetry("catalog", env=env)

    assert telemetry.enabled is False
    assert telemetry.tracer_provider is None
    assert telemetry.meter_provider is None


@pytest.mark.parametrize("variable", ["OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"])
def test_unsupported_exporter_names_the_variable(variable: str) -> None:
    with pytest.raises(ValueError, match=variable) as excinfo:
        configure_telemetry("catalog", env={variable: "zipkin"})

    assert "zipkin" in str(excinfo.value)


def test_console_exporter_exports_spans_with_the_service_name_override() -> None:
    report, output = _run_enabled(
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_SERVICE_NAME": "catalog-eu",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging",
            "PROBE_SPAN": "1",
        }
    )

    assert report == {
        "enabled": True,
        "exporters": ["traces:console"],
        "tracer_is_global": True,
        "meter_is_global": False,
    }
    (span,) = [s for s in _exported_spans(output) if s.get("name") == "probe-span"]
    assert span["resource"]["attributes"]["service.name"] == "catalog-eu"
    assert span["resource"]["attributes"]["deployment.environment"] == "staging"


def test_service_name_defaults_to_the_one_the_service_passes() -> None:
    _, output = _run_enabled({"OTEL_TRACES_EXPORTER": "console", "PROBE_SPAN": "1"})

    (span,) = [s for s in _exported_spans(output) if s.get("name") == "probe-span"]
    assert span["resource"]["attributes"]["service.name"] == "catalog"


def test_generic_endpoint_turns_on_both_signals_over_otlp() -> None:
    report, _ = _run_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})

    assert report["enabled"] is True
    assert report["exporters"] == ["traces:otlp", "metrics:otlp"]
    assert report["tracer_is_global"] is True
    assert report["meter_is_global"] is True


def test_signal_specific_endpoint_turns_on_only_that_signal() -> None:
    report, _ = _run_enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9"})

    assert report["exporters"] == ["traces:otlp"]
    assert report["meter_is_global"] is False


METRICS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, urllib.request
    from opentelemetry import metrics
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from folio_platform.sql_telemetry import SqlTelemetry
    from folio_platform.telemetry import configure_telemetry

    port = int(sys.argv[1])
    telemetry = configure_telemetry("catalog", metrics_port=port)
    metrics.get_meter("probe").create_counter("folio.probe.calls").add(2, {"outcome": "ok"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    report = {
        "enabled": telemetry.enabled,
        "exporters": telemetry.exporters,
        "instrumented": [
            SqlTelemetry.installed() is not None,
            *(i.is_instrumented_by_opentelemetry for i in (RedisInstrumentor(), HTTPXClientInstrumentor())),
        ],
        "text": text,
    }
    telemetry.shutdown()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
        report["closed"] = False
    except OSError:
        report["closed"] = True
    print(json.dumps(report), flush=True)
    os._exit(0)
    """
)


def _run_metrics(script: str, port: int, env: dict[str, str]) -> dict[str, Any]:
    """Run a metrics probe script in a fresh interpreter (a process-wide meter provider) and read its report."""
    result = subprocess.run(
        [sys.executable, "-c", script, str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_a_metrics_port_alone_turns_telemetry_on_and_serves_prometheus_text() -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    report = _run_metrics(METRICS_SCRIPT, port, clean)
    assert report["enabled"] is True
    assert report["exporters"] == [f"metrics:prometheus@127.0.0.1:{port}"]
    # The shared libraries' instrumentations are installed once, here.
    assert report["instrumented"] == [True, True, True]
    assert 'outcome="ok"} 2.0' in report["text"]
    assert "folio_probe_calls_total{" in report["text"]
    assert 'service_name="catalog"' in report["text"]  # target_info carries the resource
    assert report["closed"] is True


def test_an_sdk_switched_off_serves_no_metrics() -> None:
    telemetry = configure_telemetry("catalog", {"OTEL_SDK_DISABLED": "true"}, metrics_port=free_port())
    assert telemetry.enabled is False
    assert telemetry.metrics_port is None


def test_the_prometheus_exporter_serves_on_the_standard_host_and_port() -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env = clean | {
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
    }
    script = METRICS_SCRIPT.replace("metrics_port=port", 'metrics_host="0.0.0.0"')
    report = _run_metrics(script, port, env)
    assert report["exporters"] == [f"metrics:prometheus@127.0.0.1:{port}"]
    assert 'outcome="ok"} 2.0' in report["text"]
    assert report["closed"] is True


def test_a_prometheus_port_that_is_not_a_number_names_the_variable() -> None:
    env = {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "metrics"}
    with pytest.raises(ValueError, match="OTEL_EXPORTER_PROMETHEUS_PORT"):
        configure_telemetry("catalog", env)
