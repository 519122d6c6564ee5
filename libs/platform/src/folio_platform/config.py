"""Live configuration: typed settings that may change while a service runs.

A `ConfigSource` serves YAML documents by name (the service's own, e.g. "catalog", and
"shared"); `LiveConfig` merges them (the service's keys win), validates the result against a
pydantic model and keeps it as `current`. Every change is validated again: an invalid one is
rejected with a logged reason and the last good configuration stays in force.

Sources: `FileConfigSource` (embedded: `<dir>/<document>.yaml`, polled) and
`NacosConfigSource` (cluster: one Nacos data id per document, pushed by the server).
Start-up settings (ports, URLs of databases) stay in environment variables; only what is safe
to change live belongs here.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

SHARED = "shared"


class _Section(BaseModel):
    # A typo in a flag name is an error, not a silently ignored key.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaymentDrills(_Section):
    failure_rate: float = Field(
        default=0.0, ge=0, le=1, description="share of charges the card processor fails (0..1)"
    )
    latency_ms: int = Field(
        default=0, ge=0, le=60_000, description="extra delay before the card processor answers, in ms"
    )


class CatalogDrills(_Section):
    latency_ms: int = Field(default=0, ge=0, le=60_000, description="extra delay on every catalog RPC, in ms")


class CartDrills(_Section):
    store_outage: bool = Field(default=False, description="the cart store (Redis/SQLite) answers as if down")


class StorefrontDrills(_Section):
    memory_leak_kb_per_request: int = Field(
        default=0, ge=0, le=10_240, description="memory the storefront keeps (leaks) on every request, in KiB"
    )
    memory_leak_max_mb: int = Field(
        default=512,
        ge=1,
        le=16_384,
        description="the leak stops growing here, so a laptop survives the drill",
    )


class AssistantDrills(_Section):
    llm_rate_limit: float = Field(
        default=0.0, ge=0, le=1, description="share of LLM calls answered 429 Too Many Requests (0..1)"
    )
    llm_slow_ms: int = Field(
        default=0, ge=0, le=120_000, description="extra delay before each LLM answer, in ms"
    )
    llm_wrong_answers: bool = Field(
        default=False, description="the LLM answers with a plausible but wrong text (citations stay real)"
    )


class Flags(_Section):
    """Failure-drill flags; each is implemented in the service named by its section."""

    payment: PaymentDrills = PaymentDrills()
    catalog: CatalogDrills = CatalogDrills()
    cart: CartDrills = CartDrills()
    storefront: StorefrontDrills = StorefrontDrills()
    assistant: AssistantDrills = AssistantDrills()


class LlmLive(_Section):
    """The assistant's LLM endpoint, changeable live; unset keeps its FOLIO_ASSISTANT_LLM_* settings."""

    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. http://vllm:8000/v1"
    )
    model: str | None = Field(default=None, description="model name at that endpoint")
    timeout_seconds: float = Field(default=30.0, gt=0, le=300, description="cap on one LLM call")


class LiveSettings(_Section):
    """What every service reads from the config center; a service may subclass it to add its own."""

    flags: Flags = Flags()
    llm: LlmLive = LlmLive()


class ConfigUnavailable(RuntimeError):
    """The config center cannot be reached."""


class ConfigSource(Protocol):
    """Where the YAML documents come from."""

    description: str

    async def read(self, document: str) -> str | None:
        """The document's text, or None when it does not exist; ConfigUnavailable if unreachable."""
        ...

    async def watch(self, documents: Sequence[str], changed: Callable[[], Awaitable[object]]) -> None:
        """Call `changed` (soon) after any of `documents` changes, until `close`."""
        ...

    async def close(self) -> None: ...


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_document(name: str, text: str | None) -> dict[str, Any]:
    """A YAML document as a mapping (empty when absent or blank); ValueError naming the document."""
    if text is None or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{name}: not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{name}: must be a mapping of settings, not {type(data).__name__}")
    return data


