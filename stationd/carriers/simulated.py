"""A carrier that ships nothing, for `stationd demo` and the tests.

It hands out UPU S10 ids — the format of postal parcels — with the right check digit, so they
pass every check a real one does and print as real labels; no carrier knows them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import zlib
from pathlib import Path

from stationd.carriers import CarrierError, ParcelBooking, Shipment
from stationd.core.check_digits import s10_check_digit

log = logging.getLogger(__name__)

#: The S10 serial number has eight digits.
LAST_SEQUENCE = 99_999_999


class SimulatedCarrier:
    """Parcel ids ``C<letter><8-digit sequence><check digit><country>``, e.g. ``CK000000014SE``.

    The ids follow from the station's name (its letter) and a sequence number, so they are the
    same on every run of a test and differ between stations. The sequence is kept in
    `state_file` and saved (written, synced, renamed into place) before an id is handed out:
    a restart or a power cut may skip a number, never hand one out twice.
    """

    name = "simulated"

    def __init__(self, state_file: str | os.PathLike[str], *, station: str, country: str) -> None:
        country = country.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise ValueError(f"an S10 id ends in a two-letter country code, not {country!r}")
        self.state_file = Path(state_file)
        # "C" is the S10 service indicator of parcels; the second letter tells stations apart.
        self.prefix = "C" + chr(ord("A") + zlib.crc32(station.encode()) % 26)
        self.country = country
        self._lock = threading.Lock()

    def book(self, booking: ParcelBooking) -> Shipment:
        """One made-up id per parcel; no labels: the station prints its own for them."""
        ids = tuple(self.book_parcel(booking) for _ in range(max(booking.parcels, 1)))
        return Shipment(ids[0], booking.reference, ids)

    def look_up(self, reference: str) -> Shipment | None:
        """None: the simulated carrier keeps no record of what it handed out, and a booking
        asked again costs nothing but a number of its sequence."""
        return None

    def cancel(self, shipment: Shipment) -> None:
        """Nothing to take back: no carrier knows the ids."""
        log.info("simulated carrier: shipment %s cancelled", shipment.carrier_id)

    def book_parcel(self, booking: ParcelBooking) -> str:
        """The next id of this station's sequence; `booking` is not needed to make one up."""
        with self._lock:
            sequence = self._last() + 1
            if sequence > LAST_SEQUENCE:
                raise CarrierError("The simulated carrier has handed out all its parcel ids.")
            self._save(sequence)
        serial = f"{sequence:08d}"
        parcel_id = f"{self.prefix}{serial}{s10_check_digit(serial)}{self.country}"
        log.info("simulated carrier: order %s parcel %s", booking.order_id, parcel_id)
        return parcel_id

    def _last(self) -> int:
        try:
            saved = self.state_file.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as err:
            raise CarrierError(
                f"The simulated carrier can't read {self.state_file}: {err}"
            ) from err
        if not saved.isdigit():
            # Guessing would risk handing out an id twice; a person has to look.
            raise CarrierError(
                f"The simulated carrier's sequence file {self.state_file} is damaged "
                f"(it holds {saved[:20]!r}, not a number)."
            )
        return int(saved)

    def _save(self, sequence: int) -> None:
        temporary = self.state_file.with_name(self.state_file.name + ".tmp")
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "w", encoding="ascii") as fh:
                fh.write(f"{sequence}\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, self.state_file)
            folder = os.open(self.state_file.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as err:
            raise CarrierError(f"The simulated carrier can't save its sequence: {err}") from err
