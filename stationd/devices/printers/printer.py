"""What every printer is to the print queue: a sink for bytes that can say how it is.

A printer object is used by exactly one thread, its queue's worker (ARCHITECTURE: one owner per
device); nothing else touches its handle. It knows nothing of orders: it gets bytes that were
rendered from a core document, and it either accepts them or raises a `PrinterError` that says
why not, so the queue can hold the job and try again (R20).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PrinterState(StrEnum):
    """What the print queue shows for a printer and decides on."""

    ONLINE = "online"
    OFFLINE = "offline"  # not there, not answering, refused the connection
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    ERROR = "error"  # the printer reports an error of its own (cutter jam, head too hot…)
    UNKNOWN = "unknown"  # the transport can't ask (a file, a printer without status)

    @property
    def can_print(self) -> bool:
        return self in (PrinterState.ONLINE, PrinterState.UNKNOWN)


@dataclass(frozen=True)
class PrinterStatus:
    state: PrinterState
    detail: str = ""


class PrinterError(Exception):
    """The bytes were not accepted; `status` says why. The job stays queued."""

    def __init__(self, status: PrinterStatus) -> None:
        super().__init__(status.detail or status.state.value)
        self.status = status


def offline(detail: str) -> PrinterError:
    """The error of a printer that can't be reached, saying why."""
    return PrinterError(PrinterStatus(PrinterState.OFFLINE, detail))


class Printer(Protocol):
    """The one interface of receipt and label printers, real and simulated."""

    name: str

    def status(self) -> PrinterStatus:
        """Ask the printer how it is (real-time status where the transport can answer)."""
        ...

    def send(self, data: bytes) -> None:
        """Write `data`; returns only once the printer (or its transport) accepted every byte.

        Raises `PrinterError` when it could not: nothing counts as printed then.
        """
        ...

    def close(self) -> None:
        """Let go of the handle; the next `send` or `status` opens it again."""
        ...
