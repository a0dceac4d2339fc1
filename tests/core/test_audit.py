"""The audit log's typed events (core.audit): one class per stored kind, payloads both ways."""

from __future__ import annotations

import dataclasses

import pytest

from stationd.core import audit
from stationd.core.audit import (
    EVENT_KINDS,
    LineQuantityChanged,
    ParcelBooked,
    Shipped,
    UnknownEvent,
    event_from_payload,
)

#: Every kind string stations have written: each must read back as its own class.
STORED_KINDS = {
    "order.waiting",
    "order.own_status",
    "order.line_quantity",
    "order.line_removed",
    "order.line_added",
    "packscript.moved",
    "import.orders",
    "order.import_updated",
    "order.item_packed",
    "order.item_unpacked",
    "order.parcel_started",
    "order.packed_partial",
    "order.packed",
    "order.labels_printed",
    "bench.command_sheet_printed",
    "order.parcel_id_added",
    "order.parcel_booked",
    "order.parcel_id_removed",
    "order.partial_delivery",
    "order.shipped",
    "print.queued",
    "print.test_page",
    "print.held",
    "print.released",
    "print.dropped",
    "print.reprinted",
    "own_status.created",
    "own_status.renamed",
    "own_status.deleted",
    "operator.created",
    "operator.activated",
    "operator.deactivated",
    "operator.signed_in",
    "operator.signed_out",
    "operator.wrong_pin",
    "demo.created",
}


def test_every_stored_kind_has_its_own_frozen_class():
    assert set(EVENT_KINDS) == STORED_KINDS
    assert len(set(EVENT_KINDS.values())) == len(STORED_KINDS)
    for kind, cls in EVENT_KINDS.items():
        assert cls.kind == kind
        assert dataclasses.fields(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_every_class_is_exported():
    assert {cls.__name__ for cls in EVENT_KINDS.values()} <= set(audit.__all__)


def test_a_payload_reads_back_as_the_event_it_came_from():
    shipped = Shipped(7, ("PKG-1", "PKG-2"), {"11": 2})
    assert event_from_payload("order.shipped", shipped.payload()) == shipped
    # JSON gives lists back: they become tuples, so the event compares equal
    stored = {"parcel_id": "PKG-1", "how": "bench", "broker": "sim", "parcel": 2}
    assert event_from_payload("order.parcel_booked", stored) == ParcelBooked(
        "PKG-1", "bench", "sim", 2
    )


def test_an_unknown_kind_reads_back_as_unknown_with_its_fields():
    event = event_from_payload("order.teleported", {"to": "Mars"})
    assert event == UnknownEvent("order.teleported", {"to": "Mars"})
    assert event.payload() == {"to": "Mars"}


def test_a_payload_missing_a_field_reads_back_as_unknown_not_an_error():
    # the shape before migration 0003: `from`/`to` were renamed `old`/`new`
    event = event_from_payload(
        "order.line_quantity", {"line_id": 1, "sku": "A", "from": 1, "to": 2}
    )
    assert isinstance(event, UnknownEvent) and event.stored_kind == "order.line_quantity"


def test_events_are_frozen():
    event = LineQuantityChanged(1, "A", 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.new = 3  # type: ignore[misc]
