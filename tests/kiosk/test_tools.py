"""Tools → pack script (R8) in the kiosk: Run now, the live window over SSE, a stop shown with
where and why, past runs with their traces, and "why is order N not packing?"."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from stationd.store.tables import orders, packscript_runs, stock


def finish(station):
    # Waits for the run started by the request to end: its decide's child starts a Python of
    # its own, which takes seconds on a loaded machine.
    station.packscript.stop(timeout_s=120)
    assert not station.packscript.running


def text(response):
    return response.get_data(as_text=True)


@pytest.fixture
def stocked(station, make_shop):
    """Beside the fixture's orders: 2001 unpaid, 2002 short of stock, 2003 moves."""
    shop = make_shop(station.store)
    shop.product("B", on_hand=1, name="Vantar", number=2)
    shop.order([("B", 1)], order_id=2001, paid=False)
    shop.order([("B", 2)], order_id=2002)
    shop.order([("B", 1)], order_id=2003)
    return shop


def test_r8_run_now_runs_the_pack_script_and_shows_its_steps(client, station, stocked):
    response = client.post("/tools/packscript/run", headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in text(response)
    finish(station)
    page = text(client.get("/tools"))
    assert "Done: 2 of 4 orders moved to packing." in page
    assert "Waits: not paid. Reserves nothing." in page
    assert "SKU B is short: the order needs 2, 1 available." in page
    with station.store.read() as conn:
        moved = conn.execute(select(orders.c.id).where(orders.c.packscript_run_id.is_not(None)))
        assert sorted(moved.scalars()) == [1044, 2003]


def test_r8_run_now_by_plain_form_goes_back_to_the_tools_page(client, station):
    response = client.post("/tools/packscript/run")
    finish(station)
    assert response.status_code == 303 and response.location.endswith("/tools")


def test_r8_a_second_press_while_a_run_goes_says_so(client, station):
    with station.store.write() as conn:  # holds the database: the run waits in its transaction
        conn.execute(update(stock).values(on_hand=stock.c.on_hand))
        client.post("/tools/packscript/run")
        second = client.post("/tools/packscript/run", headers={"HX-Request": "true"})
        live = text(client.get("/tools/packscript/live"))
    finish(station)
    assert second.status_code == 409 and "A run is already going" in text(second)
    assert "Running since" in live


def test_r8_stop_ends_a_run_going_on_and_says_what_stays(client, station, stocked):
    with station.store.write() as conn:  # holds the database: the run waits to begin
        conn.execute(update(stock).values(on_hand=stock.c.on_hand))
        client.post("/tools/packscript/run")
        assert 'action="/tools/packscript/stop"' in text(client.get("/tools"))
        stopped = client.post("/tools/packscript/stop", headers={"HX-Request": "true"})
    finish(station)
    assert stopped.status_code == 200
    page = text(client.get("/tools"))
    assert "Stopped from Tools. The orders moved before stay in packing" in page
    assert 'action="/tools/packscript/stop"' not in page
    with station.store.read() as conn:
        assert conn.execute(select(packscript_runs.c.status, packscript_runs.c.moved)).all() == [
            ("stopped", 0)
        ]
        moved = conn.execute(select(orders.c.id).where(orders.c.packscript_run_id.is_not(None)))
        assert list(moved) == []
    again = client.post("/tools/packscript/stop", headers={"HX-Request": "true"})
    assert again.status_code == 409 and "No run is going at this station." in text(again)


def test_r17_run_now_names_the_station_where_a_run_goes(client, station):
    from stationd.clock import utcnow
    from stationd.store.packscript_activity import mark_running
    from stationd.store.packscript_runlock import holding_run_lock

    with station.store.write() as conn:
        mark_running(conn, "bench-7", utcnow())
    # bench-7's run holds the run lock, as a run does throughout.
    with holding_run_lock(station.store):
        response = client.post("/tools/packscript/run", headers={"HX-Request": "true"})
        assert response.status_code == 409
        assert "running at station bench-7" in text(response)
        assert "running at station bench-7" in text(client.get("/tools"))


def test_r8_a_stop_shows_where_it_stopped_and_the_error(client, station, stocked):
    with station.store.write() as conn:  # more reserved than on hand: corrupt stock
        conn.execute(update(stock).where(stock.c.sku == "B").values(reserved=3))
    client.post("/tools/packscript/run")
    finish(station)
    page = text(client.get("/tools"))
    assert 'role="alert"' in page
    assert (
        "The run stopped at order 2002: The stock of SKU B is negative (-2): "
        "more is reserved than is on hand." in page
    )
    run_id = station.packscript.live().run_id
    trace = text(client.get(f"/tools/packscript/runs/{run_id}"))
    assert "The run stopped at order 2002" in trace and "Stopped" in trace


def test_r8_past_runs_are_listed_with_counts_and_their_trace(client, station, stocked):
    client.post("/tools/packscript/run")
    finish(station)
    runs = text(client.get("/tools/packscript/runs"))
    assert 'id="run-1"' in runs and "By hand" in runs and "Done" in runs
    trace = text(client.get("/tools/packscript/runs/1"))
    assert "Not moved 2" in trace and "Moved to packing 2" in trace
    assert "4 orders match." in trace


def test_r8_a_forgotten_trace_says_so_and_how_long_traces_are_kept(client, station, stocked):
    for _ in range(2):
        client.post("/tools/packscript/run")
        finish(station)
    with station.store.write() as conn:
        conn.execute(update(packscript_runs).where(packscript_runs.c.id == 1).values(trace=None))
    page = text(client.get("/tools/packscript/runs/1"))
    assert "step-by-step trace is no longer kept" in page
    assert "traces are kept for 30 days" in page and "orders match" not in page
    assert "orders match" in text(client.get("/tools/packscript/runs/2"))
    client.set_cookie("stationd_lang", "sv")
    assert "loggar sparas i 30 dagar" in text(client.get("/tools/packscript/runs/1"))


def test_r8_the_trace_filters_one_order_or_the_orders_that_did_not_move(client, station, stocked):
    client.post("/tools/packscript/run")
    finish(station)
    one = text(client.get("/tools/packscript/runs/1?order=2002", headers={"HX-Request": "true"}))
    assert "<html" not in one and "1 order matches." in one
    assert "SKU B is short" in one and "2003" not in one
    stuck = text(client.get("/tools/packscript/runs/1?show=not_moved"))
    assert "2001" in stuck and "2002" in stuck and ">2003<" not in stuck
    none = text(client.get("/tools/packscript/runs/1?order=42"))
    assert "Run 1 did not look at order 42" in none


def test_r8_a_long_trace_comes_in_pages(client, station, make_shop):
    shop = make_shop(station.store)
    shop.product("C", on_hand=500, number=3)
    for n in range(120):
        shop.order([("C", 1)], order_id=5000 + n)
    client.post("/tools/packscript/run")
    finish(station)
    first = text(client.get("/tools/packscript/runs/1"))
    assert "Page 1 of 3" in first and ">5000<" in first and ">5060<" not in first
    last = text(client.get("/tools/packscript/runs/1?page=3"))
    assert "Page 3 of 3" in last and ">5119<" in last


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("show=everything", 400, "Unknown filter"),
        ("order=abc", 400, "whole number"),
        ("order=-3", 400, "whole number"),
        ("page=0", 400, "whole number"),
        ("page=x", 400, "whole number"),
    ],
)
def test_bad_trace_filters_are_a_4xx_with_a_sentence(client, station, query, status, says):
    client.post("/tools/packscript/run")
    finish(station)
    response = client.get(f"/tools/packscript/runs/1?{query}")
    assert response.status_code == status and says in text(response)


