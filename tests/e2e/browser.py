"""Debian's headless Chromium driven by Playwright: log in to the frontend, look, take pictures.

No browser is downloaded: Playwright launches /usr/bin/chromium from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
import re
from tempfile import TemporaryDirectory

from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# --headless is added by Playwright, --user-data-dir by the persistent context (a fresh one).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@contextmanager
def open_page(width: int = 1280, height: int = 900) -> Iterator[Page]:
    """One page in headless Chromium with a fresh profile (so never already logged in)."""
    with (
        TemporaryDirectory(prefix="chromium-profile-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            locale="en-US",
            timezone_id="UTC",
            color_scheme="light",
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            context.close()


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Through the login page, as a person would; ends on the default dashboard."""
    page.goto(f"{base_url}/")
    expect(page).to_have_url(re.compile(r"/auth/authorize"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    # The app replaces its URL a few times after the code exchange: poll it, not navigations.
    expect(page).to_have_url(re.compile(r"^(?!.*(/auth/|auth_callback)).*$"))
    expect(page.locator("ha-sidebar")).to_be_visible()


def open_device_page(
    page: Page, base_url: str, device_id: str, device_name: str
) -> None:
    """Settings -> Devices -> the device, waiting until its name is shown."""
    page.goto(f"{base_url}/config/devices/device/{device_id}")
    expect(page.get_by_text(device_name).first).to_be_visible()


def expect_texts(page: Page, texts: list[str]) -> None:
    """Every text visible somewhere on the page (Playwright's locators pierce shadow roots)."""
    for text in texts:
        expect(page.get_by_text(text, exact=True).first).to_be_visible()


def settle_and_capture(page: Page, path: Path) -> None:
    """Let charts and icons finish drawing, then save a PNG of the viewport."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
