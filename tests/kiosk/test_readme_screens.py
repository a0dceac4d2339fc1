"""The README's pictures: every one it shows is there, a screenshot at the 800×480 touchscreen,
every page of the kiosk has one (docs/<page>.png), and each is taken by a browser test, which
writes it anew with STATIOND_README_SCREENS=1 (browser_support.screenshot): none is made by
hand, so they show the pages as the code draws them now."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TESTS = ROOT / "tests"


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


def taken_by_tests() -> set[str]:
    """The README pictures the browser tests take: `readme="name"`, or a test's README_PAGES."""
    names: set[str] = set()
    for test in TESTS.rglob("*.py"):
        source = test.read_text(encoding="utf-8")
        names |= set(re.findall(r'readme="([\w-]+)"', source))
        pages = re.search(r"README_PAGES = \{([^}]*)\}", source)
        if pages:
            names |= set(re.findall(r'"([\w-]+)"', pages.group(1)))
    return names


def test_every_picture_in_the_readme_is_taken_by_a_browser_test():
    shown = {link.removeprefix("docs/").removesuffix(".png") for link in pictures()}
    untaken = shown - taken_by_tests()
    assert not untaken, f"no browser test takes the README's {sorted(untaken)}"
