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


#: Issue 12's wording: what a packer read that was wrong or awkward, per language.
NEVER_SAID = {
    "sv": [
        "En för mycket",
        "hör till orderna",
        "Nästa varor",
        "bryr sig inte",
        "igen för den före",
        "Preorder",
        "preorder",
        "Egen faktura",
        "egen faktura",
        "} öppen:",
        "finns tillgängliga",
    ],
    "nb": [
        "Én for mye",
        "akkebenk",
        "valgfritt",
        "igjen for den før",
        "Egen faktura",
        "egen faktura",
        "} åpen:",
    ],
}
#: Headers that read wrong alone ("Rett" is a dish; a verb or "It is" is no column name).
NEVER_A_HEADER = {"sv": ["Det är", "Rätta"], "nb": ["Det er", "Rett"]}


def said(language: str) -> list[str]:
    found = []
    for message in catalog(language):
        if message.id and message.string:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            found.extend(strings)
    return found


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_issue_12_wording_is_gone_from_the_catalogs(language):
    wrong = [
        f"{phrase!r} in {string!r}"
        for string in said(language)
        for phrase in NEVER_SAID[language]
        if phrase in string
    ]
    wrong += [
        f"{string!r} as a header" for string in said(language) if string in NEVER_A_HEADER[language]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("language", "others", "expected"),
    [
        ("sv", [1006], "Fel order: Termos hör till order 1006, inte 1042."),
        (
            "sv",
            [1006, 1341, 1397],
            "Fel order: Termos hör till order 1006, 1341 och 1397, inte 1042.",
        ),
        ("nb", [1006, 1341], "Feil ordre: Termos hører til ordrene 1006 og 1341, ikke 1042."),
        (
            "en",
            [1006, 1341, 1397],
            "Wrong order: Termos belongs to orders 1006, 1341 and 1397, not 1042.",
        ),
    ],
)
def test_r12_an_item_of_other_orders_names_them_as_a_sentence_lists(
    station, language, others, expected
):
    from stationd.core.barcodes import classify
    from stationd.core.bench import decide_scan
    from stationd.core.orders import Order, OrderLine, OrderStatus
    from stationd.kiosk.i18n import COOKIE, translate

    current = Order(
        id=1042,
        status=OrderStatus.PACKING,
        placed_at=None,  # type: ignore[arg-type]
        customer_name="",
        lines=[
            OrderLine(
                id=1,
                sku="A",
                name="Vantar",
                quantity=1,
                unit_price_minor=1,
                gtin="0" + "5901234123457",
            )
        ],
    )
    outcome = decide_scan(
        classify("4006381333931"), current, elsewhere={o: "Termos" for o in others}
    )
    with station.app.test_request_context(headers={"Cookie": f"{COOKIE}={language}"}):
        assert translate(outcome.message) == expected


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_a_sentence_stays_a_whole_sentence_in_translation(language):
    """Issue 12, defect 9: what is a sentence in English (a capital, a full stop) is one in
    Swedish and Norwegian too."""
    wrong = []
    for message in catalog(language):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if not ids[0] or not message.string:
            continue
        if not (ids[0][:1].isupper() and ids[0].endswith(".")):
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            starts = string[:1].isupper() or string[:1] in "{«”0123456789"
            if not starts or not string.endswith((".", "!", "?", "…")):
                wrong.append(f"{ids[0]!r} → {string!r}")
    assert not wrong, "\n".join(wrong)
