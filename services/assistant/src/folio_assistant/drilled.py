"""A chat model under the `assistant.*` failure drills, read from the config center on each call:
a share of calls refused as rate-limited (429), extra latency, or a plausible but wrong answer."""

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig

from folio_platform.config import AssistantDrills

log = logging.getLogger(__name__)

WRONG_ANSWER = (
    "The book you are looking for is ",
    "The Lost Chronicle [the-lost-chronicle], ",
    "a celebrated novel by an author nobody remembers.",
)


class LlmRateLimited(Exception):
    """The model server answered 429 Too Many Requests (here: the rate-limit failure drill)."""


class DrilledModel(Runnable[LanguageModelInput, BaseMessageChunk]):
    """`inner` (a LangChain chat model), refused, slowed down or made wrong as the current drill flags
    say. A Runnable, so it takes the model's place in the answer chain; streaming only."""

    def __init__(
        self,
        inner: Any,
        flags: Callable[[], AssistantDrills],
        *,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.inner = inner
        self.flags = flags
        self.chance = chance

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError("the assistant streams its answers: use astream")

    async def astream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseMessageChunk]:
        flags = self.flags()
        if flags.llm_slow_ms:
            await asyncio.sleep(flags.llm_slow_ms / 1000)
        if flags.llm_rate_limit and self.chance() < flags.llm_rate_limit:
            log.warning("failure drill: LLM rate limited", extra={"llm_rate_limit": flags.llm_rate_limit})
            raise LlmRateLimited("429 Too Many Requests (failure drill)")
        if flags.llm_wrong_answers:
            log.warning("failure drill: LLM answers wrong")
            for text in WRONG_ANSWER:
                yield AIMessageChunk(content=text)
            return
        async for chunk in self.inner.astream(input, config, **kwargs):
            yield chunk
