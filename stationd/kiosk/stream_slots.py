"""How many live streams may hold a kiosk server thread at once (issue 10 item 4).

waitress serves a stream from one of its threads for as long as the page is open. Unbounded,
eight open pages (two streams each) took all sixteen threads and every other request hung,
`/healthz` and the bench's scans with them. So streams take a slot: at most half the threads
serve streams, the other half always answer requests; a quarter of the threads is kept for the
touchscreen's own browser on this machine, so pages open on the LAN never starve it. A stream
past its bound is answered 503 with `Retry-After`, and the page tries again (htmx's SSE
extension reconnects a failed stream with a growing delay).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: The addresses the touchscreen's browser (stationd-kiosk.service) connects from.
TOUCHSCREEN_ADDRESSES = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


class StreamSlots:
    """Two counted pools of stream slots: the touchscreen's and everyone else's."""

    def __init__(self, touchscreen: int, others: int) -> None:
        self._lock = threading.Lock()
        self._free = {"touchscreen": touchscreen, "others": others}
        self.size = dict(self._free)

    @classmethod
    def for_threads(cls, threads: int) -> StreamSlots:
        """Slots for a server of `threads` threads: half of them at most serve streams."""
        touchscreen = max(1, threads // 4)
        return cls(touchscreen, max(0, threads // 2 - touchscreen))

    def take(self, remote_addr: str | None) -> Callable[[], None] | None:
        """A slot for a stream from `remote_addr`, as the function that gives it back (once,
        however often it is called); None when the stream's pool is full."""
        pool = "touchscreen" if remote_addr in TOUCHSCREEN_ADDRESSES else "others"
        with self._lock:
            if self._free[pool] <= 0:
                return None
            self._free[pool] -= 1
        given_back = threading.Event()

        def release() -> None:
            with self._lock:
                if not given_back.is_set():
                    given_back.set()
                    self._free[pool] += 1

        return release

    def in_use(self) -> dict[str, int]:
        """How many slots of each pool are taken now."""
        with self._lock:
            return {pool: self.size[pool] - free for pool, free in self._free.items()}
