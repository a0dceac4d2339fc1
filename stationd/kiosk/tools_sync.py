"""The Tools page's "Sync" section (issue 11): what `stationd sync status` says, the ops central
refused with its reasons, and central's open tasks for the admin. A single bench (no `[sync]`)
has no such section.

The section is live over the page's one stream (`tools.events`): drawn again at once when the
bench's sync state changes (`SyncState`: central away or back, the changes waiting), and every
`RECHECK_S` for what no event announces (a push's answer, a pull, central's tasks); sent only
when it reads differently from what the page shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask import current_app, render_template

from stationd.events import Event, SyncState
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.stream import sse
from stationd.store.central_link import CentralAway
from stationd.store.reads.sync import open_tasks, refusals, sync_status

#: How long the Tools page waits for central's task list, s: the page must not hang on it.
TASKS_TIMEOUT_S = 2.0
#: How often an open Tools page reads the section again without an event, s (each look asks
#: central for its tasks: not every second for every page).
RECHECK_S = 5.0


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


def sync_messages() -> Callable[[Event | None], Iterator[str]] | None:
    """For the Tools page's stream: `messages(event)` that yields the section as a "sync"
    message when a `SyncState` came or `RECHECK_S` passed, and it reads differently from
    what was sent (the first look sends it: the page may have been drawn before a change).
    None for a single bench."""
    if current_app.config["STATION"].push is None:
        return None
    shown: str | None = None
    looked = time.monotonic()

    def messages(event: Event | None) -> Iterator[str]:
        nonlocal shown, looked
        if not isinstance(event, SyncState) and time.monotonic() - looked < RECHECK_S:
            return
        looked = time.monotonic()
        now = render_template("tools_sync.html", **sync_context())
        if now != shown:
            shown = now
            yield sse("sync", now)

    return messages


__all__ = ["RECHECK_S", "TASKS_TIMEOUT_S", "sync_context", "sync_messages"]
