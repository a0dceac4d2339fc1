"""Headless Chromium (Debian's package) through Playwright, for the kiosk's browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
#: The README's pictures. A browser test that takes one names it (`readme=`); with
#: STATIOND_README_SCREENS=1 it writes it there anew, so no picture is made by hand.
DOCS = ROOT / "docs"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


#: Chromium's console line for an answer of 4xx: no script error where a test makes a refusal.
REFUSED = "Failed to load resource: the server responded with a status of 4"


def screenshot(page, name: str, readme: str | None = None) -> Path:  # type: ignore[no-untyped-def]
    """The screen as the packer sees it, test-artifacts/<name>.png; `readme`: it is also the
    README's docs/<readme>.png, written there when STATIOND_README_SCREENS=1."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target))
    if readme is not None and os.environ.get("STATIOND_README_SCREENS") == "1":
        shutil.copyfile(target, DOCS / f"{readme}.png")
    return target


@contextmanager
def open_page(  # type: ignore[no-untyped-def]
    browser, width: int = 800, height: int = 480, *, refusals: bool = False
) -> Iterator:
    """A fresh page at the touchscreen's size; a script error on it fails the test.

    `refusals`: the test touches what the station refuses (a 4xx answer the page shows), so
    Chromium's network line for it is expected; every other console error still fails."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []

    def console(msg) -> None:  # type: ignore[no-untyped-def]
        if msg.type == "error" and not (refusals and msg.text.startswith(REFUSED)):
            errors.append(msg.text)

    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", console)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"errors in the browser: {errors}"