def test_an_unknown_run_is_a_404(client):
    response = client.get("/tools/packscript/runs/99")
    assert response.status_code == 404 and "There is no pack-script run 99" in text(response)


def test_r8_why_is_an_order_not_packing_answers_from_the_latest_run(client, station, stocked):
    before = text(client.get("/tools/packscript/why?order=2001", headers={"HX-Request": "true"}))
    assert "The pack script has not run yet" in before
    client.post("/tools/packscript/run")
    finish(station)
    unpaid = text(client.get("/tools/packscript/why?order=2001", headers={"HX-Request": "true"}))
    assert "Order 2001 is not paid yet" in unpaid and "<html" not in unpaid
    short = text(client.get("/tools/packscript/why?order=2002"))
    assert "<html" in short and "Order 2002 waits for stock: SKU B is short" in short
    assert "/tools/packscript/runs/1?order=2002" in short
    waiting = text(client.get("/tools/packscript/why?order=1043"))
    assert "marked waiting" in waiting
    assert "There is no order 777." in text(client.get("/tools/packscript/why?order=777"))


@pytest.mark.parametrize("query", ["", "order=", "order=10.5", "order=" + "9" * 30])
def test_why_without_a_good_order_number_is_a_400(client, query):
    response = client.get(f"/tools/packscript/why?{query}")
    assert response.status_code == 400 and "like 1042" in text(response)


def test_r8_the_live_window_streams_over_sse(client, station):
    response = client.get("/tools/packscript/events?since=-1", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks).startswith(b": connected")
    live = next(chunks).decode()
    assert live.startswith("event: live\n") and "The pack script has not run yet" in live
    assert next(chunks).decode().startswith("event: runs\n")
    station.stopping.set()
    response.close()


def test_run_durations_are_written_the_locales_way(client, station):
    client.post("/tools/packscript/run")
    finish(station)
    assert re.search(r">\d+\.\d s<", text(client.get("/tools/packscript/runs")))
    client.post("/language", data={"language": "sv", "next": "/tools"})
    assert re.search(r">\d+,\d s<", text(client.get("/tools/packscript/runs")))
