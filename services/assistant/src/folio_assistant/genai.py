"""Metrics of model calls, named and shaped as the OpenTelemetry gen_ai semantic conventions say:
`gen_ai.client.operation.duration` (seconds, every chat and embeddings call, `error.type` on failure)
and `gen_ai.client.token.usage` (tokens, per `gen_ai.token.type`), with the conventions' buckets."""

from collections.abc import Mapping

from opentelemetry import metrics

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class GenAiMetrics:
    """The two gen_ai client instruments, on the global meter provider (what telemetry configured)."""

    def __init__(self, meter: metrics.Meter | None = None) -> None:
        meter = meter or metrics.get_meter("folio_assistant")
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )

    def operation(self, seconds: float, attributes: Mapping[str, str], *, error_type: str = "") -> None:
        """One call: `attributes` holds gen_ai.operation.name, .provider.name, .request.model (and
        .response.model when known)."""
        self._duration.record(seconds, {**attributes, **({"error.type": error_type} if error_type else {})})

    def tokens(self, *, input_tokens: int, output_tokens: int, attributes: Mapping[str, str]) -> None:
        self._tokens.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
        self._tokens.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})
