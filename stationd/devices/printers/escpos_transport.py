"""The one small interface every ESC/POS transport file speaks (`EscposPrinter` talks only
through it): a frozen description of where the printer is, which opens python-escpos handles."""

from __future__ import annotations

from typing import ClassVar, Protocol

from escpos.escpos import Escpos

from stationd.devices.printers.printer import PrinterStatus

__all__ = ["EscposTransport"]


class EscposTransport(Protocol):
    """How an `EscposPrinter` reaches its printer. Transports subclass it for the defaults:
    the printer answers status requests itself, and a write returns once the job is taken."""

    __slots__ = ()

    timeout_s: float
    per_job: ClassVar[bool] = False  # a fresh handle for each job, closed after it

    def open(self) -> Escpos:
        """A fresh python-escpos handle; raises what opening raised."""
        ...

    def ask(self, handle: Escpos, request: bytes, want: int) -> bytes | None:
        """Send `request`; up to `want` answer bytes that came within the timeout (None: this
        transport carries no answer back)."""
        ...

    def status(self) -> PrinterStatus | None:
        """What the transport can tell without asking the printer; None: ask it (DLE EOT)."""
        return None

    def finish(self, handle: Escpos) -> None:
        """Wait until the printer has taken the job just written; most writes return only then."""
