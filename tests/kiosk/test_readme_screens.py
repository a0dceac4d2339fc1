"""The README's pictures: every one it shows is there, a screenshot at the 800×480 touchscreen,
and every page of the kiosk has one (docs/<page>.png, copied from the browser tests'
test-artifacts/)."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def pictures() -> list[str]:
    return re.findall(r"!\[[^\]]+\]\(([^)\s]+)\)", README.read_text(encoding="utf-8"))


def test_every_picture_in_the_readme_is_an_800x480_screenshot_in_docs():
    shown = pictures()
    assert shown
    for link in shown:
        assert link.startswith("docs/") and link.endswith(".png"), link
        path = ROOT / link
        assert path.is_file(), f"README shows {link}, which is not there"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (800, 480), (link, image.size)


def test_every_kiosk_page_has_its_screenshot_in_the_readme(station):
    pages = sorted(
        endpoint.removesuffix(".page")
        for endpoint in station.app.view_functions
        if endpoint.endswith(".page")
    )
    assert {"queue", "bench", "shipout"} <= set(pages)
    missing = [page for page in pages if f"docs/{page}.png" not in pictures()]
    assert not missing, f"no screenshot in the README of {missing}"
