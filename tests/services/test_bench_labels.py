"""R13 and R16 as one rule across bench and ship-out: a delivery's parcel labels print once —
when the bench has packed it (`[bench] label_when_packed`) with parcel ids a carrier
booked, else at report-in with the ids ship-out reports — and the command sheet reaches the
receipt printer as CODE128. Through a whole Station (its routing, its label path) on SQLite;
the labels are read back off what the simulated label printer received: zplkit draws the
ZPL, zxing-cpp reads the barcode."""

from __future__ import annotations

from pathlib import Path

import pytest
import zplkit
import zxingcpp
from PIL import Image
from sqlalchemy import func, select, update

from stationd.carriers import CarrierError, ParcelBooking, Shipment
from stationd.carriers.simulated import SimulatedCarrier
from stationd.core.bench_commands import build_command_sheet
from stationd.core.check_digits import s10_check_digit
from stationd.core.orders import OrderRuleError
from stationd.devices.rendering.zpl import DPMM_TO_DPI
from stationd.events import ScanRead
from stationd.services.command_sheet import print_command_sheet
from stationd.services.shipout import keep_typed_parcel_id
from stationd.station import Station
from stationd.store.deliveries import pending_parcel_ids
from stationd.store.tables import (
    bench_packing,
    deliveries,
    events,
    order_lines,
    orders,
    parcel_ids,
    print_jobs,
)

STATION = "bench-1"


def shop_station(
    make_station,
    make_shop,
    state_dir: Path,
    *,
    label_when_packed: bool,
    printers: bool = True,
    carrier: bool = True,
):
    devices = {}
    if printers:
        devices["printers"] = [
            {"name": "receipts", "kind": "simulated"},
            {"name": "labels", "kind": "simulated"},
        ]
        devices["print"] = {"receipt": "receipts", "label": "labels"}
    station = make_station(
        name=STATION,
        state_dir=state_dir,
        bench={"label_when_packed": label_when_packed},
        shipping={"carrier": "simulated" if carrier else "none"},
        **devices,
    )
    shop = make_shop(station.store)
    ean_a = shop.product("A", name="Termos", number=1)
    ean_b = shop.product("B", name="Vantar", number=2)
    shop.order([("A", 2), ("B", 1)], status="packing", reserve=True, order_id=1042)
    # zplkit's font has ASCII glyphs only (the printer's has more): an ASCII address, and a
    # customer abroad, whose label speaks English ("From", not "Från": issue 12, item 4).
    with station.store.write() as conn:
        conn.execute(
            update(orders).values(customer_name="Anna Berg", city="Goteborg", country="GB")
        )
    return station, ean_a, ean_b


@pytest.fixture
def stations(tmp_path, make_station, make_shop):
    made = []

    def build(**kwargs):  # type: ignore[no-untyped-def]
        state_dir = tmp_path / str(len(made))
        station, *eans = shop_station(make_station, make_shop, state_dir, **kwargs)
        made.append(station)
        return station, *eans

    yield build
    for station in made:
        station.printing.stop()


def scan(station: Station, code: str):  # type: ignore[no-untyped-def]
    return station.bench.handle_scan(ScanRead(code, None, "serial:gun"))


def carrier_id(sequence: int) -> str:
    """The simulated carrier's id number `sequence` for this test's station."""
    prefix = SimulatedCarrier(Path("/nonexistent"), station=STATION, country="SE").prefix
    serial = f"{sequence:08d}"
    return f"{prefix}{serial}{s10_check_digit(serial)}SE"


def jobs(station: Station, document: str) -> list[bytes]:
    with station.store.read() as conn:
        return list(
            conn.execute(
                select(print_jobs.c.payload)
                .where(print_jobs.c.document == document)
                .order_by(print_jobs.c.id)
            ).scalars()
        )


def printed_labels(station: Station, n: int) -> list[bytes]:
    """The payloads the simulated label printer took, once it has taken `n`."""
    station.printing.start()
    printer = station.printers["labels"]
    assert printer.wait_for(n, timeout=5), f"{len(printer.printed)} of {n} labels printed"
    return printer.printed


def code128(zpl: bytes) -> list[str]:
    """The CODE128 barcodes on a ZPL label, as a reader reads them off the drawn label."""
    document = zplkit.render(zpl, zplkit.Options(profile="specification", dpi=DPMM_TO_DPI[8]))
    (label,) = document.labels
    raster = label.rasterize()
    image = Image.frombytes("L", (raster.width, raster.height), raster.pixels)
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)
    return [b.text for b in found if b.symbology_identifier == "]C0"]


def kept(station: Station) -> list[str]:
    """The parcel ids on order 1042's pending (not reported) delivery."""
    with station.store.read() as conn:
        return pending_parcel_ids(conn, [1042])[1042]


def labels_at_bench(station: Station) -> int:
    with station.store.read() as conn:
        return conn.execute(select(bench_packing.c.labels)).scalar_one()


def line_ids(station: Station) -> dict[str, int]:
    with station.store.read() as conn:
        return dict(conn.execute(select(order_lines.c.sku, order_lines.c.id)).all())


