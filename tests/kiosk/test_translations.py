"""Swedish and Norwegian catalogs cover every sentence the kiosk and core show, and keep their
placeholders: a packer never meets an English sentence or a `{id}` left unfilled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "stationd" / "kiosk" / "translations"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "sentence": None,
    "sentence_in": ((1, "c"), 2),
    "marked": None,
    "ngettext": (1, 2),
}
PLACEHOLDER = re.compile(r"\{(\w+)\}|%\((\w+)\)s")


def source_messages() -> dict[tuple[str, str | None], str]:
    """Every translatable msgid in the package, with its context (None for most: a paper's
    caption that reads otherwise than the kiosk's has one) and where it was first seen."""
    with (TRANSLATIONS / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[tuple[str, str | None], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=KEYWORDS
    ):
        # A plural message is kept under its singular, as catalogs key it.
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), f"{filename}:{lineno}")
    return found


def catalog(language: str):  # type: ignore[no-untyped-def]
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def translated(message) -> bool:  # type: ignore[no-untyped-def]
    """Every form of the message has its translation (a plural one has several)."""
    if message is None:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_every_sentence_has_a_translation(language):
    messages = catalog(language)
    missing = [
        f"{where}: {msgid!r}"
        for (msgid, context), where in source_messages().items()
        if not translated(messages.get(msgid, context))
    ]
    assert not missing, f"{len(missing)} untranslated in {language}:\n" + "\n".join(missing[:40])


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_translations_keep_their_placeholders(language):
    wrong = []
    for message in catalog(language):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = placeholders(ids[-1]) - {"num"}
        for string in strings:
            if placeholders(string) - {"num"} != expected:
                wrong.append(f"{ids[0]!r} → {string!r}")
    assert not wrong, "\n".join(wrong)
