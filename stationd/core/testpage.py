"""A printer's test page: a small real document that shows a printer works end to end.

It goes through the same renderers and the same print queue as every pick list and label, so a
test page that comes out proves what a packer needs: the queue reaches the printer, the paper
is cut, a barcode scans, and the Nordic letters print as letters — a wrong code page shows at
once in the line of å ä ö æ ø.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from stationd.core.paper_blocks import Barcode, Block, Fields, Heading, Paragraph, Rule, Section
from stationd.core.text import sentence

#: Every letter the shop's customers and products are written with, lower and upper case.
NORDIC_LETTERS = "å ä ö æ ø  Å Ä Ö Æ Ø"

TITLE = sentence("Test print")
STATION = sentence("Station")
PRINTER = sentence("Printer")
TIME = sentence("Time")
LETTERS = sentence("Letters")
CHECK = sentence("If the letters above look wrong, the printer's code page is set wrong.")
SCAN = sentence("Scan the barcode on the Devices page to try a scanner.")


@dataclass(frozen=True)
class PrinterTestPage:
    """The test page of printer `printer` at station `station`, asked for at `at` (UTC).

    `language` is the station's ("sv", "nb", "en"; others fall back to English); `tz` the zone
    the time is printed in (as stored when None). Its barcode carries ``TEST-`` and the time,
    a code the scanners' test field reads as a parcel-id-like text.
    """

    station: str
    printer: str
    at: datetime
    language: str = "sv"
    tz: tzinfo | None = None

    @property
    def barcode(self) -> str:
        return f"TEST-{self._local():%H%M%S}"

    def _local(self) -> datetime:
        if self.tz is not None and self.at.tzinfo is not None:
            return self.at.astimezone(self.tz)
        return self.at

    def sections(self) -> tuple[Section, ...]:
        """One piece of paper; it is no order's document, so its kind is None."""
        blocks: tuple[Block, ...] = (
            Heading(TITLE),
            Fields(
                (
                    (STATION, self.station),
                    (PRINTER, self.printer),
                    (TIME, f"{self._local():%Y-%m-%d %H:%M:%S}"),
                    (LETTERS, NORDIC_LETTERS),
                )
            ),
            Paragraph((CHECK,)),
            Rule(),
            Barcode(self.barcode),
            Paragraph((SCAN,)),
        )
        return (Section(None, blocks),)
