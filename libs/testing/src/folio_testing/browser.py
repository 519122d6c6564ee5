"""Debian's Chromium driven by Playwright for the browser tests, and what a failing test leaves behind.

Playwright talks to the distribution's `chromium` package (`make system-deps` installs it): no browser
is ever downloaded (`playwright install` is never run). A failing journey saves a screenshot and the
page's console under `.folio/browser-failures/<test>/`.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, Playwright, Response

DEBIAN_CHROMIUM = "/usr/bin/chromium"
# No sandbox (tests run as root in CI containers), no GPU, and nothing that phones home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_executable() -> str:
    """Debian's Chromium, or the one FOLIO_CHROMIUM names; fails the test with the install command
    when it is missing."""
    chromium = Path(os.environ.get("FOLIO_CHROMIUM", DEBIAN_CHROMIUM))
    if not chromium.exists():
        pytest.fail(f"{chromium} not found: run `sudo make system-deps` (Debian's chromium package)")
    return str(chromium)


async def launch_chromium(playwright: Playwright) -> Browser:
    """Chromium, headless, through Playwright."""
    return await playwright.chromium.launch(executable_path=chromium_executable(), args=list(CHROMIUM_ARGS))


@dataclass
class PageLog:
    """What the page printed to its console, and what it threw or failed to load."""

    lines: list[str] = field(default_factory=list)
    # (where, what): console errors (a refused Content-Security-Policy among them), uncaught exceptions
    # and failed loads of what a page needs (a script, a stylesheet, a fetch). A page that answers 4xx
    # (a refused form) is not an error of the page.
    errors: list[tuple[str, str]] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self._error(page.url, f"[pageerror] {error}"))
        page.on("response", self._response)
        page.on(
            "requestfailed",
            lambda request: self.lines.append(
                f"[requestfailed] {request.method} {request.url}: {request.failure}"
            ),
        )

    def errors_on(self, origin: str) -> list[str]:
        """The errors raised by pages or resources of `origin` (scheme://host:port/)."""
        return [what for where, what in self.errors if where.startswith(origin)]

    def _error(self, where: str, what: str) -> None:
        self.lines.append(what)
        self.errors.append((where, what))

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self._error(response.url, f"[{response.status}] {response.request.method} {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        line = f"[{message.type}] {message.text} ({where})"
        # Chrome's own line for every 4xx/5xx, documents included: _response judges those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self._error(where, line)
        else:
            self.lines.append(line)


async def save_failure(page: Page, log: PageLog, directory: Path, **texts: str) -> list[Path]:
    """The page's screenshot, its console log and each of `texts` (as NAME.log) in `directory`;
    returns the files written."""
    written = []
    screenshot = directory / "screenshot.png"
    try:
        await page.screenshot(path=screenshot, full_page=True)
        written.append(screenshot)
    except Error as error:  # a crashed or closed page has no picture; its log still says why
        log.lines.append(f"[screenshot failed] {error}")
    texts = {"console": f"url: {page.url}\n" + "\n".join(log.lines)} | texts
    return written + write_logs(directory, texts)


def write_logs(directory: Path, texts: dict[str, str]) -> list[Path]:
    """Each text as `directory`/NAME.log."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        written.append(directory / f"{name}.log")
        written[-1].write_text(text + "\n")
    return written


def failure_dir(root: Path, nodeid: str) -> Path:
    """A folder name for a test id, safe on every filesystem."""
    return root / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
