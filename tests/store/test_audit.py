"""The audit log's writer and reader (store.audit) on SQLite and PostgreSQL, the outbox, and
migration 0003 carrying old rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import insert, select, text

from stationd.core import audit as a
from stationd.store.audit import mark_sent, read_events, record_event, unsent_events
from stationd.store.tables import events

#: One of every kind, with every field set (tuples and mappings too).
EVERY_KIND: list[a.AuditEvent] = [
    a.WaitingSet(True),
    a.OwnStatusSet(3, "VIP", "Stamkund"),
    a.LineQuantityChanged(11, "A-1", 2, 1, released=1),
    a.LineRemoved(11, "A-1", 2, released=2),
    a.LineAdded(12, "B-2", 3, 9900),
    a.PackScriptMoved(5, (1001, 1002)),
    a.OrdersImported("webshop", (1001, 1002)),
    a.OrderImportUpdated("webshop", "WEB-7", "order", kept=1, removed=1, added=2),
    a.ItemPacked(11, "7310000000017", "item"),
    a.ItemUnpacked(11, "7310000000017", "touch"),
    a.ParcelStarted(2),
    a.PackedPartial({"11": 1}),
    a.Packed(2),
    a.LabelsPrinted(("PKG-1", "PKG-2"), (40, 41)),
    a.CommandSheetPrinted(42, "receipt"),
    a.ParcelIdAdded("PKG-1", "typed"),
    a.ParcelBooked("SIM-0001", "bench", "simulated", 1),
    a.ParcelIdRemoved("PKG-1"),
    a.PartialDelivery(7, ("PKG-1",), {"11": 1}),
    a.Shipped(8, ("PKG-2", "PKG-3"), {"11": 1, "12": 3}),
    a.DocumentQueued("picklist", "receipt", 43, again=True),
    a.TestPageQueued("labels", 44),
    a.JobHeld(45, "receipt", "receipt"),
    a.JobReleased(45, "receipt", "receipt"),
    a.JobDropped(45, "receipt", "receipt"),
    a.JobReprinted(45, "receipt", "receipt", new_job_id=46),
    a.OwnStatusCreated(3, "VIP", "Stamkund"),
    a.OwnStatusRenamed(3, "VIP", "Stamkund", "GULD", "Guldkund", orders=4),
    a.OwnStatusDeleted(3, "GULD", "Guldkund"),
    a.OperatorCreated(1, "Åsa"),
    a.OperatorActivated(1),
    a.OperatorDeactivated(1),
    a.SignedIn(1, "pin"),
    a.SignedOut("idle", 1),
    a.WrongPinEntered(1, 3),
    a.DemoCreated(2026),
]


def test_the_samples_cover_every_kind():
    assert {type(e) for e in EVERY_KIND} == set(a.EVENT_KINDS.values())


def test_every_kind_round_trips_through_writer_and_reader(store):
    at = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    with store.write() as conn:
        keys = [
            record_event(conn, event, station="bench-1", order_id=1000 + n, at=at, operator_id=None)
            for n, event in enumerate(EVERY_KIND)
        ]
    with store.read() as conn:
        back = read_events(conn)
        kinds = conn.execute(select(events.c.kind).order_by(events.c.id)).scalars().all()
    assert [row.event for row in back] == EVERY_KIND
    assert kinds == [type(e).kind for e in EVERY_KIND]  # the stored kind strings as before
    assert [row.key for row in back] == keys and len(set(keys)) == len(keys)
    assert [row.order_id for row in back] == [1000 + n for n in range(len(EVERY_KIND))]
    assert {(row.station, row.at, row.sent_at) for row in back} == {("bench-1", at, None)}


def test_an_order_reads_its_own_events_newest_first(store):
    with store.write() as conn:
        record_event(conn, a.WaitingSet(True), station="s", order_id=1)
        record_event(conn, a.WaitingSet(False), station="s", order_id=2)
        record_event(conn, a.WaitingSet(False), station="s", order_id=1)
    with store.read() as conn:
        mine = read_events(conn, order_id=1, newest_first=True)
    assert [row.event for row in mine] == [a.WaitingSet(False), a.WaitingSet(True)]


def test_an_unknown_or_broken_row_reads_back_typed_as_unknown(store):
    with store.write() as conn:
        conn.execute(
            insert(events),
            [
                {"key": "k1", "at": datetime(2026, 1, 1, tzinfo=UTC), "station": "s",
                 "kind": "order.teleported", "payload": '{"to": "Mars"}'},
                {"key": "k2", "at": datetime(2026, 1, 2, tzinfo=UTC), "station": "s",
                 "kind": "order.waiting", "payload": "not json"},
            ],
        )  # fmt: skip
    with store.read() as conn:
        back = [row.event for row in read_events(conn)]
    assert back == [
        a.UnknownEvent("order.teleported", {"to": "Mars"}),
        a.UnknownEvent("order.waiting", {"text": "not json"}),
    ]


def test_the_log_is_an_outbox_each_event_sent_once(store):
    with store.write() as conn:
        first = record_event(conn, a.DemoCreated(1), station="s")
        second = record_event(conn, a.DemoCreated(2), station="s")
        given = record_event(conn, a.DemoCreated(3), station="s", key="from-elsewhere")
    assert given == "from-elsewhere"
    with store.read() as conn:
        assert [row.key for row in unsent_events(conn)] == [first, second, given]
    sent = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
    with store.write() as conn:
        assert mark_sent(conn, [first, given], at=sent) == 2
        assert mark_sent(conn, [first], at=datetime(2027, 1, 1, tzinfo=UTC)) == 0  # sent already
    with store.read() as conn:
        assert [row.key for row in unsent_events(conn)] == [second]
        assert {row.key: row.sent_at for row in read_events(conn)} == {
            first: sent,
            second: None,
            given: sent,
        }


def test_migration_0003_carries_old_rows_into_the_typed_shapes(tmp_path):
    from alembic import command
    from alembic.config import Config

    from stationd.store.database import MIGRATIONS, Store, head_revision

    store = Store(f"sqlite:///{tmp_path / 'old.sqlite'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    old_rows = [
        ("order.line_quantity", {"line_id": 11, "sku": "A-1", "from": 2, "to": 1, "released": 1}),
        (
            "own_status.renamed",
            {"id": 3, "from": {"code": "VIP", "name": "Stamkund"},
             "to": {"code": "GULD", "name": "Guldkund"}, "orders": 4},
        ),
        ("order.waiting", {"waiting": True}),
        ("operator.signed_out", {"how": "pin"}),  # before it named the operator
        ("print.held", {"job_id": 45, "printer": "receipt", "document": "receipt"}),
        ("order.teleported", {"to": "Mars"}),
    ]  # fmt: skip
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        for n, (kind, payload) in enumerate(old_rows):
            conn.execute(
                text(
                    "INSERT INTO events (key, at, station, kind, order_id, payload) "
                    "VALUES (:key, '2026-11-01 10:00:00', 'bench-1', :kind, 1000, :payload)"
                ),
                {"key": f"old-{n}", "kind": kind, "payload": json.dumps(payload)},
            )
    store.upgrade()
    assert store.revision() == head_revision()
    with store.read() as conn:
        back = read_events(conn)
    store.dispose()
    assert [row.event for row in back] == [
        a.LineQuantityChanged(11, "A-1", 2, 1, released=1),
        a.OwnStatusRenamed(3, "VIP", "Stamkund", "GULD", "Guldkund", orders=4),
        a.WaitingSet(True),
        a.SignedOut("pin"),
        a.JobHeld(45, "receipt", "receipt"),
        a.UnknownEvent("order.teleported", {"to": "Mars"}),
    ]
    assert [row.key for row in back] == [f"old-{n}" for n in range(len(old_rows))]
    assert {row.sent_at for row in back} == {None}  # old rows wait in the outbox too

    with store.engine.begin() as conn:  # and back down: the old shapes again
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
        payloads = conn.execute(text("SELECT payload FROM events ORDER BY id")).scalars().all()
    store.dispose()
    assert [json.loads(p) for p in payloads] == [payload for _kind, payload in old_rows]
