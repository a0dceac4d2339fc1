"""`stationd check` (issue 14): config, database, devices, disk and clock, each ok / warn / fail,
with real parts — a kernel pty for the serial scanner, a loopback socket for the network
printer, a real SQLite file — and a non-zero exit on fail."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from stationd.check import Level, run_checks, table
from stationd.cli import main
from stationd.config import load_settings
from stationd.store.database import Store


def synced() -> tuple[bool, str]:
    return True, "test clock"


@pytest.fixture
def pty_port():
    leader, follower = os.openpty()
    yield os.ttyname(follower)
    os.close(leader)
    os.close(follower)


@pytest.fixture
def printer_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def write_config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "stationd.toml"
    cfg.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\n' + body)
    cfg.chmod(0o640)
    return cfg


def levels(findings) -> dict[str, Level]:
    return {f.what: f.level for f in findings}


def test_a_station_with_everything_in_place_is_all_ok(tmp_path, pty_port, printer_port):
    cfg = write_config(
        tmp_path,
        f'[[scanners]]\nname = "hand"\nkind = "serial"\nport = "{pty_port}"\n'
        '[[scanners]]\nname = "sim"\nkind = "simulated"\n'
        f'[[printers]]\nname = "receipts"\nkind = "escpos"\nhost = "127.0.0.1"\n'
        f"port = {printer_port}\n",
    )
    store = Store(load_settings(cfg).database_url())
    store.upgrade()
    store.dispose()
    findings = run_checks(cfg, service_user="root", clock=synced)
    assert levels(findings) == {
        "config": Level.OK,
        "database": Level.OK,
        "scanner hand": Level.OK,
        "scanner sim": Level.OK,
        "printer receipts": Level.OK,
        "disk": Level.OK,
        "clock": Level.OK,
    }, table(findings)
    assert f"127.0.0.1:{printer_port} answers" in table(findings)


def test_a_config_the_service_user_cannot_read_fails_before_the_unit_starts(tmp_path):
    # Issue 14 point 8: the demo's 0600 file, read by the service user, stopped the unit.
    cfg = write_config(tmp_path, "")
    cfg.chmod(0o600)
    tmp_path.chmod(0o755)
    findings = run_checks(cfg, service_user="nobody", clock=synced)
    assert [(f.what, f.level) for f in findings] == [("config", Level.FAIL)]
    assert "the service user nobody can't read" in findings[0].detail
    assert "root:stationd 640" in findings[0].detail


def test_a_world_readable_config_is_a_warning(tmp_path):
    cfg = write_config(tmp_path, "")
    cfg.chmod(0o644)
    found = levels(run_checks(cfg, service_user="root", clock=synced))
    assert found["config permissions"] is Level.WARN and found["config"] is Level.OK


def test_a_bad_config_fails_with_its_one_sentence(tmp_path):
    cfg = write_config(tmp_path, "[kiosk]\nprot = 8080\n")
    findings = run_checks(cfg, service_user="root", clock=synced)
    assert findings[-1].level is Level.FAIL and "did you mean 'port'?" in findings[-1].detail


def test_missing_devices_and_a_printer_that_does_not_answer_fail_and_exit_non_zero(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    cfg = write_config(
        tmp_path,
        f'[[scanners]]\nname = "hand"\nkind = "serial"\nport = "{tmp_path}/stationd-scanner-N42"\n'
        f'[[printers]]\nname = "labels"\nkind = "zpl"\nhost = "127.0.0.1"\nport = {dead_port}\n'
        "timeout_s = 1\n",
    )
    result = CliRunner().invoke(main, ["--config", str(cfg), "check"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(
        line.startswith("fail  scanner hand") and "stationd-scanner-N42 is not there" in line
        for line in lines
    ), result.output
    assert any(
        line.startswith("fail  printer labels") and "does not answer" in line for line in lines
    )
    assert lines[-1] == "Error: 2 check(s) failed"
    # The empty state dir: no database yet is a warning, not a failure.
    assert any(line.startswith("warn  database") for line in lines)


def test_an_unsynchronised_clock_is_a_warning(tmp_path):
    cfg = write_config(tmp_path, "")
    findings = run_checks(cfg, service_user="root", clock=lambda: (False, "timedatectl"))
    clock = next(f for f in findings if f.what == "clock")
    assert clock.level is Level.WARN and "no clock battery" in clock.detail


def test_an_unmigrated_database_is_a_warning_and_an_unreachable_central_one_fails(tmp_path):
    cfg = write_config(tmp_path, "")
    (tmp_path / "state").mkdir()
    Store(load_settings(cfg).database_url()).dispose()
    import sqlite3

    sqlite3.connect(tmp_path / "state" / "stationd.sqlite").close()
    found = levels(run_checks(cfg, service_user="root", clock=synced))
    assert found["database"] is Level.WARN
    central = write_config(
        tmp_path,
        '[database]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none"\nbusy_timeout_s = 1\n',
    )
    findings = run_checks(central, service_user="root", clock=synced)
    db = next(f for f in findings if f.what == "central database")
    assert db.level is Level.FAIL and "can't be reached" in db.detail
