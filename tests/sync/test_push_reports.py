"""Reported deliveries at central against what central counted packed (issue 11, the one
"duplicated: 1" of bench/sync.py and bench/sync_chaos.py; docs/sync.md "Conflicts").

The path: the claims' keep-alive released a claim at central while the packer had just opened
the order under it (held ahead, no round trip), so central refused the first item scan
("released before this change reached central"); the bench, holding no claim now, wrote its
later ops without an epoch, which the fence lets through while nobody holds the order, and its
report-in shipped every item — the refused one too. The parcel left: the delivery is accepted
(a physical fact), and since it ships what central was told was not packed, the admin gets a
task."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sync.push_fixtures import (  # noqa: F401  (the push's fixtures: central, station, …)
    STATION,
    answers,
    claim_at,
    packed_at,
    push_central,
    push_central_template,
    push_station,
    push_station_template,
    same_shop,
    write_ops,
)

from stationd.core.audit import ItemUnpacked, PartialDelivery, Shipped
from stationd.store import central_claims
from stationd.store.tables import order_lines, sync_tasks
from stationd.sync.push import Pusher

pytestmark = pytest.mark.postgres


@pytest.fixture
def pusher(station, central):  # type: ignore[no-untyped-def]
    made = Pusher(station, central.url, timeout_s=5)
    yield made
    made.dispose()


def _line(store) -> int:  # type: ignore[no-untyped-def]
    with store.read() as conn:
        return conn.execute(select(order_lines.c.id)).scalar_one()


def _tasks(central) -> list[str]:  # type: ignore[no-untyped-def]
    with central.read() as conn:
        return list(conn.execute(select(sync_tasks.c.text)).scalars())


def test_r17_a_report_shipping_items_whose_scans_central_refused_leaves_the_admin_a_task(
    station, central, pusher, make_shop
):
    (order,) = same_shop(make_shop, station, central, quantity=2)
    line = _line(central)
    claim_at(central, order, epoch=1)
    first = write_ops(station, order, 1, epoch=1)
    pusher.push_all()
    # The keep-alive releases the claim at central while the packer scans under it.
    with central.write() as conn:
        assert central_claims.release(conn, STATION, [order]) == [order]
    second = write_ops(station, order, 1, epoch=1)
    # No claim at the bench any more: the report-in carries no epoch and ships both items.
    write_ops(station, order, 1, epoch=None, event=lambda _: Shipped(1, ("P-1",), {str(line): 2}))
    done = pusher.push_all()
    assert (done.sent, done.refused) == (2, 1)
    told = answers(station)
    assert told[first[0]] == ("accepted", None)
    assert told[second[0]][0] == "refused"
    # The parcel left with both items: central holds the physical fact, never more.
    with central.read() as conn:
        assert conn.execute(select(order_lines.c.packed, order_lines.c.delivered)).one() == (0, 2)
    assert _tasks(central) == [
        f"{STATION} reported a delivery of order {order} that does not fit central: line "
        "SKU-1 ships 2 with 1 packed at central, which refused 1 of this bench's scans of it."
    ]


def test_a_report_of_items_packed_and_accepted_leaves_no_task(station, central, pusher, make_shop):
    (order,) = same_shop(make_shop, station, central, quantity=2)
    line = _line(central)
    claim_at(central, order, epoch=1)
    write_ops(station, order, 2, epoch=1)
    write_ops(station, order, 1, epoch=1, event=lambda _: Shipped(1, ("P-1",), {str(line): 2}))
    assert pusher.push_all().refused == 0
    assert packed_at(central, order) == 0
    assert _tasks(central) == []


def test_a_scan_refused_then_taken_out_again_leaves_no_task(station, central, pusher, make_shop):
    """The packer took the refused item out again (its unpack refused too: nothing packed at
    central): the report ships only what central counted, nothing to decide."""
    (order,) = same_shop(make_shop, station, central, quantity=2)
    line = _line(central)
    claim_at(central, order, station="bench-b", epoch=2)  # held elsewhere: the scan is refused
    write_ops(station, order, 1, epoch=None)
    write_ops(station, order, 1, epoch=None, event=lambda _: ItemUnpacked(line))
    assert pusher.push_all().refused == 2
    claim_at(central, order, epoch=3)
    write_ops(station, order, 1, epoch=3)
    write_ops(
        station, order, 1, epoch=3, event=lambda _: PartialDelivery(1, ("P-1",), {str(line): 1})
    )
    assert pusher.push_all().refused == 0
    assert _tasks(central) == []
