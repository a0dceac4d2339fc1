"""A pack-script run's read and decide in a child process, its moves streamed back (issue 10).

Reading 100,000 open orders and deciding on them is a run's memory peak (~150 MB of small
Python objects). Done in `serve`, what that peak left behind in Python's and glibc's allocators
grew `serve` run after run, for 27 runs. So `serve` starts a child for it
(`python -m stationd.services.packscript_child`, spawned: a fresh interpreter, nothing of
`serve`'s memory shared), which reads one snapshot, decides (core's `run_pack_script`) and
sends back the trace, then the moves in batches as `serve` asks for them: `serve` writes them
itself, in its short transactions (`services.packscript_run`), and never holds more than a
batch. The child's memory goes back to the system when it ends.

The pipe carries length-prefixed pickles, between two processes of the same station (the
database URL goes over stdin, not the command line, where `ps` would show a password):

    serve → child   {"url", "busy_timeout_s", "after", "batch"}   one request; stdin closes
    child → serve   ("trace", order_ids, outcomes, reasons, stopped)
                    ("moves", [(candidate, updated_at), …])   as many as it takes
                    ("end",)  |  ("error", "Type: message")

A child that dies (killed, out of memory) or a pipe that breaks is a `DecideFailed` in `serve`
at the next read: what was written stays written, nothing of a batch half received is.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import IO, Any

from stationd.core.packscript import Candidate, Step, Trace, run_pack_script
from stationd.core.packscript_reasons import reason_from_data

log = logging.getLogger(__name__)

__all__ = ["MOVES_PER_BATCH", "DecideFailed", "DecideInChild"]

#: How many moves one message carries: enough for the largest chunk a transaction writes on
#: SQLite in a few messages, small enough that `serve` holds little at a time.
MOVES_PER_BATCH = 2000
_LENGTH = struct.Struct(">I")


class DecideFailed(Exception):
    """The child ended without deciding, or before it had sent every move."""


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


class DecideInChild:
    """One read-and-decide in a child process: the trace at once, the moves as asked for.

    `after` ((placed_at, order_id) of the last move written) decides only the orders after it,
    oldest first, on a fresh snapshot: a run deciding again after something changed.
    `on_start` is told the child's process (for a Stop to end it at once).
    """

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_s: float,
        after: tuple[Any, int] | None = None,
        on_start: Callable[[subprocess.Popen], None] | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._buffer: list[tuple[Candidate, Any]] = []
        self._ended = False
        try:
            if on_start is not None:
                on_start(self.process)
            assert self.process.stdin is not None and self.process.stdout is not None
            with self.process.stdin as request:
                asked = {"url": url, "busy_timeout_s": busy_timeout_s, "after": after}
                _send(request, ({**asked, "batch": MOVES_PER_BATCH},))
            self._out = self.process.stdout
            first = _receive(self._out)
            if first[0] == "error":
                raise DecideFailed(first[1])
            _, order_ids, outcomes, reasons, stopped = first
        except BrokenPipeError:
            self.close()
            raise DecideFailed("the decide's child ended before it read its request") from None
        except BaseException:
            self.close()
            raise
        #: Every order the child looked at, as the run's trace (R8).
        self.trace = Trace(
            order_ids,
            outcomes,
            reasons,
            None
            if stopped is None
            else Step(stopped[0], "error", False, reason_from_data(stopped[1])),
        )

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
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _child_main() -> int:
    # Only the pipe's messages go to the real stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(level=logging.WARNING, format="packscript child: %(message)s")
    (request,) = _receive(sys.stdin.buffer)
    try:
        from stationd.services.packscript_run import read_snapshot
        from stationd.store.database import Store

        store = Store(request["url"], busy_timeout_s=request["busy_timeout_s"])
        candidates, versions, available = read_snapshot(store, after=request["after"])
        store.dispose()
        result = run_pack_script(candidates, available)
        del candidates, available
    except Exception as err:
        log.exception("could not read and decide")
        _send(out, ("error", f"{type(err).__name__}: {err}"))
        out.close()
        return 1
    trace, stopped = result.trace, result.trace.stopped
    reason = None if stopped is None else stopped.detail
    data = reason.data() if hasattr(reason, "data") else reason
    _send(
        out,
        (
            "trace",
            list(trace.order_ids),
            trace.outcomes,
            dict(trace.reasons),
            None if stopped is None else (stopped.order_id, data),
        ),
    )
    moves = result.moves
    try:
        for start in range(0, len(moves), request["batch"]):
            batch = moves[start : start + request["batch"]]
            _send(out, ("moves", [(move, versions.get(move[0])) for move in batch]))
        _send(out, ("end",))
        out.close()
    except BrokenPipeError:  # serve stopped listening (a Stop, a restart): nothing to do
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
