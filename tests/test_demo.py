"""The demo station's simulated parts behave like a real bench's (issue 12, item 12)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import update

from stationd.config import settings_from_dict
from stationd.demo import weigh_packed_parcels
from stationd.events import ScanRead
from stationd.station import Station
from stationd.store.tables import products


def test_the_demo_scale_gives_a_steady_weight_of_what_was_packed(tmp_path, make_shop):
    """ "From the scale" only ever erred in the demo: nothing ever lay on its scale."""
    settings = settings_from_dict(
        {
            "station": {"name": "demo-bench", "state_dir": str(tmp_path)},
            "packscript": {"interval_min": 0},
            "scale": {"kind": "simulated", "box_tare_g": 150},
        }
    )
    settings = dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))
    station = Station(settings)
    station.store.upgrade()
    shop = make_shop(station.store)
    ean = shop.product("A", name="Termos", number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1042)
    with station.store.write() as conn:
        conn.execute(update(products).values(weight_g=480))
    station.start()
    try:
        weigh_packed_parcels(station)
        for code in ("ORD-1042", ean, ean):
            assert station.bench.handle_scan(ScanRead(code, None, "serial:gun")).ok
        weight = station.scale.last_weight
        assert weight is not None and weight.stable and weight.grams == 2 * 480 + 150
    finally:
        station.stop()
