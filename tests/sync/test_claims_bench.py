"""R17 for synced benches (services.central_claims): each bench packs against its own copy and
claims at a real central PostgreSQL; a TCP proxy between one bench and central cuts or stalls
the network. What is checked is what the packers see and what the rows say: which bench
opened the order, the epochs on the audit events, who central says holds the order."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sync.claims_support import TcpProxy, Warehouse, proxy_to

from stationd.events import Bus, ScanRead
from stationd.services.bench import BenchService
from stationd.services.central_claims import CentralClaims
from stationd.store import central_claims
from stationd.store.central_link import CentralLink
from stationd.store.tables import events, order_claims

pytestmark = pytest.mark.postgres

LEASE_S = 300
TIMEOUT_S = 1.0


class Bench:
    """One station: its copy, its bench use case with `CentralClaims`, and what it was told."""

    def __init__(self, house: Warehouse, name: str, url: str, **claims_args: object) -> None:
        self.name = name
        self.store = house.copy_for(name)
        self.told: list[tuple[int, str]] = []
        args = {"lease_s": LEASE_S, "claim_ahead": 0, **claims_args}
        self.claims = CentralClaims(
            CentralLink(url, timeout_s=TIMEOUT_S),
            self.store,
            name,
            on_lost=lambda order, said: self.told.append((order, str(said))),
            **args,  # type: ignore[arg-type]
        )
        self.bench = BenchService(self.store, Bus(), name, claims=self.claims)
        self.eans = house.eans

    def scan(self, code: str):
        return self.bench.handle_scan(ScanRead(code, None, "serial:test"))

    def open(self, order_id: int):
        return self.scan(f"ORD-{order_id}")

    def epochs(self, order_id: int) -> list[int | None]:
        """The epoch on each audit event this bench wrote for the order, oldest first."""
        with self.store.read() as conn:
            return list(
                conn.execute(
                    select(events.c.epoch)
                    .where(events.c.order_id == order_id)
                    .order_by(events.c.id)
                ).scalars()
            )

    def holds(self) -> dict[int, int]:
        with self.store.read() as conn:
            return dict(
                conn.execute(
                    select(order_claims.c.order_id, order_claims.c.epoch).where(
                        order_claims.c.station == self.name
                    )
                ).all()
            )


@pytest.fixture
def house(claims_central, make_shop, tmp_path) -> Iterator[Warehouse]:
    house = Warehouse(claims_central, tmp_path, make_shop)
    yield house
    house.close()


@pytest.fixture
def proxy(claims_central) -> Iterator[TcpProxy]:
    with proxy_to(claims_central.url) as proxy:
        yield proxy


@pytest.fixture
def benches(house, proxy, claims_central) -> Iterator[dict[str, Bench]]:
    """bench-a reaches central through the proxy; bench-b straight."""
    made: dict[str, Bench] = {}

    def make(name: str, through_proxy: bool = False, **args: object) -> Bench:
        url = proxy.url_for(claims_central.url) if through_proxy else claims_central.url
        made[name] = Bench(house, name, url, **args)
        return made[name]

    yield make  # type: ignore[misc]
    for bench in made.values():
        bench.claims.link.dispose()


def holder_at_central(house: Warehouse, order_id: int) -> central_claims.Claim | None:
    with house.central.read() as conn:
        return central_claims.holders(conn, [order_id]).get(order_id)


def test_r17_a_bench_opens_an_order_claimed_at_central_and_its_events_carry_the_epoch(
    house, benches
):
    a, b = benches("bench-a"), benches("bench-b")
    assert a.open(1000).opened
    refused = b.open(1000)
    assert not refused.ok
    assert refused.message == (
        "Order 1000 is being packed at bench-a; two benches never pack one order."
    )
    assert a.scan(a.eans["A"]).ok
    claim = holder_at_central(house, 1000)
    assert claim.station == "bench-a"
    assert a.holds() == {1000: claim.epoch}
    assert a.epochs(1000) == [claim.epoch]
    assert b.epochs(1000) == []


def test_r17_two_benches_racing_for_one_order_exactly_one_opens_it_each_round(house, benches):
    a, b = benches("bench-a"), benches("bench-b")
    for order_id in range(1000, 1000 + house.orders):
        start = threading.Barrier(2)
        opened: dict[str, bool] = {}

        def race(bench: Bench, order_id: int, start: threading.Barrier, opened: dict) -> None:
            start.wait()
            opened[bench.name] = bench.open(order_id).opened

        threads = [threading.Thread(target=race, args=(x, order_id, start, opened)) for x in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [name for name, won in opened.items() if won]
        assert len(winners) == 1, opened
        assert holder_at_central(house, order_id).station == winners[0]


@pytest.mark.parametrize("fault", ["cut", "stall", "stall_replies"])
def test_r17_a_partition_during_a_claim_never_lets_both_benches_open_the_order(
    house, benches, proxy, fault
):
    """The claim fails with a clear outcome or succeeds — and whichever it was, once the
    network is back exactly one bench has the order."""
    a, b = benches("bench-a", through_proxy=True), benches("bench-b")
    a.claims.keep_alive()  # a's link is up and has a connection in its pool
    if fault == "cut":
        proxy.cut()
    else:
        proxy.stall(replies_only=fault == "stall_replies")
    first = a.open(1000)
    if not first.opened:
        assert first.message == (
            "Central is out of reach and this bench holds no orders, so it can't open order "
            "1000 now. Try again when central answers."
        )
    second = b.open(1000)
    assert not (first.opened and second.opened)
    if fault == "stall_replies":
        # central made a's claim, a never heard so: b is refused until a gives it back
        assert not first.opened and not second.opened
        assert "being packed at bench-a" in second.message
    proxy.heal()
    a.claims.keep_alive()  # a claim a won without hearing so is released again
    third = b.open(1000) if not second.opened else second
    assert first.opened != third.opened
    winner = "bench-a" if first.opened else "bench-b"
    assert holder_at_central(house, 1000).station == winner


def test_r17_offline_a_bench_opens_only_the_orders_it_claimed_ahead(house, benches, proxy):
    a = benches("bench-a", through_proxy=True, claim_ahead=2)
    b = benches("bench-b", claim_ahead=1)
    assert a.claims.keep_alive().claimed == [1000, 1001]  # the oldest of the queue
    assert b.claims.keep_alive().claimed == [1002]  # the next one free
    proxy.cut()
    assert a.open(1001).opened  # held ahead: opens with central away
    assert a.scan(a.eans["A"]).ok
    refused = a.open(1002)
    assert not refused.ok and refused.message == (
        "Central is out of reach, so this bench can open only the orders it holds: "
        "1000, 1001. Order 1002 must wait until central answers."
    )
    assert a.bench.current_order().id == 1001  # the refusal left the open order open
    assert a.epochs(1001) == [holder_at_central(house, 1001).epoch]
    assert not b.open(1001).ok  # a's claim ahead is a claim


def test_r17_a_closed_order_is_released_at_central_only_once_its_ops_were_sent(house, benches):
    from stationd.store.audit import mark_sent, unsent_events

    a, b = benches("bench-a"), benches("bench-b")
    assert a.open(1000).opened and a.scan(a.eans["A"]).ok
    assert a.scan("CMD-CANCEL").ok  # takes the item back and closes the order
    assert a.bench.current_order() is None
    assert a.claims.keep_alive().released == []  # its ops are not at central yet
    assert not b.open(1000).ok
    with a.store.write() as conn:  # what push does once central has them
        mark_sent(conn, [e.key for e in unsent_events(conn)])
    assert a.claims.keep_alive().released == [1000]
    assert a.holds() == {}
    assert b.open(1000).opened


def test_r17_a_stale_lease_is_fenced_and_the_bench_is_told(house, benches, proxy):
    """The issue's bug: a lease runs out while bench A still packs (cut off from central), B
    takes the order over. B's claim has a higher epoch; A's ops keep A's old one, so central
    refuses them (push); and when A hears of it, A's bench closes the order and says why."""
    a = benches("bench-a", through_proxy=True, lease_s=1.0)
    b = benches("bench-b", lease_s=1.0)
    assert a.open(1000).opened and a.scan(a.eans["A"]).ok
    assert not b.open(1000).ok  # A's lease is alive: refused
    old = holder_at_central(house, 1000).epoch
    proxy.stall()  # A is partitioned: its keep-alive does not get through
    assert a.claims.keep_alive().away
    with house.central.read() as conn:  # A's lease runs out by central's clock
        conn.exec_driver_sql("SELECT pg_sleep(1.2)")
    assert b.open(1000).opened
    new = holder_at_central(house, 1000).epoch
    assert new > old
    assert a.scan(a.eans["A"]).ok  # A packs on, offline, not knowing yet
    assert b.scan(b.eans["B"]).ok
    assert a.epochs(1000) == [old, old]
    assert b.epochs(1000) == [new]
    proxy.heal()
    result = a.claims.keep_alive()
    assert result.lost == {1000: "bench-b"}, result
    assert a.told == [
        (
            1000,
            "Order 1000 was taken over by bench-b: stop packing it here and set its goods aside.",
        )
    ]
    assert a.bench.current_order() is None
    assert a.holds() == {}
    assert a.scan(a.eans["A"]).message == (
        "No order is open: scan the pick list's order barcode first."
    )
    assert holder_at_central(house, 1000).station == "bench-b"


