"""People sign in through the identity provider (authorization code + PKCE) in the browser, their
guest cart comes with them, they sign out; a catalog admin's price change shows on the book page."""

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Page, expect

from folio_cli import dev_identity
from folio_dev_oidc.app import SESSION_COOKIE as PROVIDER_COOKIE
from folio_storefront.sessions import COOKIE as SESSION_COOKIE
from tests.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="package")]


async def sign_in(page: Page, shop: RunningStack, username: str) -> None:
    """Click "Sign in", answer the provider's login form, and come back to the shop."""
    await page.get_by_role("link", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Sign in to Folio")).to_be_visible()
    provider = urlsplit(page.url)
    assert f"{provider.scheme}://{provider.netloc}/" == shop.stack.url("dev-oidc")
    query = parse_qs(provider.query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(dev_identity.passwords(shop.data_dir)[username])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert page.url.startswith(shop.stack.url("storefront"))


async def test_a_person_signs_in_through_the_provider_and_out(page: Page, shop: RunningStack) -> None:
    await page.goto("/authors")
    await sign_in(page, shop, "alice")

    # Back on the page they left, under their own name.
    await expect(page).to_have_url("/authors")
    await expect(page.locator(".site-header .user")).to_have_text("alice")
    await page.get_by_role("link", name="Orders").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your orders")

    signed_in = [c for c in await page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert signed_in
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    await expect(page.locator(".site-header .user")).to_have_count(0)
    assert page.url.startswith(shop.stack.url("storefront"))
    # Signed out at the provider too, and on the server: the old cookie, replayed, signs nobody in.
    assert PROVIDER_COOKIE not in {c["name"] for c in await page.context.cookies()}
    await page.context.add_cookies(signed_in)
    await page.goto("/orders")
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()


async def test_the_guest_cart_moves_into_the_persons_cart(page: Page, shop: RunningStack) -> None:
    await page.goto("/books/persuasion")
    await page.get_by_label("Quantity").fill("2")
    await page.get_by_role("button", name="Add to cart").click()
    await expect(page).to_have_url("/cart")

    await sign_in(page, shop, "bob")

    await expect(page).to_have_url("/cart")
    await expect(page.locator(".site-header .user")).to_have_text("bob")
    line = page.locator("table.lines tbody tr").filter(has_text="Persuasion")
    await expect(line.get_by_label("Quantity")).to_have_value("2")
    await line.get_by_role("button", name="Remove").click()
    await expect(page.get_by_text("Your cart is empty")).to_be_visible()


async def change_price(page: Page, book: str, price: str) -> None:
    """Through the admin page's "Change a book" form."""
    await page.get_by_role("link", name="Admin").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Catalog admin")
    change = page.locator("form.admin").first
    await change.get_by_label("Book id").fill(book)
    await change.get_by_label("New price in USD").fill(price)
    await change.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_have_count(0)


async def test_a_catalog_admins_new_price_shows_on_the_book_page(
    page: Page, shop: RunningStack, chromium: Browser
) -> None:
    await page.goto("/books/dracula")
    was = (await page.locator("dd.price").inner_text()).removeprefix("$")
    await sign_in(page, shop, "carol")
    await change_price(page, "dracula", "12.34")
    try:
        await page.goto("/books/dracula")
        await expect(page.locator("dd.price")).to_have_text("$12.34")
        # Every shopper sees it, not only the admin who made it.
        guest = await chromium.new_context(base_url=shop.stack.url("storefront"))
        try:
            guest_page = await guest.new_page()
            await guest_page.goto("/books/dracula")
            await expect(guest_page.locator("dd.price")).to_have_text("$12.34")
        finally:
            await guest.close()
    finally:
        # The stack is shared: the other tests see the seed's price again.
        await change_price(page, "dracula", was)