def test_r13_r16_labels_when_packed_carry_parcel_ids_booked_from_the_carrier(stations):
    station, ean_a, ean_b = stations(label_when_packed=True)
    scan(station, "ORD-1042")
    scan(station, ean_a)
    scan(station, "CMD-NEXT-PARCEL")
    scan(station, ean_a)
    assert jobs(station, "label") == []  # not all packed yet
    last = scan(station, ean_b)
    ids = [carrier_id(1), carrier_id(2)]
    assert last.ok and last.complete
    assert f"2 parcel label(s) sent to the printer: {ids[0]}, {ids[1]}." in last.message
    # The ids are the delivery's before the labels print: a reload or restart finds them.
    assert kept(station) == ids
    labels = printed_labels(station, 2)
    assert [code128(label) for label in labels] == [[ids[0]], [ids[1]]]
    assert b"1 of 2" in labels[0] and b"2 of 2" in labels[1]
    assert labels_at_bench(station) == 2
    with station.store.read() as conn:
        journal = conn.execute(select(events.c.kind)).scalars().all()
    assert journal.count("order.parcel_booked") == 2 and "order.labels_printed" in journal
    assert scan(station, "CMD-DONE").ready
    assert len(jobs(station, "label")) == 2  # DONE prints nothing more
    # Report-in completes the delivery that holds the ids: no second one, no label again.
    result = station.report_in.ship(1042, ids, use_scale=False)
    assert result.shipped
    assert len(jobs(station, "label")) == 2
    with station.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(deliveries)).scalar() == 1
        assert conn.execute(select(deliveries.c.reported_at)).scalar() is not None
        assert conn.execute(select(bench_packing)).all() == []  # the record ended
    assert kept(station) == []


def test_r16_without_a_carrier_labels_print_at_report_in_only_and_never_twice(stations):
    station, ean_a, ean_b = stations(label_when_packed=True, carrier=False)
    scan(station, "ORD-1042")
    for code in (ean_a, ean_a):
        scan(station, code)
    last = scan(station, ean_b)
    assert last.ok and last.complete
    assert "The labels print at report-in: this station has no carrier" in last.message
    assert scan(station, "CMD-DONE").ready
    assert jobs(station, "label") == [] and kept(station) == []
    station.report_in.ship(1042, ["PKG-0001"], use_scale=False)
    (label,) = printed_labels(station, 1)
    assert code128(label) == ["PKG-0001"]
    assert len(jobs(station, "label")) == 1


def test_r16_without_label_when_packed_report_in_prints_the_labels(stations):
    station, ean_a, ean_b = stations(label_when_packed=False)
    scan(station, "ORD-1042")
    for code in (ean_a, ean_a, ean_b):
        scan(station, code)
    done = scan(station, "CMD-DONE")
    assert done.ready and "label" not in done.message
    assert jobs(station, "label") == []
    station.report_in.ship(1042, ["PKG-1"], use_scale=False)
    labels = jobs(station, "label")
    assert len(labels) == 1 and b"PKG-1" in labels[0]


def test_r14_r16_partial_books_and_labels_what_is_packed(stations):
    station, ean_a, ean_b = stations(label_when_packed=True)
    ids = line_ids(station)
    scan(station, "ORD-1042")
    scan(station, ean_a)
    outcome = scan(station, "CMD-PARTIAL")
    assert outcome.partial and "1 parcel label(s) sent" in outcome.message
    assert code128(printed_labels(station, 1)[0]) == [carrier_id(1)]
    # Ship-out ships the packed counts as the partial delivery (R14); the order stays packing.
    result = station.report_in.ship(
        1042, [carrier_id(1)], quantities={ids["A"]: 1}, use_scale=False
    )
    assert not result.shipped and len(jobs(station, "label")) == 1
    # The rest is packed as the next delivery: it gets the carrier's next id.
    scan(station, "ORD-1042")
    scan(station, ean_a)
    last = scan(station, ean_b)
    assert last.complete and kept(station) == [carrier_id(2)]
    assert code128(printed_labels(station, 2)[1]) == [carrier_id(2)]


def test_r16_when_the_parcels_change_after_the_bench_labels_report_in_labels_them_all_anew(
    stations,
):
    station, ean_a, ean_b = stations(label_when_packed=True)
    scan(station, "ORD-1042")
    for code in (ean_a, ean_a, ean_b):
        scan(station, code)
    assert code128(printed_labels(station, 1)[0]) == [carrier_id(1)]  # "1 of 1"
    # The packer needs more boxes after all: one id kept from the ship-out page, one typed
    # into the report-in itself.
    keep_typed_parcel_id(station.store, None, 1042, "PKG-0002", station=STATION)
    result = station.report_in.ship(1042, [carrier_id(1), "PKG-0002", "PKG-0003"], use_scale=False)
    assert result.shipped
    labels = printed_labels(station, 4)[1:]
    # Box 1's label said "1 of 1": every box gets a label with the count of three.
    assert [code128(label) for label in labels] == [[carrier_id(1)], ["PKG-0002"], ["PKG-0003"]]
    assert [n for n in (b"1 of 3", b"2 of 3", b"3 of 3") if any(n in x for x in labels)] == [
        b"1 of 3",
        b"2 of 3",
        b"3 of 3",
    ]
    with station.store.read() as conn:
        marks = conn.execute(
            select(parcel_ids.c.parcel_id, parcel_ids.c.labelled).order_by(parcel_ids.c.position)
        ).all()
    assert marks == [(carrier_id(1), True), ("PKG-0002", True), ("PKG-0003", True)]


