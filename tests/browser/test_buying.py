"""A shopper buys in the browser: from the home page to the order history, with a mistyped card
corrected on the same page, and the whole checkout by keyboard alone."""

import pytest
from playwright.async_api import Locator, Page, expect

from folio_testing.data import ADDRESS, BAD_LUHN_CARD, CARD, EMAIL

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="package")]

# The checkout form's fields in page order, with what the shopper types into each.
CHECKOUT_FIELDS = {
    "email": EMAIL,
    "name": ADDRESS["name"],
    "line1": ADDRESS["line1"],
    "line2": "",
    "city": ADDRESS["city"],
    "postal_code": ADDRESS["postal_code"],
    "country": ADDRESS["country"],
    "card_holder_name": CARD["holder_name"],
    "card_number": CARD["number"],
    "card_exp_month": str(CARD["exp_month"]),
    "card_exp_year": str(CARD["exp_year"]),
    "card_cvv": CARD["cvv"],
}


def field(page: Page, name: str) -> Locator:
    return page.locator(f"form.checkout [name={name}]")


async def fill_checkout(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        await field(page, name).fill(value)


async def test_a_shopper_finds_a_book_buys_it_correcting_a_mistyped_card_and_sees_the_order(
    page: Page,
) -> None:
    await page.goto("/")
    await page.get_by_role("link", name="Gothic & Horror").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Gothic & Horror")
    card = page.locator(".book-card").filter(has_not_text="out of stock").first
    title = await card.locator(".book-title").inner_text()
    await card.locator(".book-title").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    price = await page.locator("dd.price").inner_text()

    await page.get_by_role("button", name="Add to cart").click()
    await expect(page).to_have_url("/cart")
    await expect(page.locator("table.lines tbody")).to_contain_text(title)
    await page.get_by_role("link", name="Check out").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    first_key = await field(page, "idempotency_key").input_value()

    await fill_checkout(page, CHECKOUT_FIELDS | {"card_number": BAD_LUHN_CARD["number"]})
    await page.get_by_role("button", name="Place order").click()

    await expect(page.get_by_role("alert")).to_contain_text("not a valid card number")
    await expect(page.locator("label.invalid")).to_contain_text("Card number")
    # What the shopper typed stays, except the card's secrets, which are never sent back.
    await expect(field(page, "email")).to_have_value(EMAIL)
    await expect(field(page, "card_number")).to_have_value("")
    # A refused attempt is over: the corrected form is a new one, under a new idempotency key.
    assert await field(page, "idempotency_key").input_value() != first_key

    await fill_checkout(page, {"card_number": CARD["number"], "card_cvv": CARD["cvv"]})
    await page.get_by_role("button", name="Place order").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Thank you — your order is confirmed")
    await expect(page.locator("table.lines tbody")).to_contain_text(title)
    await expect(page.locator("table.lines tbody")).to_contain_text(price)
    order_id = page.url.rsplit("/", 1)[1]
    await page.get_by_role("link", name="All your orders").click()
    row = page.locator("table.lines tbody tr").filter(has_text=order_id)
    await expect(row).to_contain_text("confirmed")
    await row.get_by_role("link", name=order_id).click()
    await expect(page.locator("table.lines tbody")).to_contain_text(title)


async def focus_by_tab(page: Page, description: str, limit: int = 60) -> None:
    """Press Tab until the focused element's text, name or label is `description`."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """() => { const e = document.activeElement;
                       return (e.labels && e.labels[0] ? e.labels[0].innerText.split("\\n")[0] : "")
                              || e.innerText || e.name || ""; }"""
        )
        if focused.strip() == description:
            return
    pytest.fail(f"{limit} presses of Tab never reached {description!r} on {page.url}")


async def focused_field(page: Page) -> str:
    name: str = await page.evaluate("() => document.activeElement.name || document.activeElement.tagName")
    return name


async def test_checkout_by_keyboard_alone(page: Page) -> None:
    await page.goto("/books/emma")
    await focus_by_tab(page, "Add to cart")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url("/cart")
    await focus_by_tab(page, "Check out")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")

    await focus_by_tab(page, "Email")
    # Tab walks the form in the order a shopper reads it, and typing fills the focused field.
    for name, value in CHECKOUT_FIELDS.items():
        assert await focused_field(page) == name
        await page.keyboard.type(value)
        await page.keyboard.press("Tab")
    submit = page.get_by_role("button", name="Place order")
    await expect(submit).to_be_focused()
    # The focused button shows that it has the focus.
    assert await submit.evaluate("b => getComputedStyle(b).outlineStyle") != "none"
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Thank you — your order is confirmed")
    await expect(page.locator("table.lines tbody")).to_contain_text("Emma")
    await focus_by_tab(page, "All your orders")
    await page.keyboard.press("Enter")
    await expect(page.locator("table.lines tbody tr").first).to_contain_text("confirmed")