def test_r17_the_clock_stepped_back_an_hour_on_a_station_decides_no_lease(
    house, benches, monkeypatch
):
    """A Pi without its clock battery: bench A's clock runs an hour behind. Its claims' leases
    are still central's now + lease, B is refused, and A's copy keeps central's times."""
    from datetime import UTC, datetime, timedelta

    import stationd.services.bench
    import stationd.store.audit

    behind = datetime.now(UTC) - timedelta(hours=1)
    monkeypatch.setattr(stationd.services.bench, "utcnow", lambda: behind)
    monkeypatch.setattr(stationd.store.audit, "utcnow", lambda: behind)
    a, b = benches("bench-a"), benches("bench-b")
    assert a.open(1000).opened and a.scan(a.eans["A"]).ok
    a.claims.keep_alive()
    with house.central.read() as conn:
        central_now = conn.exec_driver_sql("SELECT now()").scalar()
    claim = holder_at_central(house, 1000)
    assert claim.lease_until > central_now + timedelta(seconds=LEASE_S - 60)
    assert not b.open(1000).ok
    with a.store.read() as conn:
        kept = conn.execute(select(order_claims.c.lease_until)).scalar_one()
    assert abs((kept.replace(tzinfo=UTC) - claim.lease_until).total_seconds()) < 1


