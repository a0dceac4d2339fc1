"""`stationd install` / `uninstall` (issue 14): onto a root folder with the real useradd and
systemctl, here on an empty root (quick) — and, marked slow, inside a throw-away Debian root made by
debootstrap, run there with chroot (tests/test_install_debian.py)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stationd.cli import main
from stationd.install import CONFIG_MODE, shipped_file

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install runs as root")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty system: only the account files useradd --root needs."""
    etc = tmp_path / "root" / "etc"
    etc.mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        (etc / name).touch()
    return etc.parent


def stationd(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def account(root: Path, table: str, name: str) -> list[str] | None:
    for line in (root / "etc" / table).read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    return None


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """Every path under root with its mode, owner, group and mtime (ns)."""
    seen = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        seen[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns)
    return seen


def test_dry_run_shows_the_plan_and_changes_nothing(root: Path) -> None:
    before = snapshot(root)
    code, out = stationd("install", "--dry-run", "--root", str(root))
    assert code == 0, out
    assert "to do   make the system user stationd " in out
    assert "to do   write /etc/stationd/stationd.toml from the example" in out
    assert "to do   put the udev rules in /etc/udev/rules.d/99-stationd.rules" in out
    assert snapshot(root) == before


def test_install_makes_user_venv_config_units_and_rules_and_a_second_changes_nothing(
    root: Path,
) -> None:
    code, out = stationd("install", "--root", str(root))
    assert code == 0, out
    user = account(root, "passwd", "stationd")
    group = account(root, "group", "stationd")
    assert user and group and user[3] == group[2]  # its own group, the one udev gives devices
    assert user[5:] == ["/var/lib/stationd", "/usr/sbin/nologin"]
    assert account(root, "passwd", "stationd-kiosk")
    assert os.readlink(root / "opt/stationd") == sys.prefix
    assert os.readlink(root / "usr/local/bin/stationd") == "/opt/stationd/bin/stationd"
    config = root / "etc/stationd/stationd.toml"
    assert config.read_text() == (REPO / "stationd.example.toml").read_text()
    st = config.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (CONFIG_MODE, 0, int(group[2]))
    for name in ("stationd.service", "stationd-kiosk.service"):
        assert (root / "etc/systemd/system" / name).read_text() == (
            REPO / "systemd" / name
        ).read_text()
    rules = root / "etc/udev/rules.d/99-stationd.rules"
    assert rules.read_text() == (REPO / "udev/99-stationd.rules").read_text()
    assert (root / "etc/systemd/system/multi-user.target.wants/stationd.service").is_symlink()
    # The drivers of the classes DeviceAllow= names exist from boot on.
    modules = (root / "etc/modules-load.d/stationd.conf").read_text().split()
    assert {"cdc_acm", "usbserial", "usblp"} <= set(modules)
    # No cage or chromium in this root: the kiosk unit is in place but not enabled, and the
    # installer is told what to install.
    assert not (root / "etc/systemd/system/graphical.target.wants").exists()
    assert "sudo apt-get install cage chromium" in out
    assert "Left to do:" in out and "stationd check" in out
    assert (
        "STATIOND_KIOSK_URL=http://127.0.0.1:8080/" in (root / "etc/stationd/kiosk.env").read_text()
    )

    before = snapshot(root)
    code, again = stationd("install", "--root", str(root))
    assert code == 0, again
    assert "Nothing to do: already installed." in again
    assert "  done  " not in again
    assert snapshot(root) == before


def test_an_existing_config_is_never_overwritten_but_gets_the_owner_and_mode_the_service_reads(
    root: Path,
) -> None:
    # What a booted Debian showed: a config written 0600 by root, unreadable to the service.
    config = root / "etc/stationd/stationd.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[station]\nname = "bench-7"\n\n[kiosk]\nport = 8090\n')
    config.chmod(0o600)
    code, out = stationd("install", "--root", str(root))
    assert code == 0, out
    assert config.read_text() == '[station]\nname = "bench-7"\n\n[kiosk]\nport = 8090\n'
    gid = int(account(root, "group", "stationd")[2])
    st = config.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (CONFIG_MODE, 0, gid)
    # The kiosk browser shows the port the config names.
    assert "http://127.0.0.1:8090/" in (root / "etc/stationd/kiosk.env").read_text()


def test_uninstall_removes_what_install_made_and_keeps_the_data(root: Path) -> None:
    assert stationd("install", "--root", str(root))[0] == 0
    data = root / "var/lib/stationd/stationd.sqlite"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"the shop's orders")
    code, out = stationd("uninstall", "--root", str(root))
    assert code == 0, out
    for gone in (
        "etc/systemd/system/stationd.service",
        "etc/systemd/system/stationd-kiosk.service",
        "etc/systemd/system/multi-user.target.wants/stationd.service",
        "etc/udev/rules.d/99-stationd.rules",
        "etc/stationd/kiosk.env",
        "etc/modules-load.d/stationd.conf",
        "opt/stationd",
        "usr/local/bin/stationd",
    ):
        assert not os.path.lexists(root / gone), gone
    assert data.read_bytes() == b"the shop's orders"
    assert (root / "etc/stationd/stationd.toml").exists()
    assert "/var/lib/stationd" in out.split("Kept:")[1]
    assert Path(sys.prefix, "bin", "stationd").exists()  # the venv the link pointed to stays


def test_install_refuses_a_venv_the_service_cannot_see(root: Path, tmp_path: Path) -> None:
    from stationd.install import InstallError, Layout, install_plan

    with pytest.raises(InstallError, match="ProtectHome"):
        install_plan(Layout(root), venv=Path("/home/pi/.venv"))


def test_the_package_ships_the_files_install_puts_in_place() -> None:
    for name, source in (
        ("stationd.service", "systemd/stationd.service"),
        ("stationd-kiosk.service", "systemd/stationd-kiosk.service"),
        ("99-stationd.rules", "udev/99-stationd.rules"),
        ("stationd.example.toml", "stationd.example.toml"),
    ):
        assert shipped_file(name) == (REPO / source).read_text()
