"""Reading a kiosk's server-sent-event stream in a test: through Flask's test client, or
line by line off a real HTTP response (`sse_messages`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask.testing import FlaskClient


def open_stream(client: FlaskClient, path: str):  # type: ignore[no-untyped-def]
    """The streaming response of `path` and an iterator over its chunks, past its greeting."""
    response = client.get(path, buffered=False)
    stream = iter(response.response)
    assert next(stream).startswith(b": connected")
    return response, stream


def next_message(stream: Iterator[bytes], event: str, *, quiet_beats: int = 8) -> str:
    """The data of the next message named `event`; fails after `quiet_beats` keep-alives
    without one, so a stream that stays silent fails the test instead of hanging it (the
    station under test sends a keep-alive every `kiosk.sse_heartbeat_s`)."""
    beats = 0
    for chunk in stream:
        text = chunk.decode()
        if text.startswith(f"event: {event}\n"):
            return "\n".join(
                line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")
            )
        if text.startswith(": keep-alive"):
            beats += 1
            if beats >= quiet_beats:
                break
    raise AssertionError(f"no {event!r} message in {beats} keep-alives")


def sse_messages(lines: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    """(event, data) of each message in an SSE stream read line by line (an HTTP response);
    a connection that breaks ends it."""
    event, data = "message", []
    try:
        for raw in lines:
            line = raw.decode().rstrip("\n")
            if line == "":
                if data:
                    yield event, "\n".join(data)
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
    except (OSError, ValueError):
        return