def test_r17_an_admin_take_over_during_an_outage_fences_the_dead_bench(house, benches, proxy):
    a = benches("bench-a", through_proxy=True)
    b = benches("bench-b")
    assert a.open(1000).opened and a.scan(a.eans["A"]).ok
    old = holder_at_central(house, 1000).epoch
    proxy.cut()  # bench A is gone (its network, or the bench)
    with house.central.write() as conn:  # the admin's take-over (stationd claims take-over)
        freed = central_claims.take_over(conn, 1000)
    assert freed.epoch > old
    assert b.open(1000).opened
    assert holder_at_central(house, 1000).epoch > freed.epoch
    assert a.scan(a.eans["A"]).ok  # A, offline, packs on
    assert a.epochs(1000) == [old, old]
    proxy.heal()
    assert a.claims.keep_alive().lost == {1000: "bench-b"}
    assert a.bench.current_order() is None
    assert a.told and a.told[0][0] == 1000


def test_r17_an_order_taken_over_to_nobody_is_not_claimed_ahead_again(house, benches):
    # The admin took order 1000 from bench A (its goods are on A's table, or A misbehaves):
    # A's keep-alive must give it up, not claim it straight back ahead under a new epoch in
    # the same pass — nor may any bench claim it ahead; a person opening it claims it.
    a = benches("bench-a", claim_ahead=1)
    b = benches("bench-b", claim_ahead=1)
    a.claims.keep_alive()
    assert list(a.holds()) == [1000]
    with house.central.write() as conn:
        freed = central_claims.take_over(conn, 1000)
    assert a.claims.keep_alive().lost == {1000: central_claims.NOBODY}
    b.claims.keep_alive()
    held = holder_at_central(house, 1000)
    assert (held.station, held.epoch) == (central_claims.NOBODY, freed.epoch)
    assert 1000 not in a.holds() and 1000 not in b.holds()
    assert b.open(1000).opened  # opened by a person: claimed, with a new epoch
    assert holder_at_central(house, 1000).epoch > freed.epoch


