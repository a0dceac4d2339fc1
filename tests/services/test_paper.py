"""Paper in its language (issue 9 point 5): the captions of labels, pick lists, receipts,
invoices and test pages are core's sentences, said with the kiosk's catalogs — one catalog, and
Norwegian is `nb` on paper as everywhere."""

from __future__ import annotations

import re
from pathlib import Path

from stationd.catalogs import CATALOGS, LANGUAGES, say
from stationd.config import Settings
from stationd.core.labels import Receiver, Sender, ShippingLabel
from stationd.core.paper_words import ITEM_COUNT, PAPER_LANGUAGES
from stationd.core.text import sentence
from stationd.services.paper import label_in_language

ROOT = Path(__file__).resolve().parents[2]
LABEL = ShippingLabel(
    Sender("Butiken AB"),
    Receiver("Kåre Ødegård", "Storgata 7", "0150", "Oslo", "NO"),
    order_id=1042,
    parcel_id="PKG-0001",
)


def test_r16_label_captions_come_in_the_station_languages_with_english_as_fallback():
    assert label_in_language(LABEL, "sv").captions["from"] == "Från"
    assert label_in_language(LABEL, "nb").captions["to"] == "Til"
    assert label_in_language(LABEL, "fi").captions == label_in_language(LABEL, "en").captions


def test_a_papers_caption_and_the_kiosks_same_english_are_translated_apart():
    # The pick list's "Items" counts them; the kiosk's column "Items" names them.
    assert say(ITEM_COUNT, "sv") == "Antal artiklar"
    assert say(sentence("Items"), "sv") == "Varor"
    assert say(ITEM_COUNT, "nb") == "Antall varer"
    assert say(ITEM_COUNT, "en") == "Items"


def test_norwegian_is_nb_in_every_language_table():
    catalogs = {path.name for path in CATALOGS.iterdir() if path.is_dir()}
    assert catalogs == {"sv", "nb"}
    assert set(LANGUAGES) == set(PAPER_LANGUAGES) == {"sv", "nb", "en"}
    assert Settings().station.language in LANGUAGES


def test_no_language_code_no_in_the_code():
    """`no` is Norwegian's macrolanguage code; the station says `nb` (Bokmål). The XKB
    keyboard layout `no` is a layout's name and stays (its lines name no language)."""
    language_code_no = re.compile(r"""["']no["']""")
    nearby_language = re.compile(r"""lang|["'](sv|nb|en)["']""")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "stationd").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if language_code_no.search(line) and nearby_language.search(line)
    ]
    assert not found, "\n".join(found)
