"""Server-sent events: the bench fragment, re-rendered after every scan outcome."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, current_app, render_template, request

from stationd.events import OrderChanged, ScanOutcome
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
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # waitress tells a streaming app when the client hung up (channel_request_lookahead > 0).
    gone = request.environ.get("waitress.client_disconnected", lambda: False)
    station = app.config["STATION"]
    heartbeat = station.settings.kiosk.sse_heartbeat_s

    def stream() -> Iterator[str]:
        with station.bus.queue(ScanOutcome, OrderChanged, maxsize=100) as events:
            yield ": connected\n\n"
            quiet = 0.0
            while not station.stopping.is_set() and not gone():
                event = events.get(timeout=POLL_S)
                if event is None:
                    quiet += POLL_S
                    if quiet >= heartbeat:
                        quiet = 0.0
                        yield ": keep-alive\n\n"  # also finds a browser that went away
                    continue
                if isinstance(event, OrderChanged) and event.what in ("packed", "opened"):
                    continue  # the ScanOutcome of the same scan already redraws the bench
                with app.app_context():
                    html = render_template("bench_fragment.html", **bench_context())
                yield sse("bench", html)

    return Response(
        stream(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
