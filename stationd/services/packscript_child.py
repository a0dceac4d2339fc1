"""A pack-script run's read and decide in a child process, its moves streamed back (issue 10).

Reading 100,000 open orders and deciding on them is a run's memory peak (~150 MB of small
Python objects). Done in `serve`, what that peak left behind in Python's and glibc's allocators
grew `serve` run after run, for 27 runs. So `serve` starts a child for it
(`python -m stationd.services.packscript_child`, spawned: a fresh interpreter, nothing of
`serve`'s memory shared), which reads one snapshot, decides (core's `run_pack_script`) and
sends back the trace, then the moves in batches as `serve` asks for them: `serve` writes them
itself, in its short transactions (`services.packscript_run`), and never holds more than a
batch. The child's memory goes back to the system when it ends.

On PostgreSQL the child writes the moves itself (issue 11), as a run in one process does
there: one transaction, written while it decides (`CentralWriter`), so the server moves the
oldest orders while the rest are decided, and no move crosses the pipe. `serve` then says
whether to commit — not if a Stop came meanwhile — and hears the ids moved. Sent to the
parent and written there, 100,000 orders took 2.0 s instead of the 1.2 s of a run in one
process.

The pipe carries length-prefixed pickles, between two processes of the same station (the
database URL goes over stdin, not the command line, where `ps` would show a password):

    serve → child   {"url", "busy_timeout_s", "after", "batch", "write"}   one request
    child → serve   ("trace", order_ids, outcomes, reasons, stopped, writes)
                    ("moves", [(candidate, updated_at), …])   as many as it takes
                    ("end",)  |  ("error", "Type: message")
    when it writes (`writes`: "write" asked it, on PostgreSQL, for at most "at_most" orders):
    child → serve   ("ready",)   every move handed to its transaction
    serve → child   ("commit",)   (or nothing: stdin closes, the child rolls back and ends)
    child → serve   ("written", moved_ids)  |  ("changed", why)  |  ("error", "Type: message")

A child that dies (killed, out of memory) or a pipe that breaks is a `DecideFailed` in `serve`
at the next read: what was written stays written, nothing of a batch half received is.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, NamedTuple

from stationd.core.packscript import Candidate, Step, Trace, run_pack_script
from stationd.core.packscript_reasons import reason_from_data

log = logging.getLogger(__name__)

__all__ = [
    "MOVES_PER_BATCH",
    "DecideFailed",
    "DecideInChild",
    "Declined",
    "ReadyChild",
    "WriteInChild",
]

#: How many moves one message carries: enough for the largest chunk a transaction writes on
#: SQLite in a few messages, small enough that `serve` holds little at a time.
MOVES_PER_BATCH = 2000
_LENGTH = struct.Struct(">I")


class DecideFailed(Exception):
    """The child ended without deciding, or before it had sent every move."""


class WriteInChild(NamedTuple):
    """What a child on PostgreSQL is asked to write itself: run `run_id` of `station`, if it
    finds at most `at_most` open orders (else it sends the moves, for short transactions)."""

    station: str
    run_id: int
    at_most: int


def _send(out: IO[bytes], message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)))
    out.write(data)


def _receive(inp: IO[bytes]) -> tuple:
    head = inp.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise DecideFailed("the decide's child ended before it had sent everything")
    (length,) = _LENGTH.unpack(head)
    data = inp.read(length)
    if len(data) < length:
        raise DecideFailed("the decide's child ended in the middle of a message")
    return pickle.loads(data)


def _start_child() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )


class ReadyChild:
    """A child started before the run that takes it: its modules imported (~0.4 s of a
    child's start, a third of a run over 100,000 orders), it waits for its request. `serve`
    keeps one while it runs central's pack script on a schedule; it holds ~46 MB meanwhile, and ends
    by itself when `serve` does (its stdin closes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._closed = False

    def prepare(self) -> None:
        """Start a child to wait for the next run, if none waits (none once closed)."""
        with self._lock:
            if self._closed:
                return
            if self._process is None or self._process.poll() is not None:
                self._process = _start_child()

    def take(self) -> subprocess.Popen | None:
        """The child waiting, if one still does (the next is not started here)."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            return process
        if process is not None:
            _end(process)
        return None

    def close(self) -> None:
        """End the child waiting, if any, and start no more."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is not None:
            _end(process)


def _end(process: subprocess.Popen) -> None:
    """End `process` (at once if it still runs), wait for it, close its pipes."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None and not pipe.closed:
            with contextlib.suppress(BrokenPipeError):  # a request the child never read
                pipe.close()


class DecideInChild:
    """One read-and-decide in a child process: the trace at once, the moves as asked for.

    `after` ((placed_at, order_id) of the last move written) decides only the orders after it,
    oldest first, on a fresh snapshot: a run deciding again after something changed.
    `on_start` is told the child's process (for a Stop to end it at once). With `write`
    (PostgreSQL), the child writes the moves itself if it can (`writes`; then `commit`).
    `ready`: take the child started ahead there, if one waits.
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_s: float,
        after: tuple[Any, int] | None = None,
        on_start: Callable[[subprocess.Popen], None] | None = None,
        write: WriteInChild | None = None,
        ready: ReadyChild | None = None,
    ) -> None:
        self.process = (ready.take() if ready is not None else None) or _start_child()
        self._buffer: list[tuple[Candidate, Any]] = []
        self._ended = False
        #: Whether the child that writes was told to commit (it may have, whatever follows).
        self.commit_sent = False
        try:
            if on_start is not None:
                on_start(self.process)
            assert self.process.stdin is not None and self.process.stdout is not None
            self._in = self.process.stdin
            asked = {"url": url, "busy_timeout_s": busy_timeout_s, "after": after}
            _send(self._in, ({**asked, "batch": MOVES_PER_BATCH, "write": write},))
            self._in.flush()
            if write is None:  # nothing more to say
                self._in.close()
            self._out = self.process.stdout
            first = _receive(self._out)
            if first[0] == "error":
                raise DecideFailed(first[1])
            _, order_ids, outcomes, reasons, stopped, writes = first
            #: Every order the child looked at, as the run's trace (R8).
            self.trace = Trace(
                order_ids,
                outcomes,
                reasons,
                None
                if stopped is None
                else Step(stopped[0], "error", False, reason_from_data(stopped[1])),
            )
        except BrokenPipeError:
            self.close()
            raise DecideFailed("the decide's child ended before it read its request") from None
        except BaseException:
            self.close()
            raise
        #: Whether the child writes the moves itself (`commit`), rather than sending them.
        self.writes: bool = writes
        if not writes and not self._in.closed:
            self._in.close()

    def commit(self, go_on: Callable[[], bool]) -> list[int]:
        """The child that writes (`writes`): once every move is in its transaction, commit it
        if `go_on()` (asked then: False for a Stop), else roll it back and end the child.
        Returns the ids moved; raises MovesChanged (nothing written) if an order or the stock
        changed since the child read them, DecideFailed if the child is gone or failed
        (`commit_sent` then says whether it may have committed: the run's row counts what
        its transaction moved), Declined if `go_on()` said no."""
        from stationd.store.packscript_chunks import MovesChanged

        message = _receive(self._out)
        if message[0] != "ready":
            raise DecideFailed(message[1] if message[0] == "error" else repr(message[0]))
        if not go_on():
            self.close()
            raise Declined
        self.commit_sent = True
        try:
            _send(self._in, ("commit",))
            self._in.close()
        except BrokenPipeError:
            raise DecideFailed("the decide's child ended before it could commit") from None
        message = _receive(self._out)
        if message[0] == "written":
            return message[1]
        if message[0] == "changed":
            raise MovesChanged(message[1])
        raise DecideFailed(message[1] if message[0] == "error" else repr(message[0]))

    def take(self, n: int) -> tuple[list[Candidate], dict[int, Any]]:
        """The next (up to) `n` moves, oldest first, and the `updated_at` each order was read
        with; fewer (or none) at the end. Raises DecideFailed if the child is gone."""
        while len(self._buffer) < n and not self._ended:
            message = _receive(self._out)
            if message[0] == "moves":
                self._buffer.extend(message[1])
            elif message[0] == "end":
                self._ended = True
            else:
                raise DecideFailed(message[1] if message[0] == "error" else repr(message[0]))
        taken, self._buffer = self._buffer[:n], self._buffer[n:]
        return [move for move, _ in taken], {move[0]: seen for move, seen in taken}

    def reserved(self, chunk: list[Candidate]) -> dict[str, int] | None:
        """None: the stock a chunk reserves is counted from its lines; the child sends no
        count of its own."""
        return None

    def close(self) -> None:
        """End the child (at once if it still runs) and wait for it."""
        _end(self.process)


class Declined(Exception):
    """`DecideInChild.commit`: not committed, as asked (a Stop came)."""


def _child_main() -> int:
    # Only the pipe's messages go to the real stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(level=logging.WARNING, format="packscript child: %(message)s")
    # Imported before the request comes: a child started ahead (`ReadyChild`) waits ready.
    from stationd.services.packscript_central_writer import decide_while_writing
    from stationd.services.packscript_run import read_snapshot
    from stationd.store.database import Store

    try:
        (request,) = _receive(sys.stdin.buffer)
    except DecideFailed:  # a child started ahead that no run took: serve ended, or let it go
        return 0
    # For the child's life, which is one run: the ~500,000 tuples read live until it ends and
    # hold no cycles, and the collector would only walk them again and again (0.2 s of the
    # read over 100,000 orders).
    gc.disable()
    write: WriteInChild | None = request["write"]
    writer = None
    try:
        store = Store(request["url"], busy_timeout_s=request["busy_timeout_s"])
        read = read_snapshot(store, after=request["after"])
        versions = read[1]
        if write is not None and (store.is_sqlite or len(read[0]) > write.at_most):
            write = None  # the moves go to serve, for its short transactions
        if write is None:
            store.dispose()
            result = run_pack_script(read[0], read[2])
        else:
            result, writer = decide_while_writing(store, write.station, write.run_id, read)
        del read
    except Exception as err:
        log.exception("could not read and decide")
        _send(out, ("error", f"{type(err).__name__}: {err}"))
        out.close()
        return 1
    trace, stopped = result.trace, result.trace.stopped
    reason = None if stopped is None else stopped.detail
    data = reason.data() if hasattr(reason, "data") else reason
    try:
        _send(
            out,
            (
                "trace",
                list(trace.order_ids),
                trace.outcomes,
                dict(trace.reasons),
                None if stopped is None else (stopped.order_id, data),
                writer is not None,
            ),
        )
        if writer is not None:
            return _write(out, writer, result, store)
        moves = result.moves
        for start in range(0, len(moves), request["batch"]):
            batch = moves[start : start + request["batch"]]
            _send(out, ("moves", [(move, versions.get(move[0])) for move in batch]))
        _send(out, ("end",))
        out.close()
    except BrokenPipeError:  # serve stopped listening (a Stop, a restart): nothing to do
        if writer is not None:
            writer.abandon()
        return 0
    return 0


def _write(out: IO[bytes], writer: Any, result: Any, store: Any) -> int:
    """The child that writes: every move is in its transaction; commit it if serve says so."""
    from stationd.store.packscript_chunks import MovesChanged

    _send(out, ("ready",))
    out.flush()
    try:
        answer = _receive(sys.stdin.buffer)
    except DecideFailed:  # stdin closed: serve said no (a Stop), or is gone
        answer = ("abandon",)
    if answer != ("commit",):
        writer.abandon()
        return 0
    writer.finish(result.reserved)
    try:
        writer.wait()
    except MovesChanged as why:
        _send(out, ("changed", str(why)))
    except Exception as err:
        log.exception("could not write the moves")
        _send(out, ("error", f"{type(err).__name__}: {err}"))
    else:
        _send(out, ("written", result.moved_ids))
    out.close()
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
