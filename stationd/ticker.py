"""A daemon thread that does one thing every so often until it is stopped: the database watch,
the sync watch and the pack-script schedule each run one."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Ticker:
    """Calls `tick` every `every_s` seconds on a daemon thread named `name`, the first call one
    interval after `start` (or at once with `at_once`). `tick` handles its own errors: one
    that escapes ends the thread."""

    def __init__(
        self, name: str, every_s: float, tick: Callable[[], None], *, at_once: bool = False
    ) -> None:
        self.name = name
        self.every_s = every_s
        self.tick = tick
        self.at_once = at_once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    def _run(self) -> None:
        if not self.at_once and self._stop.wait(self.every_s):
            return
        while not self._stop.is_set():
            self.tick()
            if self._stop.wait(self.every_s):
                return


__all__ = ["Ticker"]
