"""Headless Chromium (Debian's package) through Playwright, for the kiosk's browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
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


@contextmanager
def open_page(browser, width: int = 800, height: int = 480) -> Iterator:  # type: ignore[no-untyped-def]
    """A fresh page at the touchscreen's size; a script error on it fails the test."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"errors in the browser: {errors}"
