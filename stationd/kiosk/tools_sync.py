"""The Tools page's "Sync" section (issue 11): what `stationd sync status` says, the ops central
refused with its reasons, and central's open tasks for the admin. A single bench (no `[sync]`)
has no such section."""

from __future__ import annotations

from flask import current_app

from stationd.kiosk.i18n import gettext as _
from stationd.store.central_link import CentralAway
from stationd.store.reads.sync import open_tasks, refusals, sync_status

#: How long the Tools page waits for central's task list, s: the page must not hang on it.
TASKS_TIMEOUT_S = 2.0


def sync_context() -> dict:
    """The section's facts; `{"sync": None}` for a single bench."""
    station = current_app.config["STATION"]
    if station.push is None:
        return {"sync": None}
    tasks, tasks_error = [], ""
    claims = station.central_claims
    if claims is not None:
        try:
            tasks = claims.link.run(open_tasks, timeout_s=TASKS_TIMEOUT_S)
        except CentralAway as err:
            tasks_error = _("Central can't be reached: {why}", why=str(err))
    return {
        "sync": sync_status(station.store, station.settings.station.name),
        "sync_refusals": refusals(station.store),
        "sync_tasks": tasks,
        "sync_tasks_error": tasks_error,
        "sync_state": station.sync_watch.current if station.sync_watch is not None else None,
    }


__all__ = ["TASKS_TIMEOUT_S", "sync_context"]