def test_r17_an_order_claimed_ahead_opens_without_a_round_trip_to_central(house, benches):
    """The claim-ahead's point: the bench has its next orders before the packer scans them.
    An order it holds with most of its lease left opens at once (central is not asked); one
    it does not hold, or one the keep-alive found taken over, is claimed at central."""
    a = benches("bench-a", claim_ahead=2)
    b = benches("bench-b")
    asked: list[object] = []
    run = a.claims.link.run

    def counted(work, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(work)
        return run(work, **kwargs)

    a.claims.link.run = counted  # type: ignore[method-assign]
    assert a.claims.keep_alive().claimed == [1000, 1001]
    passes = len(asked)
    assert a.open(1001).opened
    assert len(asked) == passes  # held ahead: no round trip
    assert a.epochs(1001) == [] and a.holds()[1001] == holder_at_central(house, 1001).epoch
    assert a.scan(a.eans["A"]).ok
    assert a.epochs(1001) == [holder_at_central(house, 1001).epoch]
    assert a.open(1002).opened  # not held: claimed at central
    assert len(asked) == passes + 1
    with house.central.write() as conn:  # the admin gives 1000 to bench-b
        central_claims.take_over(conn, 1000, to_station="bench-b", lease_s=LEASE_S)
    assert a.claims.keep_alive().lost == {1000: "bench-b"}
    passes = len(asked)
    refused = a.open(1000)
    assert not refused.ok and len(asked) == passes + 1  # asked central, which said no
    assert not b.open(1001).ok


def test_r17_an_order_opened_while_the_keep_alive_decides_is_not_released_under_the_packer(
    house, benches
):
    """Issue 11's one "duplicated: 1": the keep-alive read the copy (the order closed, its ops
    sent), then the packer opened it again — held, so no round trip — and scanned an item
    under its claim; the pass released the claim at central all the same. Central refused the
    scan ("released before this change reached central"), the bench went on without a claim,
    and its report-in shipped the refused item. The pass keeps what was opened meanwhile."""
    from stationd.store.audit import mark_sent, unsent_events

    a = benches("bench-a")
    assert a.open(1000).opened and a.scan(a.eans["A"]).ok
    assert a.scan("CMD-CANCEL").ok  # closes the order: released once its ops are sent
    with a.store.write() as conn:
        mark_sent(conn, [e.key for e in unsent_events(conn)])
    read = a.store.read
    reads: list[int] = []

    @contextlib.contextmanager
    def packer_between(*args, **kwargs):  # type: ignore[no-untyped-def]
        with read(*args, **kwargs) as conn:
            yield conn
        reads.append(1)
        if len(reads) == 2:  # the pass has read the copy twice (its last look): the packer
            assert a.open(1000).opened and a.scan(a.eans["A"]).ok

    a.store.read = packer_between  # type: ignore[method-assign]
    assert a.claims.keep_alive().released == []
    claim = holder_at_central(house, 1000)
    assert claim is not None and claim.station == "bench-a"
    assert a.holds() == {1000: claim.epoch}
    assert a.epochs(1000)[-1] == claim.epoch  # the scan's op counts at central


def test_r17_an_order_opened_while_its_release_is_in_flight_is_claimed_anew(house, benches):
    """The packer opens the order while the pass's release is on its way to central: the open
    waits for it, then claims the order again under a new epoch, which its ops carry."""
    from stationd.store.audit import mark_sent, unsent_events

    a = benches("bench-a")
    assert a.open(1000).opened and a.scan(a.eans["A"]).ok
    old = holder_at_central(house, 1000).epoch
    assert a.scan("CMD-CANCEL").ok
    with a.store.write() as conn:
        mark_sent(conn, [e.key for e in unsent_events(conn)])
    run = a.claims.link.run
    calls: list[object] = []
    opened: list[bool] = []
    packer = threading.Thread(
        target=lambda: opened.append(a.open(1000).opened and a.scan(a.eans["A"]).ok)
    )

    def release_in_flight(work, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(work)
        if len(calls) == 2:  # the release's round trip: the packer opens meanwhile
            packer.start()
            with a.claims._lock:  # the open is waiting for the release, not past it
                a.claims._released.wait_for(lambda: 1000 in a.claims._opened, timeout=10)
        return run(work, **kwargs)

    a.claims.link.run = release_in_flight  # type: ignore[method-assign]
    assert a.claims.keep_alive().released == [1000]
    packer.join(timeout=30)
    a.claims.link.run = run  # type: ignore[method-assign]
    assert opened == [True]
    claim = holder_at_central(house, 1000)
    assert claim is not None and claim.station == "bench-a" and claim.epoch > old
    a.claims.keep_alive()  # the pass's own note of the release spares the new claim
    assert a.holds() == {1000: claim.epoch}
    assert a.epochs(1000)[-1] == claim.epoch


def _pusher(bench: Bench, url: str):  # type: ignore[no-untyped-def]
    from stationd.sync.push import Pusher

    pusher = Pusher(bench.store, url, timeout_s=TIMEOUT_S)
    pusher.begin()  # synced from the start: every op of the bench goes to central
    return pusher


def _packed_at_central(house: Warehouse, order_id: int) -> dict[str, int]:
    from stationd.store.tables import order_lines

    with house.central.read() as conn:
        return dict(
            conn.execute(
                select(order_lines.c.sku, order_lines.c.packed).where(
                    order_lines.c.order_id == order_id
                )
            ).all()
        )


def _answers(bench: Bench) -> list[tuple[str | None, str | None]]:
    with bench.store.read() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                select(events.c.outcome, events.c.outcome_reason)
                .where(events.c.kind == "order.item_packed")
                .order_by(events.c.id)
            )
        ]


