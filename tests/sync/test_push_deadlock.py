"""Push meets a deadlock at central (issue 11): benches' groups of ops lock orders and stock
rows in the order their ops came, so two benches (or a bench and the admin) can wait on each
other; PostgreSQL breaks the cycle by aborting one transaction. That is no outage: the push
applies the group again, an op a transaction (one op's locks make no cycle with a group's),
and every op is answered at once — not backed off from as if central were away."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sync.push_fixtures import (  # noqa: F401  (the push's fixtures: central, station, …)
    answers,
    claim_at,
    inbox_count,
    packed_at,
    push_central,
    push_central_template,
    push_station,
    push_station_template,
    same_shop,
    write_ops,
)

from stationd.sync.push import Pusher

pytestmark = pytest.mark.postgres


def test_r17_a_deadlock_at_central_rolls_the_group_back_and_every_op_is_applied_once(
    station, central, make_shop
):
    first, second = same_shop(make_shop, station, central, orders=2)
    for order in (first, second):
        claim_at(central, order)
    keys = write_ops(station, first, 1) + write_ops(station, second, 1)
    other = create_engine(central.url, isolation_level="AUTOCOMMIT")
    blocked = threading.Event()

    def admin() -> None:
        """Holds the second order, waits until the push waits for it, then wants the first
        (which the push's group holds): a cycle, which PostgreSQL breaks on the push's side."""
        with other.connect() as conn:
            conn.execute(text("BEGIN"))
            # the push's session finds the deadlock (1 s), not this one
            conn.execute(text("SET LOCAL deadlock_timeout = '20s'"))
            conn.execute(text("SELECT 1 FROM orders WHERE id = :id FOR UPDATE"), {"id": second})
            end = time.monotonic() + 30
            while time.monotonic() < end:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks"
                        " WHERE NOT granted AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                if waiting:
                    break
                time.sleep(0.02)
            blocked.set()
            conn.execute(text("SELECT 1 FROM orders WHERE id = :id FOR UPDATE"), {"id": first})
            conn.execute(text("COMMIT"))

    thread = threading.Thread(target=admin)
    thread.start()
    pusher = Pusher(station, central.url, timeout_s=30)
    try:
        done = pusher.push_round()
    finally:
        thread.join(timeout=60)
        pusher.dispose()
        other.dispose()
    assert blocked.is_set()
    assert done.sent == 2 and done.refused == 0
    assert {answers(station)[k][0] for k in keys} == {"accepted"}
    assert inbox_count(central) == 2
    assert packed_at(central, first) == 1 and packed_at(central, second) == 1
