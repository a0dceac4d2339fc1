"""The kiosk while the database is away (issue 10, item 3): every page answers with one sentence
in the packer's language — a proper page, status 503, that looks again by itself — instead of a
500; the bench says that scans are kept, counts them and shows the catch-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from babel.dates import format_time
from flask import Flask, current_app, g, render_template, request

from stationd.events import DatabaseState, SyncState
from stationd.kiosk.i18n import LOCALES, ngettext, parsed_locale, request_language
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.intake_api import is_api_path, problem

if TYPE_CHECKING:
    from flask import Response

#: A page that answered "the database is away" loads itself again after this many seconds.
RETRY_S = 5

#: What answers while the database is away: its health, its metrics, the live streams (they
#: carry the outage to the pages), the language buttons, the static files, and a code typed
#: at the bench (kept like a scanner's scan, R19).
OPEN_ENDPOINTS = frozenset(
    {"static", "health.healthz", "metrics.metrics", "language", "bench.scan"}
)


def away_sentence() -> str:
    """What every page says while the database is away."""
    return _("The database does not answer: scans are kept and count as soon as it is back.")


def outage_lines(state: DatabaseState) -> list[str]:
    """The bench's banner for `state`: the outage and the scans kept, or the catch-up; none
    when there is nothing to tell."""
    if not state.available:
        lines = [away_sentence()]
        if state.waiting:
            lines.append(
                ngettext(
                    "{num} scan waits for the database.",
                    "{num} scans wait for the database.",
                    state.waiting,
                )
            )
        return lines
    if state.waiting:
        return [
            ngettext(
                "The database is back: counting the kept scans, {num} left.",
                "The database is back: counting the kept scans, {num} left.",
                state.waiting,
            )
        ]
    if state.kept:
        return [
            ngettext(
                "The database is back: {num} kept scan is counted.",
                "The database is back: all {num} kept scans are counted.",
                state.kept,
            )
        ]
    return []


def sync_lines(state: SyncState) -> list[str]:
    """The bench's banner for the sync with central (issue 11): offline since when and the
    changes waiting, or the catch-up once central is back; none while central answers."""
    if state.offline_since is not None:
        station = current_app.config["STATION"]
        locale = parsed_locale(LOCALES[request_language(station.settings.station.language)])
        at = format_time(
            state.offline_since, "HH:mm", tzinfo=station.settings.station.tz, locale=locale
        )
        return [
            ngettext(
                "Offline since {time} — {num} change waiting.",
                "Offline since {time} — {num} changes waiting.",
                state.waiting,
                time=at,
            )
        ]
    if state.kept and state.waiting:
        return [
            ngettext(
                "Central is back: sending the changes, {num} left.",
                "Central is back: sending the changes, {num} left.",
                state.waiting,
            )
        ]
    return []


def bench_banner() -> list[str]:
    """Every line of the bench's banner: the database's outage, then the sync's."""
    lines = outage_lines(database_state())
    watch = getattr(current_app.config["STATION"], "sync_watch", None)
    if watch is not None:
        lines += sync_lines(watch.current)
    return lines


def database_state() -> DatabaseState:
    """The database's state as the station's watch last saw it."""
    return current_app.config["STATION"].database_watch.current


def away_page(err: BaseException | None = None) -> tuple[str, int, dict[str, str]] | Response:
    """The 503 page that says the database is away (told to the station's availability first,
    which logs it once); to a shop's program on the intake API, a problem document."""
    station = current_app.config["STATION"]
    if err is not None:
        station.availability.lost(err, f"kiosk {request.method} {request.path}")
    if is_api_path():
        # A shop's program reads JSON, not the packer's page, and comes back after Retry-After.
        detail = "The station's database does not answer: send the records again later."
        return problem(503, detail, headers={"Retry-After": str(RETRY_S)})
    # The frame's own reads (who is signed in) would meet the same outage: skip them.
    g.database_away = True
    body = render_template("error.html", code=503, message=away_sentence(), retry_s=RETRY_S)
    return body, 503, {"Retry-After": str(RETRY_S)}


def init_outage(app: Flask) -> None:
    """While the database is away, pages answer `away_page` without trying it."""

    @app.before_request
    def _database_away() -> tuple[str, int, dict[str, str]] | Response | None:
        endpoint = request.endpoint or ""
        if endpoint in OPEN_ENDPOINTS or endpoint.endswith("events"):
            return None
        if not current_app.config["STATION"].availability.away:
            return None
        return away_page()
