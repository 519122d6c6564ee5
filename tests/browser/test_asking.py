"""The Ask page in the browser: the answer streams in, and the books it cites are links."""

import asyncio
import time

import pytest
from playwright.async_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="package")]

# Records every length the answer passes through while it streams in.
WATCH_ANSWER = """() => {
  window.answerLengths = [];
  const answer = document.getElementById("ask-answer");
  new MutationObserver(() => window.answerLengths.push(answer.textContent.length))
    .observe(answer, {childList: true, characterData: true, subtree: true});
}"""


async def wait_for_the_assistant(page: Page, seconds: float = 30) -> None:
    """The storefront's first probe of a backend may still be connecting when the stack is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready = await (await page.request.get("/readyz")).json()
        if ready["checks"].get("assistant") == "serving":
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"the assistant is not serving after {seconds:.0f} s: {ready}")


async def test_ask_streams_an_answer_whose_cited_books_are_links(page: Page) -> None:
    await wait_for_the_assistant(page)
    await page.goto("/")
    await page.get_by_role("link", name="Ask", exact=True).click()
    await page.evaluate(WATCH_ANSWER)
    await page.get_by_role("searchbox", name="Question").fill("Which books by Mary Shelley do you have?")
    await page.get_by_role("button", name="Ask", exact=True).click()

    await expect(page.get_by_role("heading", name="Books cited")).to_be_visible()
    shelley = {"Frankenstein": "frankenstein", "Valperga": "valperga", "The Last Man": "last-man"}
    cited = page.locator("#ask-cited a")
    assert {await a.inner_text(): await a.get_attribute("href") for a in await cited.all()} == {
        title: f"/books/{book}" for title, book in shelley.items()
    }
    lengths = await page.evaluate("window.answerLengths")
    assert len(set(lengths)) > 1, f"the answer arrived in one piece, not streamed: {lengths}"
    # Where the answer names a cited book, the title is a link to it.
    in_answer = page.locator("#ask-answer a")
    for title, book in shelley.items():
        await expect(in_answer.filter(has_text=title).first).to_have_attribute("href", f"/books/{book}")
    assert set(await in_answer.all_inner_texts()) == set(shelley)
    # The answer reads as a list, one cited book per item, with no raw ids or link syntax left.
    await expect(page.locator("#ask-answer li")).to_have_count(len(shelley))
    shown = await page.locator("#ask-answer").inner_text()
    assert "last-man" not in shown
    assert "](/books/" not in shown
    # The question is in the address, so the answer can be shared and reloaded.
    await expect(page).to_have_url("/assistant?q=Which%20books%20by%20Mary%20Shelley%20do%20you%20have%3F")

    await in_answer.filter(has_text="Frankenstein").first.click()
    await expect(page).to_have_url("/books/frankenstein")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Frankenstein")