def test_r17_a_take_over_during_an_outage_central_refuses_the_dead_benchs_late_scans(
    house, benches, proxy, claims_central
):
    """Issue 11's "a take-over during an outage", to the end: bench A is cut off, the admin
    takes its order over and B packs it; A, not knowing, packs on offline. When A's network
    returns, central refuses A's late scan with the reason, counts B's, and A is told."""
    a = benches("bench-a", through_proxy=True)
    b = benches("bench-b")
    a_push = _pusher(a, proxy.url_for(claims_central.url))
    b_push = _pusher(b, claims_central.url)
    try:
        assert a.open(1000).opened and a.scan(a.eans["A"]).ok
        a_push.push_all()
        old = holder_at_central(house, 1000).epoch
        proxy.cut()  # bench A's network is gone
        with house.central.write() as conn:  # the admin's take-over
            central_claims.take_over(conn, 1000)
        assert b.open(1000).opened and b.scan(b.eans["B"]).ok
        b_push.push_all()
        new = holder_at_central(house, 1000).epoch
        assert a.scan(a.eans["A"]).ok  # A packs on, offline
        proxy.heal()
        a_push.push_all()
        assert _answers(a) == [
            ("accepted", None),
            (
                "refused",
                f"bench-a's claim on order 1000 (epoch {old}) is stale: bench-b holds it now "
                f"(epoch {new}). This change was not applied.",
            ),
        ]
        assert _answers(b) == [("accepted", None)]  # B packed the B
        assert _packed_at_central(house, 1000) == {"A": 1, "B": 1}
        assert a.claims.keep_alive().lost == {1000: "bench-b"}
        assert a.told == [
            (
                1000,
                "Order 1000 was taken over by bench-b: stop packing it here and set its "
                "goods aside.",
            )
        ]
    finally:
        a_push.dispose()
        b_push.dispose()


