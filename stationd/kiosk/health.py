"""/healthz: whether the station is ready to pack — the database answers, the bench runs, every
device the config names works (a printer not yet tried counts as ready), and the kiosk answers
(it is answering this); and how many scans wait for the database. 200 when ready, 503 with
what is not, for a load balancer or a monitor."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    station = current_app.config["STATION"]
    not_ready: dict[str, str] = {}
    # Asked now, not the watch's last answer: a monitor wants the truth of this moment.
    if not station.availability.check(station.store, "/healthz"):
        not_ready["database"] = station.availability.reason
    for device in station.device_watch.devices():
        # A printer is asked how it is only when it prints: one never tried has no detail (no
        # trouble to tell of) and is ready until a job finds otherwise.
        ready = device.working or (device.kind == "printer" and not device.detail)
        if not ready:
            not_ready[f"{device.kind} {device.name}"] = device.state
    if not station.bench_worker.running:
        not_ready["bench"] = "not running"
    body = {
        "station": station.settings.station.name,
        "ok": not not_ready,
        "not_ready": not_ready,
        # Scans read and kept, not counted yet (they wait for the database).
        "scans_waiting": station.bench_worker.waiting,
    }
    return body, 200 if not not_ready else 503
