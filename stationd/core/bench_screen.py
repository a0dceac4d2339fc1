"""What the bench page shows (R12): the open order, the bench's record of its delivery, the
parcel ids kept for it, and the last outcome with its number — carried by the `ScanOutcome`
event the bench publishes, so the kiosk draws from the event and reads nothing back."""

from __future__ import annotations

from dataclasses import dataclass

from stationd.core.bench import BenchOutcome, Packing
from stationd.core.orders import Order


@dataclass(frozen=True)
class AtBench:
    """The open order, the bench's record of its delivery and the parcel ids kept for that
    delivery."""

    order: Order | None
    packing: Packing | None
    parcel_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchScreen:
    """The bench after outcome number `seq` (numbers grow by one per outcome of a bench).

    `at` is the bench as the outcome's own transaction committed it; None when the outcome
    read nothing (the database was busy, a scanner sent no scan): a page reads it then.
    `made_s` is when the outcome was made, on the process's monotonic clock: a page drawn later
    asks `core.bench.shown_on_a_new_page` whether it is still news.
    """

    seq: int
    outcome: BenchOutcome
    at: AtBench | None = None
    made_s: float = 0.0
