"""What the packer and the admin see of sync (issue 11), page by page: the bench's banner
(offline since, changes waiting, the catch-up), a refused op's reason on the order's history,
and the Tools page's "Sync" section — the facts of `stationd sync status`, the refusals and
central's open conflicts. A single bench shows none of it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kiosk.conftest import kiosk_client
from sqlalchemy import insert, select, update
from sync.push_fixtures import claim_at, same_shop, write_ops

from stationd.events import Bus, SyncState
from stationd.services.sync_watch import SyncWatch
from stationd.store.database import Store
from stationd.store.tables import events, sync_ops, sync_tasks

#: Nothing listens on port 9 of loopback: central is away at once.
AWAY = "postgresql+psycopg://postgres@127.0.0.1:9/central"


class Push:
    """The push as the watch reads it (sync.push.PushWorker's attributes): set by the test."""

    def __init__(self) -> None:
        self.offline_since: datetime | None = None
        self.backlog = 0

    def waiting(self) -> int:
        return self.backlog


class Pull:
    def __init__(self) -> None:
        self.away_since: datetime | None = None


def test_issue_11_the_watch_tells_offline_the_changes_waiting_and_the_catch_up():
    bus, push, pull = Bus(), Push(), Pull()
    watch = SyncWatch(bus, push, pull)
    with bus.queue(SyncState, maxsize=20) as told:
        watch.tell()
        assert told.get(timeout=1) == SyncState(None, 0, 0)
        since = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
        pull.away_since = since  # the pull noticed first (the push had nothing to send)
        push.backlog = 2
        watch.tell()
        assert told.get(timeout=1) == SyncState(since, 2, 2)
        push.offline_since = datetime(2026, 12, 7, 9, 31, tzinfo=UTC)
        push.backlog = 3
        watch.tell()
        assert told.get(timeout=1) == SyncState(since, 3, 3)  # since the first to notice
        pull.away_since = None  # central is back for the pull; the push has not sent yet
        watch.tell()
        assert watch.current == SyncState(since, 3, 3)  # offline until the push answers
        push.offline_since = None
        push.backlog = 1
        watch.tell()
        assert told.get(timeout=1) == SyncState(None, 1, 3)  # the catch-up
        push.backlog = 0
        watch.tell()
        assert told.get(timeout=1) == SyncState(None, 0, 0)  # done: no banner


def test_issue_11_the_bench_banner_says_offline_since_and_the_changes_waiting(make_station):
    station = make_station(name="bench-1", language="sv", sync={"central_url": AWAY})
    station.push.offline_since = datetime(2026, 12, 7, 8, 5, tzinfo=UTC)
    station.sync_watch.tell()
    body = kiosk_client(station).get("/bench/fragment").get_data(as_text=True)
    at = station.settings.station.tz
    local = datetime(2026, 12, 7, 8, 5, tzinfo=UTC).astimezone(at).strftime("%H:%M")
    assert f"Offline sedan {local} — 0 ändringar väntar." in body


def test_issue_11_a_single_bench_has_no_sync_banner_nor_section(make_station):
    station = make_station(name="bench-1")
    assert station.sync_watch is None
    client = kiosk_client(station)
    assert "Offline" not in client.get("/bench/fragment").get_data(as_text=True)
    assert 'id="sync"' not in client.get("/tools").get_data(as_text=True)


@pytest.mark.postgres
def test_issue_11_a_refused_op_reads_on_the_order_history_and_the_tools_sync_section(
    own_postgres, make_station, make_shop
):
    if not own_postgres.running():
        own_postgres.start()
    central = Store(own_postgres.fresh_database())
    central.upgrade()
    station = make_station(name="bench-1", sync={"central_url": central.url})
    try:
        (order,) = same_shop(make_shop, station.store, central)
        station.push.pusher.begin()  # where this station's push starts (before its ops)
        # bench-b holds the order at central: this bench's op under an old epoch is stale.
        claim_at(central, order, station="bench-b", epoch=5)
        write_ops(station.store, order, 1, epoch=4, name="bench-1")
        done = station.push.pusher.push_all()
        assert (done.sent, done.refused) == (1, 1)
        with central.write() as conn:
            conn.execute(
                insert(sync_tasks).values(
                    created_at=datetime.now(UTC),
                    order_id=order,
                    station="bench-b",
                    kind="labelled_after_cancel",
                    text="bench-b packed order 1000 after its label: check the parcel.",
                )
            )
        client = kiosk_client(station)
        reason = "is stale: bench-b holds it now (epoch 5)"
        history = client.get(f"/orders/{order}").get_data(as_text=True)
        assert "Central refused this change:" in history and reason in history
        tools = client.get("/tools").get_data(as_text=True)
        assert 'id="sync"' in tools
        assert '<dd class="backlog">0</dd>' in tools
        assert '<dd class="refused-count">1</dd>' in tools
        assert reason in tools
        assert "bench-b packed order 1000 after its label: check the parcel." in tools
    finally:
        station.push.pusher.dispose()
        if station.central_claims is not None:
            station.central_claims.link.dispose()
        central.dispose()


def test_r17_offline_the_bench_says_why_it_cannot_open_an_order_it_does_not_hold(
    make_station, make_shop
):
    station = make_station(name="bench-1", language="sv", sync={"central_url": AWAY})
    try:
        shop = make_shop(station.store)  # the copy holds the order; the bench holds no claim
        shop.product("A", on_hand=5, name="Termos blå", number=1)
        shop.order([("A", 2)], status="packing", reserve=True, order_id=1042)
        client = kiosk_client(station)
        said = client.post("/bench/scan", data={"code": "ORD-1042"}, headers={"HX-Request": "true"})
        body = said.get_data(as_text=True)
        assert "Centralen går inte att nå" in body and "1042" in body, body
        assert station.bench.current_order() is None
    finally:
        station.central_claims.link.dispose()


@pytest.mark.postgres
def test_issue_11_the_tools_sync_section_is_live_on_the_pages_one_stream(
    pg_url, make_station, monkeypatch
):
    from sse_stream import next_message, open_stream

    from stationd.kiosk import tools_sync
    from stationd.store.outbox import write_notes

    # Central answers (the page reads its pack-script runs there); the push is told away.
    station = make_station(name="bench-1", language="sv", sync={"central_url": pg_url})
    try:
        client = kiosk_client(station)
        page = client.get("/tools").get_data(as_text=True)
        # One stream for the page; the section is drawn inside it, by its "sync" messages.
        assert page.count("sse-connect=") == 1
        assert page.index("sse-connect=") < page.index('sse-swap="sync"') < page.index('id="sync"')
        assert "offline sedan" not in page
        response, stream = open_stream(client, "/tools/packscript/events?since=0")

        # Central goes away: the watch tells it, and the open page says so at once.
        since = datetime(2026, 12, 7, 8, 5, tzinfo=UTC)
        station.push.offline_since = since
        station.sync_watch.tell()
        local = since.astimezone(station.settings.station.tz).strftime("%H:%M")
        body = next_message(stream, "sync")
        assert 'id="sync"' in body and "offline sedan" in body and local in body, body

        # What no event announces (the push's last error, here) shows at the next look.
        monkeypatch.setattr(tools_sync, "RECHECK_S", 0.0)
        with station.store.write() as conn:
            write_notes(
                conn, {"last_error": "central said no", "last_error_at": "2026-12-07T08:06:00"}
            )
        body = next_message(stream, "sync")
        assert "central said no" in body, body
        station.stopping.set()
        response.close()
    finally:
        station.push.pusher.dispose()
        station.central_claims.link.dispose()
        station.central_store.dispose()


@pytest.mark.postgres
def test_issue_11_a_refusal_reads_in_the_packers_language_also_when_pushed_again(
    pg_store, make_station, make_shop
):
    central = pg_store
    station = make_station(name="bench-1", language="sv", sync={"central_url": central.url})
    try:
        (order,) = same_shop(make_shop, station.store, central)
        station.push.pusher.begin()
        claim_at(central, order, station="bench-b", epoch=5)  # bench-1's epoch 4 is stale
        (key,) = write_ops(station.store, order, 1, epoch=4, name="bench-1")
        assert station.push.pusher.push_all().refused == 1
        swedish = (
            f"bench-1s anspråk på order {order} (epok 4) är inaktuellt: bench-b håller den nu "
            "(epok 5). Ändringen gjordes inte."
        )
        client = kiosk_client(station)
        history = client.get(f"/orders/{order}").get_data(as_text=True)
        assert "Centralen avvisade ändringen:" in history and swedish in history, history
        assert "is stale" not in history
        assert swedish in client.get("/tools").get_data(as_text=True)

        # Central keeps the sentence with its facts: the stored answer to a push of the same op
        # again (an ack lost) reads in Swedish too; its English stays for logs and the CLI.
        with station.store.write() as conn:
            conn.execute(
                update(events)
                .where(events.c.key == key)
                .values(sent_at=None, outcome=None, outcome_reason=None, outcome_reason_data=None)
            )
        assert station.push.pusher.push_all().refused == 1
        history = client.get(f"/orders/{order}").get_data(as_text=True)
        assert swedish in history and "is stale" not in history
        with central.read() as conn:
            english = conn.execute(
                select(sync_ops.c.reason).where(sync_ops.c.key == key)
            ).scalar_one()
        assert english.startswith(f"bench-1's claim on order {order} (epoch 4) is stale")
    finally:
        station.push.pusher.dispose()
        station.central_claims.link.dispose()
        station.central_store.dispose()


@pytest.mark.postgres
def test_issue_11_a_conflict_task_reads_in_the_admins_language_on_tools_sync(
    pg_store, make_station, make_shop
):
    """A task central's rules leave for the admin (here: a delivery that does not fit central,
    for two reasons) is kept with its facts and shown on Tools → Sync in the kiosk's language,
    each of its clauses too — not in the English central wrote it in."""
    from stationd.core.audit import Shipped
    from stationd.store import central_claims
    from stationd.store.tables import order_lines

    central = pg_store
    station = make_station(name="bench-1", language="sv", sync={"central_url": central.url})
    try:
        (order,) = same_shop(make_shop, station.store, central, quantity=3)
        with central.read() as conn:
            line = conn.execute(select(order_lines.c.id)).scalar_one()
        station.push.pusher.begin()
        claim_at(central, order, station="bench-1", epoch=1)
        write_ops(station.store, order, 1, epoch=1, name="bench-1")  # accepted: 1 packed
        station.push.pusher.push_all()
        with central.write() as conn:  # the claim released at central under the packer
            central_claims.release(conn, "bench-1", [order])
        write_ops(station.store, order, 1, epoch=1, name="bench-1")  # refused: released
        # The parcel leaves with 2 of the 3: a physical fact, with a task for the admin.
        write_ops(
            station.store,
            order,
            1,
            epoch=None,
            name="bench-1",
            event=lambda _: Shipped(1, ("P-1",), {str(line): 2}),
        )
        assert station.push.pusher.push_all().refused == 1
        tools = kiosk_client(station).get("/tools").get_data(as_text=True)
        swedish = (
            f"bench-1 rapporterade en leverans av order {order} som inte stämmer med centralen: "
            "rad SKU-1 skickar 2 med 1 packade på centralen, som avvisade 1 av denna bänks "
            "skanningar av den; bänken skickade resten, centralen har mer på den."
        )
        assert swedish in tools, tools
        assert "does not fit central" not in tools
    finally:
        station.push.pusher.dispose()
        station.central_claims.link.dispose()
        station.central_store.dispose()
