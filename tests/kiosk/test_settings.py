"""Settings → own statuses (R5) through Flask's test client: the list with the orders using
each, create, rename and delete-while-unused, with a 4xx sentence for every bad input."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select, update

from stationd.store.tables import events, orders, own_statuses

HX = {"HX-Request": "true"}


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def statuses(store) -> list[tuple[str, str]]:
    with store.read() as conn:
        rows = conn.execute(select(own_statuses.c.code, own_statuses.c.name).order_by("code"))
        return [tuple(r) for r in rows]


def status_id(store, code: str) -> int:
    with store.read() as conn:
        return conn.execute(
            select(own_statuses.c.id).where(own_statuses.c.code == code)
        ).scalar_one()


def event_kinds(store) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(events.c.kind).order_by(events.c.id)).scalars())


def test_r5_create_an_own_status_and_see_it_listed(client, station):
    response = client.post(
        "/settings/own-statuses",
        data={"code": " backorder ", "name": "Restorder <b>!</b>"},
        headers=HX,
    )
    assert response.status_code == 200
    page = text_of(response)
    assert "Own status BACKORDER created." in page and "<html" not in response.get_data(
        as_text=True
    )
    assert statuses(station.store) == [("BACKORDER", "Restorder <b>!</b>")]
    assert "<b>!</b>" not in response.get_data(as_text=True)
    assert event_kinds(station.store) == ["own_status.created"]
    plain = client.post("/settings/own-statuses", data={"code": "GIFT", "name": "Present"})
    assert plain.status_code == 303 and plain.location.endswith("/settings")
    listed = client.get("/settings").get_data(as_text=True)  # codes stand in their fields
    assert listed.index('value="BACKORDER"') < listed.index('value="GIFT"')


@pytest.mark.parametrize(
    ("code", "name", "sentence"),
    [
        ("", "Present", "A status code is 1 to 16 letters, digits, '-' or '_'"),
        ("TWO WORDS", "Present", "A status code is 1 to 16 letters"),
        ("X" * 17, "Present", "A status code is 1 to 16 letters"),
        ("GIFT", "", "A status name is 1 to 80 characters."),
        ("GIFT", "n" * 81, "A status name is 1 to 80 characters."),
        ("vip", "Again", "The status code VIP is already in use."),
    ],
)
def test_r5_a_bad_or_taken_code_is_refused_with_the_sentence(client, station, code, name, sentence):
    client.post("/settings/own-statuses", data={"code": "VIP", "name": "Stamkund"})
    plain = client.post("/settings/own-statuses", data={"code": code, "name": name})
    assert plain.status_code == 400 and sentence in text_of(plain)
    assert f'value="{code}"' in plain.get_data(as_text=True)  # what was typed stays
    htmx = client.post("/settings/own-statuses", data={"code": code, "name": name}, headers=HX)
    assert htmx.status_code == 400 and 'role="alert"' in htmx.get_data(as_text=True)
    assert statuses(station.store) == [("VIP", "Stamkund")]


def test_r5_a_form_without_its_fields_is_a_400(client):
    assert client.post("/settings/own-statuses", data={}).status_code == 400
    assert client.post("/settings/own-statuses/1", data={"code": "X"}).status_code == 400


def test_r5_rename_is_checked_and_written_with_its_event(client, station):
    client.post("/settings/own-statuses", data={"code": "GIFT", "name": "Present"})
    client.post("/settings/own-statuses", data={"code": "VIP", "name": "Stamkund"})
    gift = status_id(station.store, "GIFT")
    taken = client.post(f"/settings/own-statuses/{gift}", data={"code": "vip", "name": "x"})
    assert taken.status_code == 400 and "The status code VIP is already in use." in text_of(taken)
    same = client.post(
        f"/settings/own-statuses/{gift}", data={"code": "GIFT", "name": "Gåva"}, headers=HX
    )
    assert same.status_code == 200 and "GIFT – Gåva" in text_of(same)
    assert statuses(station.store) == [("GIFT", "Gåva"), ("VIP", "Stamkund")]
    assert event_kinds(station.store)[-1] == "own_status.renamed"
    assert (
        client.post("/settings/own-statuses/999", data={"code": "A", "name": "B"}).status_code
        == 404
    )


def test_r5_delete_is_refused_while_orders_carry_it_and_done_when_none_do(client, station):
    client.post("/settings/own-statuses", data={"code": "GIFT", "name": "Present"})
    gift = status_id(station.store, "GIFT")
    with station.store.write() as conn:
        conn.execute(update(orders).where(orders.c.id.in_([1042, 1044])).values(own_status_id=gift))
    page = client.get("/settings")
    html = page.get_data(as_text=True)
    assert "On 2 orders: can't be deleted." in text_of(page)
    assert re.search(r'class="danger" disabled>', html)
    assert f'href="/orders?extended=1&amp;own={gift}"' in html  # the count opens those orders
    refused = client.post(f"/settings/own-statuses/{gift}/delete", headers=HX)
    assert refused.status_code == 409
    assert "GIFT is on 2 order(s): take it off them before deleting it." in text_of(refused)
    plain = client.post(f"/settings/own-statuses/{gift}/delete")
    assert plain.status_code == 409 and "take it off them" in text_of(plain)
    assert statuses(station.store) == [("GIFT", "Present")]
    for order_id in (1042, 1044):
        client.post(f"/orders/{order_id}/own-status", data={"own_status": ""})
    done = client.post(f"/settings/own-statuses/{gift}/delete", headers=HX)
    assert done.status_code == 200 and "Own status GIFT deleted." in text_of(done)
    assert statuses(station.store) == []
    assert event_kinds(station.store)[-1] == "own_status.deleted"
    assert client.post(f"/settings/own-statuses/{gift}/delete").status_code == 404


def test_r5_settings_changes_need_the_csrf_token(station):
    client = station.app.test_client()
    response = client.post("/settings/own-statuses", data={"code": "GIFT", "name": "Present"})
    assert response.status_code == 403 and statuses(station.store) == []
