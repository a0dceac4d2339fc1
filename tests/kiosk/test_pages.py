"""The kiosk's routes through Flask's test client: what the packer sees, and a 4xx with a
sentence (never a 500, never a traceback) for every kind of bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stationd.store.tables import order_lines


def test_root_goes_to_the_outbound_queue(client):
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/queue")


def test_r9_queue_page_lists_packing_orders_not_waiting(client):
    page = client.get("/queue").get_data(as_text=True)
    assert "order-1042" in page
    assert "order-1043" not in page  # waiting (R3)
    assert "order-1044" not in page  # not packing yet
    assert "1 order to pack" in page
    assert "htmx-2.0.11.min.js" in page  # served by the station, no CDN


def test_customer_text_is_escaped(client):
    page = client.get("/queue").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Öberg" in page
    assert "Ring &amp; fråga" in page


def test_htmx_request_gets_the_fragment_plain_request_the_page(client):
    fragment = client.get("/queue", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "order-1042" in fragment
    assert "<html" in client.get("/queue").get_data(as_text=True)


def test_queue_page_number_garbage_shows_page_one(client):
    response = client.get("/queue?page=abc")
    assert response.status_code == 200 and "order-1042" in response.get_data(as_text=True)


def test_r12_typed_code_opens_and_packs_like_a_scan(client, station):
    opened = client.post("/bench/scan", data={"code": "ORD-1042"}, headers={"HX-Request": "1"})
    assert "Order 1042 open" in opened.get_data(as_text=True)
    packed = client.post(
        "/bench/scan", data={"code": " 7300000000011 "}, headers={"HX-Request": "1"}
    )
    html = packed.get_data(as_text=True)
    assert "1 / 2" in html and "Termos &lt;b&gt;blå&lt;/b&gt;" in html
    with station.store.read() as conn:
        packed_count = select(order_lines.c.packed).where(order_lines.c.order_id == 1042)
        assert conn.execute(packed_count).scalar_one() == 1


def test_plain_form_post_redirects_back_to_the_bench(client):
    response = client.post("/bench/scan", data={"code": "ORD-1042"})
    assert response.status_code == 303 and response.location.endswith("/bench")
    assert "Order 1042" in client.get("/bench").get_data(as_text=True)


def test_form_without_a_code_field_is_a_400_with_a_sentence(client, station):
    response = client.post("/bench/scan", data={})
    assert response.status_code == 400
    assert "no &#39;code&#39; field" in response.get_data(as_text=True)
    with station.store.read() as conn:
        assert conn.execute(select(order_lines.c.packed)).scalars().all() == [0, 0, 0]


@pytest.mark.parametrize(
    ("code", "says"),
    [("   ", "empty"), ("9" * 300, "long")],
)
def test_empty_or_overlong_typed_code_is_a_red_outcome_like_a_scan(client, station, code, says):
    client.post("/bench/scan", data={"code": "ORD-1042"})
    response = client.post("/bench/scan", data={"code": code}, headers={"HX-Request": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'class="outcome error"' in html
    assert says in html.lower()
    with station.store.read() as conn:
        assert conn.execute(select(order_lines.c.packed)).scalars().all() == [0, 0, 0]


def test_typed_gs1_code_keeps_its_group_separators(client, station):
    client.post("/bench/scan", data={"code": "ORD-1042"})
    gs1 = "\x1d0107300000000011\x1d10LOT7"
    html = client.post("/bench/scan", data={"code": gs1}, headers={"HX-Request": "1"})
    assert "Packed Termos" in html.get_data(as_text=True)


def test_unknown_barcode_in_the_kiosk_is_shown_red(client):
    client.post("/bench/scan", data={"code": "ORD-1042"})
    html = client.post(
        "/bench/scan", data={"code": "5901234123458"}, headers={"HX-Request": "1"}
    ).get_data(as_text=True)
    assert 'class="outcome error"' in html and "check digit" in html


def test_unknown_page_is_a_404_page_not_a_traceback(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)


def test_oversized_post_is_refused(client):
    response = client.post("/bench/scan", data={"code": "x" * 100_000})
    assert response.status_code == 413


def test_sse_stream_is_event_stream_without_buffering(client, station):
    response = client.get("/events/bench", buffered=False)
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    first = next(response.response)
    assert first.startswith(b": connected")
    station.stopping.set()
    response.close()


def test_lan_kiosk_needs_its_token(make_station):
    station = make_station(
        language="sv", kiosk={"host": "0.0.0.0", "token": "s3cret-token-of-sixteen"}
    )
    client = station.app.test_client()
    lan = {"REMOTE_ADDR": "192.168.1.50"}
    assert client.get("/queue", environ_base=lan).status_code == 403
    assert client.get("/queue?token=wrong", environ_base=lan).status_code == 403
    assert client.get("/queue?token=s3cret-token-of-sixteen", environ_base=lan).status_code == 200
    # The token once in the address, then the cookie carries it to the next page.
    assert client.get("/bench", environ_base=lan).status_code == 200
    fresh = station.app.test_client()
    assert fresh.get("/queue").status_code == 200  # the touchscreen itself, on loopback
    station.store.dispose()
