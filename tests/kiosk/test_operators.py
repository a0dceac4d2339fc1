"""Operators in the kiosk (issue 8): the admin list, sign-in by badge or PIN on the keypad,
sign-out, who is signed in in the navigation, the scan history of who packed what, the
required sign-in and the idle lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kiosk.conftest import kiosk_client
from sqlalchemy import select, update

from stationd.clock import utcnow
from stationd.core.operators import FREE_PIN_TRIES
from stationd.events import ScanRead
from stationd.store.tables import operators, scan_journal


def text(response):
    return response.get_data(as_text=True)


def add(client, name="Anna", badge="ANNA7", pin="4711"):
    response = client.post("/operators", data={"name": name, "badge": badge, "pin": pin})
    assert response.status_code == 303, text(response)
    with client.application.config["STATION"].store.read() as conn:
        return conn.execute(select(operators.c.id).where(operators.c.name == name)).scalar_one()


@pytest.fixture
def strict(make_station, make_shop):
    """A station that requires a sign-in and locks after five minutes idle."""
    station = make_station(name="strict", kiosk={"sign_in_required": True, "idle_lock_s": 300})
    shop = make_shop(station.store)
    shop.product("A", on_hand=5, number=1)
    shop.order([("A", 1)], status="packing", reserve=True, order_id=1042)
    yield station
    station.store.dispose()


def test_an_operator_is_added_with_the_pin_hashed_and_the_name_escaped(client, station):
    operator_id = add(client, name="<b>Åsa</b>", pin="4711")
    with station.store.read() as conn:
        row = conn.execute(select(operators)).mappings().one()
    assert row["id"] == operator_id and "4711" not in row["pin_hash"]
    page = text(client.get("/operators"))
    assert "&lt;b&gt;Åsa&lt;/b&gt;" in page and "<b>Åsa</b>" not in page
    assert "badge + PIN" in page


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({}, 400, "no name field"),
        ({"name": " ", "pin": "4711"}, 400, "needs a name"),
        ({"name": "Bo"}, 400, "a badge code, a PIN or both"),
        ({"name": "Bo", "pin": "12"}, 400, "4 to 8 digits"),
        ({"name": "Bo", "pin": "1111"}, 400, "too easy"),
        ({"name": "Bo", "badge": "bad code!"}, 400, "letters A–Z"),
        ({"name": "Bo", "badge": "op-anna7"}, 409, "already has that badge"),
    ],
)
def test_bad_operator_input_is_a_4xx_with_a_sentence(client, station, form, status, says):
    add(client)
    response = client.post("/operators", data=form, headers={"HX-Request": "true"})
    assert response.status_code == status and says in text(response)
    with station.store.read() as conn:
        assert len(conn.execute(select(operators.c.id)).all()) == 1


def test_an_operator_is_deactivated_and_activated_again(client, station):
    operator_id = add(client)
    response = client.post(
        f"/operators/{operator_id}/active", data={"active": "0"}, headers={"HX-Request": "true"}
    )
    assert "Inactive" in text(response) and ">Activate<" in text(response)
    assert client.post("/operators/99/active", data={"active": "0"}).status_code == 404
    assert (
        client.post(f"/operators/{operator_id}/active", data={"active": "yes"}).status_code == 400
    )


def test_a_badge_scanned_on_any_scanner_signs_in_and_shows_in_the_navigation(client, station):
    add(client)
    assert "</svg> Sign in</a>" in text(client.get("/queue"))
    outcome = station.bench.handle_scan(ScanRead("OP-ANNA7", None, "serial:/dev/ttyACM0"))
    assert outcome.ok
    page = text(client.get("/queue"))
    assert 'id="operator-chip" class="operator in"' in page and "</svg> Anna</a>" in page


def test_a_badge_typed_at_the_bench_signs_in_like_a_scan(client, station):
    add(client)
    response = client.post("/bench/scan", data={"code": "op-anna7"}, headers={"HX-Request": "true"})
    assert "Signed in: Anna." in text(response)
    assert station.operators.current().name == "Anna"


def test_the_sign_in_screen_takes_a_badge_and_goes_back(client, station):
    add(client)
    response = client.post("/operators/badge", data={"code": "OP-ANNA7", "next": "/bench"})
    assert response.status_code == 303 and response.location.endswith("/bench")
    assert station.operators.current().name == "Anna"


@pytest.mark.parametrize(
    ("code", "status", "says"),
    [("4006381333931", 400, "not an operator badge"), ("OP-NOBODY", 403, "no active operator")],
)
def test_the_badge_field_refuses_what_is_no_badge(client, station, code, status, says):
    add(client)
    response = client.post("/operators/badge", data={"code": code})
    assert response.status_code == status and says in text(response)
    assert station.operators.current() is None


def test_the_pin_keypad_signs_in_with_the_right_pin_only(client, station):
    operator_id = add(client)
    pad = text(
        client.get(f"/operators/signin/{operator_id}?next=/bench", headers={"HX-Request": "true"})
    )
    assert pad.count('data-digit="') == 11 and "PIN for Anna" in pad
    wrong = client.post(
        f"/operators/signin/{operator_id}", data={"pin": "0000"}, headers={"HX-Request": "true"}
    )
    assert wrong.status_code == 403 and "Wrong PIN." in text(wrong)
    assert station.operators.current() is None
    right = client.post(
        f"/operators/signin/{operator_id}",
        data={"pin": "4711", "next": "/bench"},
        headers={"HX-Request": "true"},
    )
    assert right.status_code == 204 and right.headers["HX-Redirect"] == "/bench"
    assert station.operators.current().name == "Anna"


def test_wrong_pins_are_rate_limited(client, station):
    operator_id = add(client)
    for _ in range(FREE_PIN_TRIES - 1):
        assert (
            client.post(f"/operators/signin/{operator_id}", data={"pin": "0000"}).status_code == 403
        )
    locked = client.post(f"/operators/signin/{operator_id}", data={"pin": "0000"})
    assert locked.status_code == 429 and "Too many wrong PINs: try again in 30 s." in text(locked)
    assert client.post(f"/operators/signin/{operator_id}", data={"pin": "4711"}).status_code == 429
    assert station.operators.current() is None


@pytest.mark.parametrize(
    ("url", "form", "status"),
    [
        ("/operators/signin/1", {}, 400),
        ("/operators/signin/1", {"pin": ""}, 400),
        ("/operators/signin/99", {"pin": "4711"}, 404),
        ("/operators/badge", {}, 400),
        ("/operators/idle", {"touch_idle_s": "soon"}, 400),
    ],
)
def test_bad_sign_in_input_is_a_4xx(client, station, url, form, status):
    add(client)
    assert client.post(url, data=form).status_code == status


def test_the_pin_pad_of_someone_without_a_pin_is_a_404(client):
    operator_id = add(client, pin="")
    assert client.get(f"/operators/signin/{operator_id}").status_code == 404


def test_sign_out(client, station):
    add(client)
    client.post("/operators/badge", data={"code": "OP-ANNA7"})
    response = client.post("/operators/signout", data={"next": "/bench"})
    assert response.status_code == 303 and "/operators/signin" in response.location
    assert station.operators.current() is None


def test_never_back_to_another_site_after_signing_in(client, station):
    add(client)
    response = client.post("/operators/badge", data={"code": "OP-ANNA7", "next": "//evil.example/"})
    assert response.location.endswith("/queue")


@pytest.mark.parametrize("target", ["/\\example.invalid/x", "/%5Cexample.invalid/x"])
def test_pin_sign_in_never_redirects_to_a_path_a_browser_reads_as_another_site(
    client, station, target
):
    # issue 10: `/\example.invalid/x` went out as HX-Redirect and Chromium left the station.
    operator_id = add(client)
    from urllib.parse import unquote

    response = client.post(
        f"/operators/signin/{operator_id}",
        data={"pin": "4711", "next": unquote(target)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/queue"


def test_scans_are_journaled_with_the_operator_and_shown_in_the_history(client, station):
    operator_id = add(client)
    client.post("/bench/scan", data={"code": "ORD-1042"})  # before anyone signed in
    client.post("/bench/scan", data={"code": "OP-ANNA7"})
    client.post("/bench/scan", data={"code": "CMD-DONE"})
    with station.store.read() as conn:
        journal = conn.execute(
            select(scan_journal.c.code, scan_journal.c.operator_id).order_by(scan_journal.c.id)
        ).all()
    assert journal == [("ORD-1042", None), ("OP-…", operator_id), ("CMD-DONE", operator_id)]
    history = text(
        client.get(
            f"/operators?part=history&operator={operator_id}", headers={"HX-Request": "true"}
        )
    )
    assert "CMD-DONE" in history and "ORD-1042" not in history and "<td>Anna</td>" in history
    by_order = text(client.get("/operators?order=1042"))
    assert "ORD-1042" in by_order and "<td>—</td>" in by_order
    assert client.get("/operators?operator=x").status_code == 400


def test_without_operators_nothing_asks_for_a_sign_in(tmp_path, strict):
    client = kiosk_client(strict)
    page = text(client.get("/bench"))
    assert client.get("/bench").status_code == 200
    assert 'data-idle-lock-s="0"' in page  # nobody to sign in as: no lock either
    assert 'class="operator none"' in page  # the way to the operators page


def test_a_required_sign_in_sends_every_page_to_the_sign_in_screen(strict):
    client = kiosk_client(strict)
    add(client)
    page = client.get("/queue")
    assert page.status_code == 303 and "/operators/signin?next=/queue" in page.location
    scan = client.post("/bench/scan", data={"code": "ORD-1042"}, headers={"HX-Request": "true"})
    assert scan.status_code == 204 and "/operators/signin" in scan.headers["HX-Redirect"]
    screen = text(client.get("/operators/signin?next=/queue"))
    assert "Scan your badge" in screen and "Continue without signing in" not in screen
    client.post("/operators/badge", data={"code": "OP-ANNA7"})
    assert client.get("/queue").status_code == 200


def test_idle_lock_after_no_touch_and_no_scan_signs_out_and_shows_the_lock(strict):
    client = kiosk_client(strict)
    add(client)
    client.post("/operators/badge", data={"code": "OP-ANNA7"})
    assert 'data-idle-lock-s="300"' in text(client.get("/bench"))
    # The badge scan just now counts as activity, whatever the screen says.
    busy = client.post("/operators/idle", data={"touch_idle_s": "400", "next": "/bench"})
    assert busy.json["lock"] is False and busy.json["retry_s"] > 290
    with strict.store.write() as conn:
        conn.execute(update(scan_journal).values(at=utcnow() - timedelta(minutes=6)))
    untouched = client.post("/operators/idle", data={"touch_idle_s": "100"})
    assert untouched.json == {"lock": False, "retry_s": 200.0}
    idle = client.post("/operators/idle", data={"touch_idle_s": "301", "next": "/bench"})
    assert idle.json["lock"] is True
    assert strict.operators.current() is None
    lock = text(client.get(idle.json["url"]))
    assert "<h1>Locked" in lock and 'data-next="/bench"' in lock


def test_idle_check_with_the_lock_off_is_a_409(client):
    add(client)
    response = client.post("/operators/idle", data={"touch_idle_s": "1000"})
    assert response.status_code == 409 and "idle lock is off" in text(response)


def test_who_is_signed_in_streams_over_sse(client, station):
    add(client)
    response = client.get("/operators/events?op=0", buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith(b": connected")
    station.bench.handle_scan(ScanRead("OP-ANNA7", None, "serial:/dev/ttyACM0"))
    chip = next(chunks).decode()
    assert chip.startswith("event: operator\n") and "Anna" in chip
    assert next(chunks).decode().startswith("event: signed_in\n")
    station.stopping.set()
    response.close()
