"""The systemd unit, tested as code: notify type, a watchdog, an unprivileged user, hardening."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "stationd.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(UNIT)
    return parser


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
