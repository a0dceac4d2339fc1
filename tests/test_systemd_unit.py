"""The systemd units, tested as code: notify type, a watchdog, an unprivileged user, hardening,
permanent errors that stop the unit, and the kiosk browser's unit."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stationd.exit_status import CONFIG, PERMANENT

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "stationd.service"
KIOSK_UNIT = UNIT.with_name("stationd-kiosk.service")
#: `systemd-analyze security --offline=yes systemd/stationd.service` may say no more (issue 14).
MAX_EXPOSURE = 1.9


def unit(path: Path = UNIT) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(path)
    return parser


def values(path: Path, key: str) -> list[str]:
    """Every value of a key that systemd lets repeat (configparser keeps only the last)."""
    return re.findall(rf"^{key}=(.*)$", path.read_text(), flags=re.MULTILINE)


def test_unit_tells_systemd_ready_and_pets_a_watchdog():
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) >= 10
    assert service["ExecStart"].endswith(" serve")


def test_unit_runs_unprivileged_and_hardened():
    service = unit()["Service"]
    assert service["User"] == "stationd"
    assert service["CapabilityBoundingSet"] == ""
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "stationd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_finds_no_error_in_the_unit(tmp_path):
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(UNIT)], capture_output=True, text=True
    )
    # The ExecStart binary exists only on an installed station; everything else must be clean.
    problems = [
        line
        for line in out.stderr.splitlines()
        if line.strip()
        and "/opt/stationd/bin/stationd" not in line
        and "Failed to prepare filename" not in line
    ]
    assert problems == []


def test_unit_reaches_only_the_devices_udev_gives_the_stationd_group():
    # Issue 10 item 10: dialout, lp and plugdev opened every serial, lp and plugdev device.
    service = unit()["Service"]
    assert "SupplementaryGroups" not in service
    assert service["Group"] == "stationd"
    assert service["DevicePolicy"] == "closed"
    classes = {v.split()[0] for v in values(UNIT, "DeviceAllow")}
    assert classes == {
        "char-ttyACM",  # USB CDC scanners and scales
        "char-ttyUSB",  # USB-serial adapters
        "char-ttyS",  # RS-232
        "char-input",  # keyboard-mode scanners (evdev)
        "char-hidraw",
        "char-usb_device",  # HID POS scanners and scales, USB printers through pyusb
        "char-usb",  # /dev/usb/lp* printers
    }
    assert "PrivateDevices" not in service


def test_a_permanent_error_stops_the_unit_instead_of_restarting_it():
    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    prevented = {int(s) for s in service["RestartPreventExitStatus"].split()}
    assert prevented == set(PERMANENT) and CONFIG in prevented


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_security_exposure_is_at_most_1_9():
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
    )
    found = re.search(r"Overall exposure level for stationd\.service: ([0-9.]+)", out.stdout)
    assert found, out.stdout + out.stderr
    assert float(found[1]) <= MAX_EXPOSURE


def test_kiosk_unit_shows_chromium_in_cage_after_the_station_is_ready():
    kiosk = unit(KIOSK_UNIT)
    assert "stationd.service" in kiosk["Unit"]["Requires"].split()
    assert "stationd.service" in kiosk["Unit"]["After"].split()
    service = kiosk["Service"]
    assert service["Restart"] == "always"
    assert service["User"] != "stationd"  # the browser never reads the station's files
    command = service["ExecStart"].split()
    assert command[0] == "/usr/bin/cage" and "/usr/bin/chromium" in command
    for flag in (
        "--kiosk",
        "--autoplay-policy=no-user-gesture-required",
        "--no-first-run",
        "--noerrdialogs",
        "--disable-session-crashed-bubble",
    ):
        assert flag in command, flag
    assert "http://127.0.0.1:8080/" in values(KIOSK_UNIT, "Environment")[0]
    # It talks to the station's kiosk on loopback and nothing else.
    assert (service["IPAddressAllow"], service["IPAddressDeny"]) == ("localhost", "any")
    assert service["NoNewPrivileges"] == "yes" and service["CapabilityBoundingSet"] == ""


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_both_units_with_the_install_paths_present(tmp_path):
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for program in ("opt/stationd/bin/stationd", "usr/bin/cage", "usr/bin/chromium"):
        path = root / program
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for source in (UNIT, KIOSK_UNIT):
        shutil.copy(source, units / source.name)
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}"]
        + [f"/etc/systemd/system/{source.name}" for source in (UNIT, KIOSK_UNIT)],
        capture_output=True,
        text=True,
    )
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
