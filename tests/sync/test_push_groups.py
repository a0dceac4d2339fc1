"""A group of pushed ops (store.central_op_groups.apply_group) is applied set-based — its scans'
counts and inbox rows in one statement — and every op still gets the outcome it gets alone:
the same answers, the same counts and the same inbox rows as the ops pushed one at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from sync.push_fixtures import (  # noqa: F401  (the push's fixtures: central, station, …)
    answers,
    claim_at,
    empty_central,
    packed_at,
    push_central,
    push_central_template,
    push_station,
    push_station_template,
    same_shop,
    write_ops,
)

from stationd.core.audit import ItemUnpacked, ParcelIdAdded, SignedIn
from stationd.store.database import Store
from stationd.store.tables import events, order_lines, parcel_ids, sync_ops

pytestmark = pytest.mark.postgres


@pytest.fixture
def second_central(push_central_template: tuple[str, str]) -> Iterator[Store]:  # noqa: F811
    """Another empty central, to push the same ops to one at a time."""
    yield from empty_central(push_central_template)


def _pushed(station: Store, central: Store, group: int) -> dict[str, tuple]:
    """Push the station's whole outbox to `central` in groups of `group`; what each op was
    answered (the station's note of it)."""
    from stationd.sync.push import Pusher

    with station.write() as conn:  # as a station that never pushed them
        conn.execute(update(events).values(sent_at=None, outcome=None, outcome_reason=None))
    pusher = Pusher(station, central.url, timeout_s=10, group=group)
    try:
        pusher.push_all()
    finally:
        pusher.dispose()
    return answers(station)


def _central_state(central: Store, orders: list[int]) -> tuple:
    with central.read() as conn:
        lines = conn.execute(
            select(order_lines.c.order_id, order_lines.c.packed)
            .where(order_lines.c.order_id.in_(orders))
            .order_by(order_lines.c.id)
        ).all()
        inbox = conn.execute(
            select(sync_ops.c.key, sync_ops.c.outcome, sync_ops.c.reason).order_by(sync_ops.c.key)
        ).all()
        parcels = conn.execute(select(parcel_ids.c.parcel_id).order_by(parcel_ids.c.id)).all()
        feed = conn.execute(text("SELECT count(*) FROM sync_changes")).scalar_one()
    return [tuple(r) for r in lines], [tuple(r) for r in inbox], [tuple(r) for r in parcels], feed


def test_a_groups_ops_each_get_the_outcome_they_get_pushed_one_at_a_time(
    station, central, second_central, make_shop
):
    first, other = same_shop(make_shop, station, central, second_central, orders=2, quantity=3)
    for at in (central, second_central):
        claim_at(at, first)
        claim_at(at, other, station="bench-b", epoch=7)  # another bench's: fenced
    with station.read() as conn:
        line = conn.execute(
            select(order_lines.c.id).where(order_lines.c.order_id == first)
        ).scalar_one()
    keys = write_ops(station, first, 2)  # packed 2 of 3
    keys += write_ops(station, first, 3, event=lambda _: ItemUnpacked(line, "", "item"))
    keys += write_ops(station, first, 1, event=lambda _: SignedIn(1, "badge"), epoch=None)
    keys += write_ops(station, first, 4)  # 0 → 3, the fourth one too many
    keys += write_ops(station, other, 1)  # under bench-b's claim
    keys += write_ops(station, first, 1, event=lambda _: ParcelIdAdded("PKG-1", "typed"))
    keys += write_ops(station, first, 1, epoch=2)  # a stale epoch
    keys += write_ops(station, first, 1, event=lambda _: ItemUnpacked(line, "", "item"))
    one_by_one = _pushed(station, second_central, group=1)
    grouped = _pushed(station, central, group=20)
    assert [grouped[k] for k in keys] == [one_by_one[k] for k in keys]
    outcomes = [grouped[k][0] for k in keys]
    assert outcomes.count("refused") >= 3  # the one too many, bench-b's, the stale epoch
    assert packed_at(central, first) == packed_at(second_central, first) == 2
    got, alone = (
        _central_state(central, [first, other]),
        _central_state(second_central, [first, other]),
    )
    assert got[:3] == alone[:3]  # counts, inbox rows, parcel ids
    assert got[3] < alone[3]  # the change feed: a row per statement, fewer statements
