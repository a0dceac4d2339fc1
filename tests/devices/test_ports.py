"""ports: PortSpec and find_port, the way a serial scanner or scale finds its port (a path,
followed through symlinks, or a USB vendor/product id and serial number)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from pty_device import point

from stationd.devices import ports
from stationd.devices.ports import PortSpec, find_port, list_serial_ports

# --- finding the port -------------------------------------------------------------------------


def test_port_spec_parse_and_str() -> None:
    assert PortSpec.parse("/dev/stationd-scanner") == PortSpec(path="/dev/stationd-scanner")
    assert PortSpec.parse("usb:0c2e:0b61") == PortSpec(usb_vid=0x0C2E, usb_pid=0x0B61)
    spec = PortSpec.parse("usb:0C2E:0b61:18123B4C2A")
    assert spec == PortSpec(usb_vid=0x0C2E, usb_pid=0x0B61, serial_number="18123B4C2A")
    assert str(spec) == "usb:0c2e:0b61:18123B4C2A"
    assert PortSpec.parse("usb:0c2e::SN1") == PortSpec(usb_vid=0x0C2E, serial_number="SN1")
    for bad in ("usb:0c2e", "usb:zz:0b61", "usb::", "", "usb:10000:1"):
        with pytest.raises(ValueError):
            PortSpec.parse(bad)
    with pytest.raises(ValueError):
        PortSpec(path="/dev/ttyACM0", usb_vid=1)


def test_path_spec_follows_symlinks(tmp_path: Path, ptys) -> None:
    pty = ptys()
    link = tmp_path / "stationd-scanner"
    assert find_port(PortSpec(path=str(link))) is None
    point(link, pty.path)
    assert find_port(PortSpec(path=str(link))) == str(link)
    point(link, str(tmp_path / "gone"))
    assert find_port(PortSpec(path=str(link))) is None  # dangling


def _usb_port(device: str, vid: int | None, pid: int | None, serial: str | None):
    return SimpleNamespace(
        device=device,
        vid=vid,
        pid=pid,
        serial_number=serial,
        description="Honeywell 1900" if vid else "ttyS0",
        hwid=f"USB VID:PID={vid:04X}:{pid:04X} SER={serial}" if vid else "n/a",
        manufacturer="Honeywell" if vid else None,
        product="1900G" if vid else None,
        location="1-1.3:1.0" if vid else None,
    )


@pytest.fixture
def fake_comports(monkeypatch: pytest.MonkeyPatch) -> None:
    # The only stand-in in these tests: the machine running them has no USB scanners.
    listing = [
        _usb_port("/dev/ttyACM1", 0x0C2E, 0x0B61, "SN-B"),
        _usb_port("/dev/ttyACM0", 0x0C2E, 0x0B61, "SN-A"),
        _usb_port("/dev/ttyUSB0", 0x0403, 0x6001, None),
        _usb_port("/dev/ttyS0", None, None, None),
    ]
    monkeypatch.setattr(ports.list_ports, "comports", lambda: listing)


@pytest.mark.usefixtures("fake_comports")
def test_usb_spec_matches_ids_and_serial_number(caplog: pytest.LogCaptureFixture) -> None:
    assert find_port(PortSpec.parse("usb:0c2e:0b61:SN-B")) == "/dev/ttyACM1"
    assert find_port(PortSpec(serial_number="SN-A")) == "/dev/ttyACM0"
    assert find_port(PortSpec.parse("usb:0403:6001")) == "/dev/ttyUSB0"
    assert find_port(PortSpec.parse("usb:0c2e:0b61:SN-C")) is None
    assert find_port(PortSpec.parse("usb:1234:0b61")) is None
    with caplog.at_level(logging.WARNING):
        assert find_port(PortSpec.parse("usb:0c2e:0b61")) == "/dev/ttyACM0"
    assert "2 serial ports match usb:0c2e:0b61" in caplog.text


@pytest.mark.usefixtures("fake_comports")
def test_list_serial_ports_gives_a_spec_for_each() -> None:
    listed = list_serial_ports()
    assert [p["device"] for p in listed] == [
        "/dev/ttyACM0",
        "/dev/ttyACM1",
        "/dev/ttyS0",
        "/dev/ttyUSB0",
    ]
    assert listed[0]["spec"] == "usb:0c2e:0b61:SN-A"
    assert listed[2]["spec"] == "/dev/ttyS0"
    assert listed[3]["spec"] == "usb:0403:6001"
    for p in listed:
        if p["usb_vid"] is not None:
            assert find_port(PortSpec.parse(p["spec"])) == p["device"]


def test_list_serial_ports_runs_on_this_machine() -> None:
    for p in list_serial_ports():
        assert {"device", "usb_vid", "usb_pid", "serial_number", "spec"} <= set(p)
