"""R17 at central (store.central_claims): one statement claims, the check on the locked row,
epochs that only grow, leases judged by central's clock, the admin's take-over."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from stationd.store import central_claims
from stationd.store.database import Store

pytestmark = pytest.mark.postgres

LEASE_S = 300


def _claim(central: Store, order_id: int, station: str, lease_s: float = LEASE_S):
    with central.write() as conn:
        return central_claims.claim(conn, order_id, station, lease_s=lease_s)


def test_r17_a_claim_is_won_once_and_its_holder_keeps_its_epoch(claims_central, make_shop):
    order = make_shop(claims_central).order([], status="packing")
    first = _claim(claims_central, order, "bench-a")
    again = _claim(claims_central, order, "bench-a")
    other = _claim(claims_central, order, "bench-b")
    assert first.won and again.won
    assert again.claim.epoch == first.claim.epoch
    assert not other.won
    assert other.claim.station == "bench-a"
    assert _claim(claims_central, 999_999, "bench-a").claim is None  # no such order


def test_r17_two_benches_racing_for_one_order_exactly_one_wins_each_round(
    claims_central, make_shop
):
    shop = make_shop(claims_central)
    rounds = 40
    orders = [shop.order([], status="packing") for _ in range(rounds)]
    epochs: list[int] = []
    for order in orders:
        start = threading.Barrier(2)
        answers: dict[str, object] = {}

        def race(station: str, order: int, start: threading.Barrier, answers: dict) -> None:
            start.wait()
            answers[station] = _claim(claims_central, order, station)

        threads = [
            threading.Thread(target=race, args=(s, order, start, answers))
            for s in ("bench-a", "bench-b")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [s for s, a in answers.items() if a.won]
        assert len(winners) == 1, answers
        loser = "bench-b" if winners == ["bench-a"] else "bench-a"
        assert answers[loser].claim.station == winners[0]  # the loser is told who holds it
        epochs.append(answers[winners[0]].claim.epoch)
    assert len(set(epochs)) == rounds  # every claim its own epoch


def test_r17_a_released_order_claimed_again_gets_a_higher_epoch(claims_central, make_shop):
    order = make_shop(claims_central).order([], status="packing")
    first = _claim(claims_central, order, "bench-a").claim
    with claims_central.write() as conn:
        assert central_claims.release(conn, "bench-b", [order]) == []  # not b's to release
        assert central_claims.release(conn, "bench-a", [order]) == [order]
    second = _claim(claims_central, order, "bench-a").claim
    assert second.epoch > first.epoch


def test_r17_a_lease_run_out_by_centrals_clock_is_taken_over_with_a_higher_epoch(
    claims_central, make_shop
):
    order = make_shop(claims_central).order([], status="packing")
    held = _claim(claims_central, order, "bench-a", lease_s=0.2).claim
    with claims_central.read() as conn:  # wait on central's clock, not ours
        conn.exec_driver_sql("SELECT pg_sleep(0.3)")
    taken = _claim(claims_central, order, "bench-b")
    assert taken.won and taken.claim.epoch > held.epoch
    with claims_central.write() as conn:
        # a's keep-alive comes too late: its claim is not renewed, b keeps the order
        assert central_claims.renew(conn, "bench-a", [order], lease_s=LEASE_S) == []
        assert central_claims.holders(conn, [order])[order].station == "bench-b"


def test_r17_the_clock_stepped_back_an_hour_on_a_station_decides_nothing(
    claims_central, make_shop, monkeypatch
):
    """Leases are central's now() + lease: a station whose clock jumped back an hour (a Pi
    without its clock battery) neither keeps a dead claim alive nor ends a live one."""
    import stationd.clock

    order = make_shop(claims_central).order([], status="packing")
    back = datetime.now(UTC) - timedelta(hours=1)
    monkeypatch.setattr(stationd.clock, "utcnow", lambda: back)
    held = _claim(claims_central, order, "bench-a").claim
    with claims_central.read() as conn:
        central_now = conn.exec_driver_sql("SELECT now()").scalar()
    assert held.lease_until >= central_now + timedelta(seconds=LEASE_S - 5)
    assert not _claim(claims_central, order, "bench-b").won  # still alive an hour "later"


def test_r17_claim_ahead_takes_the_oldest_free_packing_orders(claims_central, make_shop):
    shop = make_shop(claims_central)
    first, second, third, fourth = (shop.order([], status="packing") for _ in range(4))
    shop.order([], status="order")
    _claim(claims_central, first, "bench-b")
    with claims_central.write() as conn:
        ahead = central_claims.claim_ahead(conn, "bench-a", 2, lease_s=LEASE_S)
        assert sorted(c.order_id for c in ahead) == [second, third]
        more = central_claims.claim_ahead(conn, "bench-a", 5, lease_s=LEASE_S, skip=[second, third])
        assert [c.order_id for c in more] == [fourth]


def test_r17_the_admin_takes_over_an_order_from_a_dead_bench(claims_central, make_shop):
    order = make_shop(claims_central).order([], status="packing")
    dead = _claim(claims_central, order, "bench-a").claim
    with claims_central.write() as conn:
        freed = central_claims.take_over(conn, order)
        assert central_claims.renew(conn, "bench-a", [order], lease_s=LEASE_S) == []
    assert freed.epoch > dead.epoch and freed.station == central_claims.NOBODY
    taken = _claim(claims_central, order, "bench-b")
    assert taken.won and taken.claim.epoch > freed.epoch


def test_r17_a_renewal_does_not_wait_for_a_claim_the_benchs_push_holds_locked(
    claims_central, make_shop
):
    """The push locks an order's claim row while it applies the order's ops (its group holds
    it until it commits); the keep-alive's renewal, waiting for it, made a lock cycle with the
    group. It passes the locked claim by — still this bench's, renewed next time — and renews
    the rest."""
    shop = make_shop(claims_central)
    busy, free = (shop.order([], status="packing") for _ in range(2))
    held = {o: _claim(claims_central, o, "bench-a").claim for o in (busy, free)}
    with claims_central.engine.connect() as push:
        push.exec_driver_sql(
            "SELECT 1 FROM order_claims WHERE order_id = %(id)s FOR UPDATE", {"id": busy}
        )
        with claims_central.write() as conn:
            # without the skip, this renewal waits for the push: the lock timeout says so
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            renewed = central_claims.renew(conn, "bench-a", [busy, free], lease_s=LEASE_S * 2)
        push.rollback()
    by_order = {c.order_id: c for c in renewed}
    assert sorted(by_order) == [busy, free]
    assert by_order[busy] == held[busy]  # as it stood, to be renewed by the next pass
    assert by_order[free].epoch == held[free].epoch
    assert by_order[free].lease_until > held[free].lease_until


def test_r17_claim_of_an_order_cancelled_at_central_is_refused(claims_central, make_shop):
    """An order no longer packing at central (taken back to `order`, or shipped) is never
    claimed — not even by the bench that holds its claim — and the answer names its status;
    one statement, nothing written."""
    shop = make_shop(claims_central)
    taken_back, shipped, held = (shop.order([], status="packing") for _ in range(3))
    _claim(claims_central, held, "bench-a")
    with claims_central.write() as conn:
        conn.exec_driver_sql(
            f"UPDATE orders SET status = 'order' WHERE id IN ({taken_back}, {held})"
        )
        conn.exec_driver_sql(f"UPDATE orders SET status = 'shipped' WHERE id = {shipped}")
    for order, status in ((taken_back, "order"), (shipped, "shipped"), (held, "order")):
        answer = _claim(claims_central, order, "bench-a")
        assert (answer.won, answer.status, answer.not_packing) == (False, status, True)
    with claims_central.read() as conn:
        claimed = central_claims.holders(conn, [taken_back, shipped, held])
    assert sorted(claimed) == [held]  # the old claim is left as it was, not renewed
    assert _claim(claims_central, 999_999, "bench-a").status is None  # no such order