def describe(error: ValidationError) -> str:
    """One line per problem: the dotted key and what is wrong with it."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


class LiveConfig[S: BaseModel]:
    """The current, valid configuration of one service, kept up to date from a source."""

    def __init__(
        self, service: str, model: type[S], source: ConfigSource | None, *, refuse_drills: bool = False
    ) -> None:
        self.service = service
        self.model = model
        self.source = source
        # Production: a document that switches a failure drill on is rejected like an invalid one.
        self.refuse_drills = refuse_drills
        self.current: S = model()
        # The last rejection, for `folio`/tests to show; None when the current text is valid.
        self.rejected: str | None = None
        self._listeners: list[Callable[[S], None]] = []
        self._lock = asyncio.Lock()

    @property
    def documents(self) -> list[str]:
        return [SHARED, self.service]

    def on_change(self, listener: Callable[[S], None]) -> None:
        """Call `listener(new)` after every accepted change."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Load the documents once and watch them; an unreachable source leaves the defaults."""
        if self.source is None:
            return
        try:
            # Watch before the first read, so a change made in between is not missed.
            await self.source.watch(self.documents, self.reload)
            await self.reload()
        except ConfigUnavailable as error:
            log.error(
                "config center unreachable: running on default settings",
                extra={"source": self.source.description, "reason": str(error)},
            )

    async def reload(self) -> bool:
        """Read, merge and validate the documents; True when a new configuration was accepted."""
        if self.source is None:
            return False
        async with self._lock:
            try:
                merged: dict[str, Any] = {}
                for name in self.documents:
                    merged = merge(merged, parse_document(name, await self.source.read(name)))
                candidate = self.model.model_validate(merged)
                if self.refuse_drills and getattr(candidate, "flags", Flags()) != Flags():
                    raise ValueError("flags: failure drills are refused in production (FOLIO_ENVIRONMENT)")
            except ConfigUnavailable as error:
                log.warning(
                    "config center unreachable: keeping the last good configuration",
                    extra={"reason": str(error)},
                )
                return False
            except (ValueError, ValidationError) as error:
                reason = describe(error) if isinstance(error, ValidationError) else str(error)
                if reason != self.rejected:
                    log.error(
                        "config change rejected: keeping the last good configuration",
                        extra={"source": self.source.description, "reason": reason},
                    )
                self.rejected = reason
                return False
            self.rejected = None
            if candidate == self.current:
                return False
            self.current = candidate
        log.info(
            "configuration changed",
            extra={
                "source": self.source.description,
                "settings": candidate.model_dump(exclude_defaults=True),
            },
        )
        for listener in self._listeners:
            listener(candidate)
        return True

    async def close(self) -> None:
        if self.source is not None:
            await self.source.close()


class FileConfigSource:
    """Embedded: `<directory>/<document>.yaml`, polled for changes (mtime and size)."""

    def __init__(self, directory: Path, *, poll_seconds: float = 0.5) -> None:
        self.directory = directory
        self.poll_seconds = poll_seconds
        self.description = f"file:{directory}"
        self._task: asyncio.Task[None] | None = None

    def path(self, document: str) -> Path:
        return self.directory / f"{document}.yaml"

    async def read(self, document: str) -> str | None:
        try:
            return self.path(document).read_text()
        except FileNotFoundError:
            return None

    def _stamp(self, documents: Sequence[str]) -> list[tuple[int, int] | None]:
        stamps: list[tuple[int, int] | None] = []
        for document in documents:
            try:
                stat = self.path(document).stat()
            except FileNotFoundError:
                stamps.append(None)
            else:
                stamps.append((stat.st_mtime_ns, stat.st_size))
        return stamps

    async def watch(self, documents: Sequence[str], changed: Callable[[], Awaitable[object]]) -> None:
        # Polling rather than inotify: it sees edits, atomic renames and files made later alike,
        # and a few stat calls every half second cost nothing measurable. The first stamp is
        # taken now, not when the task first runs, so a change made meanwhile is seen.
        seen = self._stamp(documents)

        async def poll() -> None:
            nonlocal seen
            while True:
                await asyncio.sleep(self.poll_seconds)
                now = self._stamp(documents)
                if now != seen:
                    seen = now
                    try:
                        await changed()
                    except Exception:
                        log.exception("config reload failed")

        self._task = asyncio.create_task(poll())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
