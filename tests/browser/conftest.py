"""The browser journeys: on the shared shop (tests/conftest.py), one Chromium for the whole folder
and a fresh browser context (a new guest: no cookies, no storage) for each test. A failing test
leaves a screenshot, the page's console and the services' logs under .folio/browser-failures/ and
names the files in its report; a journey whose shop pages log an error (a script error, a refused
Content-Security-Policy) fails too."""

from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from folio_testing.browser import PageLog, failure_dir, launch_chromium, save_failure
from tests.conftest import RunningStack

FAILURES = Path(__file__).resolve().parents[2] / ".folio" / "browser-failures"
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, started once for the folder."""
    # Two cores shared with the whole stack: a page may take a few seconds to settle.
    expect.set_options(timeout=10_000)
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="package")
async def page(request: pytest.FixtureRequest, chromium: Browser, shop: RunningStack) -> AsyncIterator[Page]:
    """A tab in a fresh browser context, relative URLs resolved against the storefront."""
    context = await chromium.new_context(base_url=shop.stack.url("storefront"))
    context.set_default_timeout(15_000)
    page = await context.new_page()
    log = PageLog()
    log.watch(page)
    yield page
    report = request.node.stash.get(REPORTS, {}).get("call")
    failed = report is not None and report.failed
    noisy = log.errors_on(shop.stack.url("storefront")) if report is not None and report.passed else []
    if failed or noisy:
        # With what the services said meanwhile: a 500 in the page is explained there.
        saved = await save_failure(page, log, failure_dir(FAILURES, request.node.nodeid), services=shop.log())
        files = "\n".join(map(str, saved))
        if failed:
            # Shown under the failure in the summary (teardown sections of a failed test are; this
            # report is made after the teardown, so it reaches the summary from an xdist worker too).
            request.node.add_report_section("teardown", "screenshot and logs", files)
    await context.close()
    if noisy:
        pytest.fail(
            "the shop's pages logged errors (a script error, a refused Content-Security-Policy, a failed"
            " load):\n" + "\n".join(noisy) + f"\nsaved:\n{files}"
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, for the page fixture to see whether the test failed."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report
