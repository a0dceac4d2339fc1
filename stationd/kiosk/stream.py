"""Server-sent events: `live_stream` for every page, and the bench fragment after each scan."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context

from stationd.events import DatabaseState, Event, OrderChanged, ScanOutcome
from stationd.kiosk.bench import bench_context

bp = Blueprint("stream", __name__)

#: How often a quiet stream looks whether the station is stopping.
POLL_S = 0.5


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

    # DatabaseState: the outage's banner, the scans it keeps and the catch-up (issue 10).
    return live_stream((ScanOutcome, OrderChanged, DatabaseState), messages, first=first)


def live_stream(
    types: tuple[type[Event], ...],
    messages: Callable[[Event | None], Iterable[str]],
    *,
    recheck_s: float | None = None,
    first: Callable[[], Iterable[str]] | None = None,
) -> Response:
    """A server-sent-event response that lives until the station stops or the browser goes.

    `messages(event)` is called for every bus event of `types`, and `messages(None)` after each
    `recheck_s` seconds without one — for changes no event announces, such as another process
    writing the database; it yields ready messages (`sse()`). `first()` yields what is sent
    once, right after the stream subscribed. It runs in the request's context, so fragments come
    out in the browser's language.
    """
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

    def stream() -> Iterator[str]:
        with station.bus.queue(*types, maxsize=100) as events:
            yield ": connected\n\n"
            if first is not None:  # after subscribing: nothing falls between it and the events
                yield from kept(first())
            quiet = since_check = 0.0
            while not station.stopping.is_set() and not gone():
                event = events.get(timeout=POLL_S)
                if event is not None:
                    since_check = 0.0
                    yield from kept(messages(event))
                    continue
                quiet += POLL_S
                since_check += POLL_S
                if recheck_s is not None and since_check >= recheck_s:
                    since_check = 0.0
                    yield from kept(messages(None))
                if quiet >= heartbeat:
                    quiet = 0.0
                    yield ": keep-alive\n\n"  # also finds a browser that went away

    return Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