def test_issue_11_an_edit_at_central_during_an_outage_before_a_label_puts_the_goods_back(
    house, benches, proxy, claims_central
):
    """Issue 11's "an edit during an outage": bench A packs offline two of a line central
    cut to one meanwhile. Central wins before any label: the first scan counts, the second is
    refused and the packer is told to put the goods back; central never packs past the line."""
    from sqlalchemy import update

    from stationd.store.tables import order_lines

    a = benches("bench-a", through_proxy=True)
    a_push = _pusher(a, proxy.url_for(claims_central.url))
    try:
        assert a.open(1000).opened
        proxy.cut()
        assert a.scan(a.eans["A"]).ok and a.scan(a.eans["A"]).ok  # both A, offline
        with house.central.write() as conn:  # the shop's edit reaches central meanwhile
            conn.execute(
                update(order_lines)
                .where(order_lines.c.order_id == 1000, order_lines.c.sku == "A")
                .values(quantity=1)
            )
        proxy.heal()
        a_push.push_all()
        assert _answers(a) == [
            ("accepted", None),
            (
                "refused",
                "Line A of order 1000 has all its 1 packed or delivered at central. "
                "Put the goods back.",
            ),
        ]
        assert _packed_at_central(house, 1000) == {"A": 1, "B": 0}
    finally:
        a_push.dispose()


