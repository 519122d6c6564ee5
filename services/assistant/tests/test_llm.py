"""The live language model: chosen from the settings and the config center's `llm` section, changed
without a restart, and the `assistant.*` failure drills acting on every answer."""

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import Runnable

from folio_assistant.answer import Answerer, Chunk, Done
from folio_assistant.drilled import WRONG_ANSWER, DrilledModel
from folio_assistant.llm import LiveModels
from folio_assistant.settings import Settings
from folio_platform.config import AssistantDrills, FileConfigSource, LiveConfig, LiveSettings
from folio_testing.model_server import FakeModelServer

from .test_answer import retrieval


class ScriptedModel(Runnable[Any, AIMessageChunk]):
    """Test double of a LangChain chat model: streams a fixed answer citing Moby-Dick."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> AIMessageChunk:
        raise NotImplementedError

    async def astream(self, input: Any, config: Any = None, **kwargs: Any) -> AsyncIterator[AIMessageChunk]:
        yield AIMessageChunk(content="Moby-Dick [moby-dick] is about a whale.")


def answerer(flags: AssistantDrills, *, chance: float = 0.0) -> Answerer:
    from folio_assistant.answer import LlmSettings

    model = DrilledModel(ScriptedModel(), lambda: flags, chance=lambda: chance)
    return Answerer(llm=model, settings=LlmSettings(model="scripted", timeout_seconds=5, max_tokens=50))


async def answer(answerer: Answerer) -> tuple[str, Done]:
    text, done = "", None
    async for event in answerer.answer("whale?", retrieval()):
        if isinstance(event, Chunk):
            text += event.text
        else:
            done = event
    assert done is not None
    return text, done


async def test_without_drills_the_model_answers() -> None:
    text, done = await answer(answerer(AssistantDrills()))
    assert (text, done.mode, done.citations) == (
        "Moby-Dick [moby-dick] is about a whale.",
        "llm",
        ["moby-dick"],
    )


async def test_rate_limit_drill_gives_the_books_with_a_note() -> None:
    text, done = await answer(answerer(AssistantDrills(llm_rate_limit=0.5), chance=0.2))
    assert done.mode == "extractive"
    assert "the language model failed (LlmRateLimited)" in done.note
    assert "[Moby-Dick](/books/moby-dick)" in text
    _, spared = await answer(answerer(AssistantDrills(llm_rate_limit=0.5), chance=0.9))
    assert spared.mode == "llm"


async def test_wrong_answer_drill_keeps_citations_real() -> None:
    text, done = await answer(answerer(AssistantDrills(llm_wrong_answers=True)))
    assert text == "".join(WRONG_ANSWER)
    assert done.mode == "llm"
    assert done.citations == []  # it names no book found: the made-up [the-lost-chronicle] is not cited
    assert done.note == "not cited, as no book found has these ids: the-lost-chronicle"


async def test_slow_drill_delays_the_answer() -> None:
    started = time.monotonic()
    await answer(answerer(AssistantDrills(llm_slow_ms=300)))
    assert time.monotonic() - started >= 0.3


@pytest.fixture
async def config(tmp_path: Path) -> AsyncIterator[LiveConfig[LiveSettings]]:
    live = LiveConfig("assistant", LiveSettings, FileConfigSource(tmp_path, poll_seconds=0.05))
    await live.start()
    try:
        yield live
    finally:
        await live.close()


async def test_the_model_follows_the_config_center(tmp_path: Path, config: LiveConfig[LiveSettings]) -> None:
    models = LiveModels(Settings(), config)
    assert models() == (None, None)  # no endpoint anywhere: extractive answers

    (tmp_path / "assistant.yaml").write_text("llm:\n  base_url: http://127.0.0.1:9/v1\n  model: first\n")
    assert await config.reload()
    model, settings = models()
    assert settings is not None
    assert (settings.model, settings.timeout_seconds) == ("first", 20.0)
    assert model.inner.model_name == "first"
    assert str(model.inner.openai_api_base) == "http://127.0.0.1:9/v1"

    (tmp_path / "assistant.yaml").write_text(
        "llm:\n  base_url: http://127.0.0.1:9/v1\n  model: second\n  timeout_seconds: 7\n"
        "flags:\n  assistant:\n    llm_wrong_answers: true\n"
    )
    assert await config.reload()
    model, settings = models()
    assert settings is not None
    assert (settings.model, settings.timeout_seconds) == ("second", 7.0)
    assert model.inner.model_name == "second"
    assert model.flags().llm_wrong_answers


async def test_settings_give_the_model_the_config_center_does_not_override(
    config: LiveConfig[LiveSettings],
) -> None:
    models = LiveModels(Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="own"), config)
    model, settings = models()
    assert settings is not None
    assert settings.model == "own"
    assert models()[0].inner is model.inner  # the same client while the choice stands


async def test_the_token_cap_reaches_the_server_as_max_tokens(config: LiveConfig[LiveSettings]) -> None:
    """`max_tokens` is what every OpenAI-compatible server reads (llama.cpp's ignores
    `max_completion_tokens` and writes on to the end of its context)."""
    with FakeModelServer() as server:
        models = LiveModels(Settings(llm_base_url=server.url, llm_max_tokens=33), config)
        model, settings = models()
        assert settings is not None
        await answer(Answerer(llm=model, settings=settings))
    (request,) = server.requests
    assert request["max_tokens"] == 33
    assert "max_completion_tokens" not in request