def test_r16_an_id_that_replaces_a_labelled_one_gets_the_only_new_label(stations):
    station, ean_a, ean_b = stations(label_when_packed=True)
    scan(station, "ORD-1042")
    scan(station, ean_a)
    scan(station, "CMD-NEXT-PARCEL")
    for code in (ean_a, ean_b):
        scan(station, code)
    printed_labels(station, 2)  # 1 of 2, 2 of 2
    # The second box's label was torn: its id goes, another takes its place; still two boxes.
    keep_typed_parcel_id(
        station.store, None, 1042, "PKG-0009", replaces=carrier_id(2), station=STATION
    )
    station.report_in.ship(1042, [carrier_id(1), "PKG-0009"], use_scale=False)
    labels = printed_labels(station, 3)
    assert code128(labels[2]) == ["PKG-0009"] and b"2 of 2" in labels[2]
    assert len(jobs(station, "label")) == 3


class FailingCarrier:
    """Books `good` parcel ids with the simulated carrier, then fails like a carrier that went
    away."""

    name = "flaky"

    def __init__(self, inner: SimulatedCarrier, good: int) -> None:
        self.inner, self.good = inner, good

    def book(self, booking: ParcelBooking) -> Shipment:
        if self.good <= 0:
            raise CarrierError("The carrier did not answer in 10 s.")
        self.good -= 1
        return self.inner.book(booking)


def test_r16_a_carrier_that_fails_leaves_the_packing_counted_and_the_labels_to_report_in(
    stations,
):
    station, ean_a, ean_b = stations(label_when_packed=True)
    station.parcel_labels.carrier = FailingCarrier(station.carrier, good=1)
    scan(station, "ORD-1042")
    scan(station, ean_a)
    scan(station, "CMD-NEXT-PARCEL")
    scan(station, ean_a)
    last = scan(station, ean_b)
    assert last.ok and last.complete
    assert (
        "The carrier booked no parcel ids (The carrier did not answer in 10 s.); the labels "
        "print at report-in." in last.message
    )
    with station.store.read() as conn:
        assert sum(conn.execute(select(order_lines.c.packed)).scalars()) == 3
    # Nothing lost: the one id booked before the carrier failed is on the delivery.
    assert kept(station) == [carrier_id(1)]
    assert jobs(station, "label") == [] and labels_at_bench(station) == 0
    station.report_in.ship(1042, [carrier_id(1), "PKG-0002"], use_scale=False)
    labels = printed_labels(station, 2)
    assert [code128(label) for label in labels] == [[carrier_id(1)], ["PKG-0002"]]


def test_r16_a_label_that_cannot_be_made_keeps_the_ids_and_the_scan_counted(stations):
    station, ean_a, ean_b = stations(label_when_packed=True)
    with station.store.write() as conn:
        conn.execute(update(orders).values(street="", postcode="", city=""))
    scan(station, "ORD-1042")
    scan(station, ean_a)
    scan(station, ean_a)
    last = scan(station, ean_b)
    assert last.ok and last.complete and "The labels were not printed" in last.message
    assert jobs(station, "label") == []
    assert kept(station) == [carrier_id(1)]
    assert labels_at_bench(station) == 0
    with station.store.read() as conn:
        assert sum(conn.execute(select(order_lines.c.packed)).scalars()) == 3


def test_command_sheet_prints_code128_commands_on_the_receipt_printer(stations):
    station, *_ = stations(label_when_packed=False)
    sheet = build_command_sheet("Kommandon", {}, "sv")
    print_command_sheet(station.store, station.printing, station.paperwork, sheet)
    (payload,) = jobs(station, "commands")
    # GS k 73 (CODE128, function B) with the data in code set B: "{B" + the command's text.
    for command in ("DONE", "NEXT-PARCEL", "PARTIAL", "UNDO", "CANCEL"):
        assert b"\x1dkI" in payload and b"{BCMD-" + command.encode() in payload
    assert b"Kommandon" in payload
    with station.store.read() as conn:
        printer = conn.execute(select(print_jobs.c.printer)).scalar_one()
    assert printer == "receipts"


def test_command_sheet_without_a_receipt_printer_is_refused_with_a_sentence(stations):
    station, *_ = stations(label_when_packed=False, printers=False)
    with pytest.raises(OrderRuleError, match="No printer is configured"):
        print_command_sheet(
            station.store, station.printing, station.paperwork, build_command_sheet("X", {})
        )
