"""The chat model the assistant answers with.

It comes from the `FOLIO_ASSISTANT_LLM_*` settings, overridden live by the config center's `llm`
section (endpoint, model, timeout), and is rebuilt only when that choice changes. Every answer
goes through the `assistant.*` failure drills, read from the config center on each call: a
share of calls refused as rate-limited (429), extra latency, or a plausible but wrong answer
(whose made-up citation the answer drops, as it drops any id retrieval did not return).
"""

import logging
from dataclasses import dataclass
from typing import Any

from folio_assistant.answer import LlmSettings
from folio_assistant.settings import Settings
from folio_platform.config import LiveConfig, LiveSettings, LlmLive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LlmChoice:
    """Everything that decides which chat model answers; a new choice builds a new client."""

    base_url: str
    model: str
    timeout_seconds: float
    max_tokens: int
    api_key: str


def llm_choice(settings: Settings, live: LlmLive) -> LlmChoice | None:
    """The live section's endpoint and model where set, else the service's own settings; None when
    no endpoint is configured (extractive answers)."""
    base_url = live.base_url or settings.llm_base_url
    if not base_url:
        return None
    timeout = (
        live.timeout_seconds if "timeout_seconds" in live.model_fields_set else settings.llm_timeout_seconds
    )
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    return LlmChoice(
        base_url=base_url,
        model=live.model or settings.llm_model,
        timeout_seconds=timeout,
        max_tokens=settings.llm_max_tokens,
        api_key=key,  # vLLM and Ollama accept any key
    )


def chat_model(choice: LlmChoice) -> Any:
    """LangChain's OpenAI-compatible chat model for `choice`: streamed, with usage, no retries."""
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(
        base_url=choice.base_url,
        model=choice.model,
        api_key=SecretStr(choice.api_key),
        timeout=choice.timeout_seconds,
        max_retries=0,
        # As `max_tokens`, which every OpenAI-compatible server reads: ChatOpenAI's own parameter goes out
        # as `max_completion_tokens`, which llama.cpp's server ignores, writing on to the end of its context.
        extra_body={"max_tokens": choice.max_tokens},
        temperature=0,
        streaming=True,
        stream_usage=True,
    )


class LiveModels:
    """The model to answer with now, following the config center: (model, settings), or
    (None, None) when no endpoint is configured."""

    def __init__(self, settings: Settings, config: LiveConfig[LiveSettings]) -> None:
        self._settings = settings
        self._config = config
        self._choice: LlmChoice | None = None
        self._model: Any = None

    def __call__(self) -> tuple[Any, LlmSettings] | tuple[None, None]:
        live = self._config.current
        choice = llm_choice(self._settings, live.llm)
        if choice is None:
            return None, None
        if choice != self._choice:
            log.info("language model selected", extra={"base_url": choice.base_url, "model": choice.model})
            self._model, self._choice = chat_model(choice), choice
        # LangChain is imported once a language model is configured, not at start.
        from folio_assistant.drilled import DrilledModel

        drilled = DrilledModel(self._model, lambda: self._config.current.flags.assistant)
        return drilled, LlmSettings(
            model=choice.model, timeout_seconds=choice.timeout_seconds, max_tokens=choice.max_tokens
        )
