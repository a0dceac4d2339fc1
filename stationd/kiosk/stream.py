"""Server-sent events: `live_stream` for every page, and the bench fragment after each scan.

A page holds one stream (issue 10 item 4): its own events and, when the page shows who is signed
in (`op=` the operator it was drawn with), the navigation's operator chip on the same stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context

from stationd.core.numbers import whole_number
from stationd.events import (
    DatabaseState,
    Event,
    OperatorChanged,
    OrderChanged,
    ScanOutcome,
    SyncState,
)
from stationd.kiosk.bench import bench_context
from stationd.kiosk.i18n import gettext as _

bp = Blueprint("stream", __name__)

#: How often a quiet stream looks whether the station is stopping.
POLL_S = 0.5
#: How often a quiet stream looks who is signed in: the idle lock announces no event.
OPERATOR_RECHECK_S = 2.0
#: What a page refused a stream is told to wait before it tries again.
RETRY_AFTER_S = 5


def sse(event: str, data: str) -> str:
    """One SSE message; every line of `data` gets its own `data:` field."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n"


@bp.get("/events/bench")
def bench_events() -> Response:
    # The outcome number the page was drawn with: a scan between drawing the page and this
    # stream opening would otherwise never reach the screen.
    seen = request.args.get("seen", type=int)

    def first() -> Iterator[str]:
        if seen is not None and current_app.config["BENCH_SCREENS"].seq != seen:
            yield sse("bench", render_template("bench_fragment.html", **bench_context()))

    def messages(event: Event | None) -> Iterator[str]:
        if isinstance(event, OrderChanged) and event.what in ("packed", "opened"):
            return  # the ScanOutcome of the same scan already redraws the bench
        if isinstance(event, ScanOutcome):  # drawn from the event: the state its scan committed
            context = bench_context(answering_scan=True, screen=event.screen)
        else:
            context = bench_context()
        yield sse("bench", render_template("bench_fragment.html", **context))

    # DatabaseState: the outage's banner, the scans it keeps and the catch-up (issue 10);
    # SyncState: central away, the changes waiting and their catch-up (issue 11).
    return live_stream((ScanOutcome, OrderChanged, DatabaseState, SyncState), messages, first=first)


def live_stream(
    types: tuple[type[Event], ...],
    messages: Callable[[Event | None], Iterable[str]],
    *,
    recheck_s: float | None = None,
    first: Callable[[], Iterable[str]] | None = None,
    operator_shown: int | None = None,
) -> Response:
    """A server-sent-event response that lives until the station stops or the browser goes.

    `messages(event)` is called for every bus event of `types`, and `messages(None)` after each
    `recheck_s` seconds without one — for changes no event announces, such as another process
    writing the database; it yields ready messages (`sse()`). `first()` yields what is sent
    once, right after the stream subscribed. It runs in the request's context, so fragments come
    out in the browser's language.

    With `op=` in the URL (the operator the page was drawn showing; else `operator_shown`) the
    stream also carries the operator chip, so the page needs no second stream for it. Each stream
    takes a slot of `StreamSlots` for its life; past the bound it is a 503 (`busy`).
    """
    release = current_app.config["STREAM_SLOTS"].take(request.remote_addr)
    if release is None:
        return busy()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # waitress tells a streaming app when the client hung up (channel_request_lookahead > 0).
    gone = request.environ.get("waitress.client_disconnected", lambda: False)
    station = app.config["STATION"]
    heartbeat = station.settings.kiosk.sse_heartbeat_s
    path = request.path

    def kept(said: Iterable[str]) -> Iterator[str]:
        # A stream outlives an outage: what it could not read now, it tells at the next event
        # (the availability logs the outage once; a traceback per stream and try was a flood).
        try:
            yield from said
        except Exception as err:
            if not station.availability.lost(err, f"live stream {path}"):
                raise

    op = request.args.get("op")
    chip = operator_messages(whole_number(op) if op is not None else operator_shown)
    chip_types: tuple[type[Event], ...] = (OperatorChanged, ScanOutcome) if chip else ()

    def stream() -> Iterator[str]:
        with station.bus.queue(*types, *chip_types, maxsize=100) as events:
            yield ": connected\n\n"
            if first is not None:  # after subscribing: nothing falls between it and the events
                yield from kept(first())
            quiet = since_check = since_chip = 0.0
            while not station.stopping.is_set() and not gone():
                event = events.get(timeout=POLL_S)
                if event is not None:
                    since_check = 0.0
                    if chip is not None and isinstance(event, chip_types):
                        since_chip = 0.0
                        yield from kept(chip(event))
                    if isinstance(event, types):
                        yield from kept(messages(event))
                    continue
                quiet += POLL_S
                since_check += POLL_S
                since_chip += POLL_S
                if recheck_s is not None and since_check >= recheck_s:
                    since_check = 0.0
                    yield from kept(messages(None))
                if chip is not None and since_chip >= OPERATOR_RECHECK_S:
                    since_chip = 0.0
                    yield from kept(chip(None))
                if quiet >= heartbeat:
                    quiet = 0.0
                    yield ": keep-alive\n\n"  # also finds a browser that went away

    response = Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    # waitress closes what it served however the stream ended, also one never started.
    response.call_on_close(release)
    return response


def busy() -> Response:
    """The answer to a stream past its bound: the page's SSE client tries again later."""
    response = Response(
        _("Too many live pages are open at this station: this one tries again shortly."),
        status=503,
        mimetype="text/plain",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def operator_messages(shown: int | None) -> Callable[[Event | None], Iterator[str]] | None:
    """The operator chip's messages for a page drawn showing operator `shown` (0: nobody); None
    when the page shows no chip. `signed_in` tells the sign-in screen someone signed in."""
    if shown is None:
        return None
    station = current_app.config["STATION"]
    service = station.operators

    def messages(event: Event | None) -> Iterator[str]:
        # A badge comes as a scan; a PIN, a sign-out or the idle lock as OperatorChanged.
        nonlocal shown
        if isinstance(event, OperatorChanged) and event.station != station.settings.station.name:
            return
        state = service.state()
        now = state.current.id if state.current else 0
        if now == shown:
            return
        shown = now
        yield sse("operator", render_template("operators_chip.html", operator_state=state))
        if now:
            yield sse("signed_in", str(now))

    return messages
