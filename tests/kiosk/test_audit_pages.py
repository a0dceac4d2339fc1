"""The typed audit log and the typed pack-script trace as a packer reads them (R8, the order
page's history), in Swedish, Norwegian and English: words from the catalogs, facts from the
types, nothing parsed back from English."""

from __future__ import annotations

import json
import re
import zlib
from datetime import UTC, datetime
from html import unescape

import pytest
from sqlalchemy import select, update

from stationd.core import audit as a
from stationd.kiosk.i18n import COOKIE
from stationd.store.audit import record_event
from stationd.store.tables import events, order_lines, packscript_runs, stock


def read(response) -> str:  # type: ignore[no-untyped-def]
    """The page as the person reads it: no tags, entities undone, blanks collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.fixture
def history(station):
    """Order 1042's audit trail: a few typed events, and one of a kind no version knows."""
    with station.store.write() as conn:
        line_id = conn.execute(
            select(order_lines.c.id).where(order_lines.c.order_id == 1042)
        ).scalar_one()
        for n, event in enumerate(
            [
                a.WaitingSet(True),
                a.LineQuantityChanged(line_id, "A", 3, 2, released=1),
                a.ItemPacked(line_id, "7310000000017", "item"),
                a.ParcelBooked("SIM-00042", "bench", "simulated", 1),
                a.Shipped(9, ("PKG-1", "PKG-2"), {str(line_id): 2}),
                a.JobHeld(77, "receipt", "receipt"),
            ]
        ):
            at = datetime(2026, 12, 1, 10, n, tzinfo=UTC)
            record_event(conn, event, station="bench-1", order_id=1042, at=at)
        conn.execute(
            events.insert().values(
                key="from-a-later-version",
                at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
                station="bench-9",
                kind="order.teleported",
                order_id=1042,
                payload='{"to": "Mars"}',
            )
        )


SAID = {
    "en": [
        "Set waiting: kept out of the outbound queue.",
        "Quantity of A changed from 3 to 2. 1 back in stock.",
        "A packed (scanned).",
        "Parcel id SIM-00042 fetched from simulated.",
        "Reported in and shipped (PKG-1, PKG-2).",
        "Print job 77 held.",
    ],
    "sv": [
        "Satt som väntande: hålls utanför utleveranskön.",
        "Antalet för A ändrat från 3 till 2. 1 tillbaka i lager.",
        "A packad (skannad).",
        "Kolli-id SIM-00042 hämtat från simulated.",
        "Inrapporterad och skickad (PKG-1, PKG-2).",
        "Utskriftsjobb 77 pausat.",
    ],
    "nb": [
        "Satt til venter: holdes utenfor utleveringskøen.",
        "Antallet for A endret fra 3 til 2. 1 tilbake på lager.",
        "A pakket (skannet).",
        "Kolli-ID SIM-00042 hentet fra simulated.",
        "Rapportert inn og sendt (PKG-1, PKG-2).",
        "Utskriftsjobb 77 satt på vent.",
    ],
}


@pytest.mark.parametrize("language", ["en", "sv", "nb"])
def test_r2_r3_the_order_history_is_told_from_the_types_in_the_packers_language(
    client, history, language
):
    client.set_cookie(COOKIE, language)
    page = read(client.get("/orders/1042"))
    for sentence in SAID[language]:
        assert sentence in page
    # newest first, and a kind this version does not know shows as its kind and fields
    assert page.index("order.teleported (to: Mars)") < page.index(SAID[language][-1])
    assert page.index(SAID[language][-1]) < page.index(SAID[language][0])
    if language != "en":
        assert not any(sentence in page for sentence in SAID["en"])


@pytest.fixture
def stocked(station, make_shop):
    """Beside the fixture's orders: 2001 short of stock, 2002 moves, 2003's SKU has no stock
    record."""
    shop = make_shop(station.store)
    shop.product("B", on_hand=1, name="Vantar", number=2)
    shop.order([("B", 2)], order_id=2001)
    shop.order([("B", 1)], order_id=2002)
    shop.product("C", on_hand=0, name="Ingen", number=3)
    with station.store.write() as conn:  # C is sold, but nobody ever counted its stock
        conn.execute(stock.delete().where(stock.c.sku == "C"))
    shop.order([("C", 1)], order_id=2003)
    return shop


TRACE = {
    "en": [
        "SKU B is short: the order needs 2, 1 available.",
        "SKU C has no stock record.",
    ],
    "sv": [
        "Artikel B räcker inte: ordern behöver 2, 1 finns i lager.",
        "Artikel C saknar lagerpost.",
    ],
    "nb": [
        "Vare B mangler: ordren trenger 2, 1 finnes på lager.",
        "Vare C har ingen lagerpost.",
    ],
}


def run_pack_script(client, station) -> int:  # type: ignore[no-untyped-def]
    client.post("/tools/packscript/run")
    station.packscript.stop(timeout_s=120)  # waits for the run the request started (a child starts)
    return station.packscript.live().run_id


@pytest.mark.parametrize("language", ["en", "sv", "nb"])
def test_r8_the_trace_words_typed_reasons_in_the_packers_language(
    client, station, stocked, language
):
    run_id = run_pack_script(client, station)
    client.set_cookie(COOKIE, language)
    trace = read(client.get(f"/tools/packscript/runs/{run_id}"))
    for sentence in TRACE[language]:
        assert sentence in trace
    if language != "en":
        assert "SKU B: needs 2, 1 available" not in trace  # not the pack script's English
        assert not any(sentence in trace for sentence in TRACE["en"])


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The run stopped at order 2001: The stock of SKU B is negative (-1)"),
        ("sv", "Körningen stoppade vid order 2001: Lagret för artikel B är negativt (-1)"),
        ("nb", "Kjøringen stoppet ved ordre 2001: Lageret for vare B er negativt (-1)"),
    ],
)
def test_r8_a_stop_is_worded_from_its_typed_reason(client, station, stocked, language, said):
    with station.store.write() as conn:  # more reserved than on hand: corrupt stock
        conn.execute(update(stock).where(stock.c.sku == "B").values(reserved=2))
    run_id = run_pack_script(client, station)
    client.set_cookie(COOKIE, language)
    assert said in read(client.get(f"/tools/packscript/runs/{run_id}"))
    assert said in read(client.get("/tools"))


def test_r8_a_trace_stored_before_reasons_were_typed_shows_its_words(client, station, stocked):
    run_id = run_pack_script(client, station)
    old = {  # the trace as the previous version stored it: reasons in English only
        "v": 2,
        "orders": [2001, 1],
        "outcomes": "ss",
        "reasons": {"0": "SKU B: needs 2, 1 available", "1": "SKU C has no stock record"},
        "stopped": None,
    }
    blob = zlib.compress(json.dumps(old).encode())
    with station.store.write() as conn:
        conn.execute(
            update(packscript_runs).where(packscript_runs.c.id == run_id).values(trace=blob)
        )
    client.set_cookie(COOKIE, "sv")
    trace = read(client.get(f"/tools/packscript/runs/{run_id}"))
    assert "SKU B: needs 2, 1 available" in trace and "SKU C has no stock record" in trace