def test_issue_11_a_scan_stamped_an_hour_back_is_decided_by_what_central_holds_not_its_time(
    house, benches, proxy, claims_central, monkeypatch
):
    """The clock stepped back an hour, through the push: bench A's clock (a Pi without its
    clock battery) stamps its offline scan an hour before central took the order back. Were
    central to order by the stamps, the scan would come "first" and count; it decides by
    what it holds when the op arrives: refused, the goods put back. The stamp is kept as A's
    record, never used to decide."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    import stationd.services.bench
    import stationd.store.audit
    from stationd.store.tables import orders, sync_ops

    behind = datetime.now(UTC) - timedelta(hours=1)
    monkeypatch.setattr(stationd.services.bench, "utcnow", lambda: behind)
    monkeypatch.setattr(stationd.store.audit, "utcnow", lambda: behind)
    a = benches("bench-a", through_proxy=True)
    a_push = _pusher(a, proxy.url_for(claims_central.url))
    try:
        assert a.open(1000).opened
        proxy.cut()
        assert a.scan(a.eans["A"]).ok  # offline, stamped an hour back
        with house.central.write() as conn:  # now, at central: the shop takes the order back
            conn.execute(update(orders).where(orders.c.id == 1000).values(status="order"))
        proxy.heal()
        a_push.push_all()
        assert _answers(a) == [
            ("refused", "Order 1000 is order at central now. Put the goods back.")
        ]
        assert _packed_at_central(house, 1000) == {"A": 0, "B": 0}
        with house.central.read() as conn:
            stamped, received = conn.execute(
                select(sync_ops.c.at, sync_ops.c.received_at).where(
                    sync_ops.c.kind == "order.item_packed"
                )
            ).one()
        assert received - stamped > timedelta(minutes=59)  # A's clock kept, not decided on
    finally:
        a_push.dispose()


def test_r17_claim_of_an_order_cancelled_at_central_is_refused_at_the_bench(house, benches):
    """The shop took order 1000 back at central; the bench's copy has not heard yet and still
    has it packing. The open asks central, which refuses it with its status: the packer reads
    why, and neither the copy nor central holds a claim."""
    a = benches("bench-a")
    with house.central.write() as conn:
        conn.exec_driver_sql("UPDATE orders SET status = 'order' WHERE id = 1000")
    refused = a.open(1000)
    assert not refused.ok and refused.message == (
        "Order 1000 is order at central, not packing, so it can't be packed here. Set its "
        "pick list aside."
    )
    assert a.bench.current_order() is None
    assert a.holds() == {} and holder_at_central(house, 1000) is None


def test_r17_an_open_tops_the_claims_ahead_up_before_the_queue_runs_dry(house, benches):
    """Claiming ahead keeps up with the packer: each open of an order held ahead has the
    orders behind it claimed at once in the background (one statement at central), so the
    next open is local too — no wait for the keep-alive's next pass."""
    a = benches("bench-a", claim_ahead=1)
    asked: list[object] = []  # by the packer's thread (the top-ups run on the keep-alive's)
    run = a.claims.link.run
    packer = threading.current_thread()

    def counted(work, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread() is packer:
            asked.append(work)
        return run(work, **kwargs)

    a.claims.link.run = counted  # type: ignore[method-assign]
    assert a.claims.keep_alive().claimed == [1000]
    a.claims.start()
    try:
        for order_id in (1000, 1001, 1002):
            deadline = time.monotonic() + 10
            while order_id not in a.holds() and time.monotonic() < deadline:
                time.sleep(0.01)  # the top-up in the background
            passes = len(asked)
            assert a.open(order_id).opened
            assert len(asked) == passes  # held ahead: the open asked no one
            assert a.scan(a.eans["A"]).ok
    finally:
        a.claims.stop()
    assert a.claims.ahead_wanted() >= 1


def test_r17_the_claims_ahead_follow_the_packers_pace(house, benches):
    """A bench that opens orders quickly holds more ahead (what its pace opens in
    AHEAD_COVERS_S), never more than MAX_AHEAD; a slow one holds `claim_ahead`; one set to
    claim nothing ahead claims nothing."""
    from stationd.core.claims_ahead import AHEAD_COVERS_S, MAX_AHEAD, PACE_WINDOW_S

    a = benches("bench-a", claim_ahead=2)
    assert a.claims.ahead_wanted() == 2
    now = time.monotonic()
    a.claims._opens.extend([now - PACE_WINDOW_S - 5] * 50)  # long ago: not the pace now
    assert a.claims.ahead_wanted() == 2
    a.claims._opens.extend(now - 2.4 + 0.3 * i for i in range(9))  # 8 more opens in 2.4 s
    assert a.claims.ahead_wanted() == math.ceil(8 / 2.4 * AHEAD_COVERS_S)
    a.claims._opens.extend([now] * a.claims._opens.maxlen)
    assert a.claims.ahead_wanted() == MAX_AHEAD
    assert len(a.claims.keep_alive().claimed) == 4  # the warehouse has four orders
    b = benches("bench-b", claim_ahead=0)
    b.claims._opens.extend([now] * 50)
    assert b.claims.ahead_wanted() == 0


def test_r17_top_ups_while_the_copy_lags_central_claim_no_more_than_wanted_ahead(house, benches):
    """Central's pack script moved orders 1000–1003 to packing; the bench's copy has not
    pulled that yet (it still has them in 'order'). A bench that wants one order ahead holds
    one at central however many opens top its queue up meanwhile: the others stay free for
    the other benches."""
    a = benches("bench-a", claim_ahead=1)
    with a.store.write() as conn:
        conn.exec_driver_sql("UPDATE orders SET status = 'order'")
    for _ in range(3):  # three opens' top-ups before the next pull
        a.claims.top_up()
    with house.central.read() as conn:
        held = central_claims.held_by(conn, "bench-a")
    assert len(held) == 1
