"""A kernel pty playing a serial device (scanner, scale, printer) for tests: real serial code,
no hardware. The device tests get them from tests/devices/conftest.py's `ptys` fixture; `point`
moves the udev-style symlink a driver finds its port by."""

from __future__ import annotations

import os
import tty
from pathlib import Path


class PtyDevice:
    """The far end of a kernel pty, playing a serial device: the test holds the master end,
    where the device's bytes come from; the driver opens `path`, the slave end, as it would
    open /dev/ttyACM0."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        # Raw, so the line discipline passes CR through instead of turning it into LF.
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.plugged = True

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        """Gone, as a USB device or serial adapter pulled out: the driver's reads and writes
        now fail (EIO / no data)."""
        if self.plugged:
            self.plugged = False
            os.close(self.master)
            os.close(self.slave)


def point(link: Path, target: str) -> None:
    """Repoint a symlink atomically, as udev does for /dev/stationd-scanner or -scale."""
    tmp = link.with_name(link.name + ".new")
    os.symlink(target, tmp)
    os.replace(tmp, link)
