"""`stationd install` in a throw-away Debian root (issue 14), marked slow; .ci/run runs it.

debootstrap (from Debian's packages) makes a bookworm root with python3, systemd and udev; it is
kept as a tarball under ~/.cache/stationd/debootstrap, so only the first run pays for it (about a
minute to download and three to configure on a busy 2-core machine; then ~15 s to unpack). This
package and its dependencies go in as wheels built here (the root's Python is 3.11 too; the
dependencies' wheels are kept in the same cache, per list of dependencies), into a venv in
/opt/stationd made inside the root, and `stationd install` runs there under chroot, as
root, exactly as an installer runs it: users, config, units, rules, enabled unit; a second
install changes nothing; uninstall keeps /var/lib/stationd.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITE = "bookworm"
PACKAGES = "python3,python3-venv,systemd,udev"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stationd/debootstrap"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root"),
    pytest.mark.skipif(
        shutil.which("debootstrap") is None and not os.environ.get("CI"),
        reason="no debootstrap (apt-get install debootstrap; .ci/run installs it)",
    ),
    pytest.mark.skipif(
        sys.version_info[:2] != (3, 11), reason="the wheels built here go into bookworm's 3.11"
    ),
]


def run(*command: str | Path, timeout: float = 900) -> str:
    done = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def debian_root(where: Path) -> Path:
    """A configured bookworm root in `where`, from the cached tarball of one made earlier."""
    cached = CACHE / f"{SUITE}-{PACKAGES.replace(',', '_')}-root.tar"
    if not cached.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        fresh = where.with_name("debootstrap-work")
        run(
            "debootstrap",
            "--variant=minbase",
            f"--include={PACKAGES}",
            SUITE,
            fresh,
            timeout=1800,
        )
        part = cached.with_suffix(".part")
        run("tar", "--numeric-owner", "-C", fresh, "-cf", part, ".")
        part.replace(cached)
        shutil.rmtree(fresh)
    where.mkdir()
    run("tar", "--numeric-owner", "-C", where, "-xf", cached)
    return where


def wheels(where: Path) -> Path:
    """This checkout's wheel, built now, in `where` beside the wheels of its dependencies. Those
    are built once per list of dependencies in pyproject.toml and kept under the cache: building
    them all again took ~20 s of each run, and only this package's own wheel changes between
    runs (a new or changed dependency is a new list, so its wheels are built again)."""
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    key = hashlib.sha256("\n".join(sorted(dependencies)).encode()).hexdigest()[:16]
    kept = CACHE / f"wheels-py{sys.version_info[0]}{sys.version_info[1]}-{key}"
    if not kept.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        part = kept.with_suffix(".part")
        shutil.rmtree(part, ignore_errors=True)
        run(sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", part, REPO, timeout=900)
        for own in part.glob("stationd-*.whl"):
            own.unlink()
        part.replace(kept)
    shutil.copytree(kept, where)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", where, REPO)
    return where


def tree(root: Path, *parts: str) -> dict[str, tuple[int, int, int, int, str]]:
    """Every path under the given parts of root: mode, owner, group, mtime, link target."""
    seen = {}
    for part in parts:
        for path in sorted((root / part).rglob("*")):
            st = path.lstat()
            link = os.readlink(path) if path.is_symlink() else ""
            key = str(path.relative_to(root))
            seen[key] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, link)
    return seen


def test_install_in_a_throwaway_debian_root(tmp_path: Path) -> None:
    root = debian_root(tmp_path / "root")
    made = wheels(root / "wheels")
    run("chroot", root, "python3", "-m", "venv", "/opt/stationd")
    run(
        "chroot",
        root,
        "/opt/stationd/bin/pip",
        "install",
        "-q",
        "--no-index",
        "--find-links=/wheels",
        "stationd",
    )
    shutil.rmtree(made)

    plan = run("chroot", root, "/opt/stationd/bin/stationd", "install", "--dry-run")
    assert "to do   make the system user stationd " in plan
    assert not (root / "etc/stationd").exists()

    out = run("chroot", root, "/opt/stationd/bin/stationd", "install")
    assert "Installed." in out
    passwd = (root / "etc/passwd").read_text()
    assert "stationd:x:" in passwd and "stationd-kiosk:x:" in passwd
    config = root / "etc/stationd/stationd.toml"
    assert config.read_text() == (REPO / "stationd.example.toml").read_text()
    assert oct(config.stat().st_mode & 0o777) == "0o640" and config.stat().st_uid == 0
    for name in ("stationd.service", "stationd-kiosk.service"):
        assert (root / "etc/systemd/system" / name).read_text() == (
            REPO / "systemd" / name
        ).read_text()
    assert (root / "etc/udev/rules.d/99-stationd.rules").exists()
    assert (root / "etc/systemd/system/multi-user.target.wants/stationd.service").is_symlink()
    # The unit's ExecStart is there, and runs as the service user would start it.
    assert "stationd, version" in run("chroot", root, "/opt/stationd/bin/stationd", "--version")
    check = subprocess.run(
        ["chroot", str(root), "/usr/local/bin/stationd", "check"], capture_output=True, text=True
    )
    assert "ok    config" in check.stdout, check.stdout + check.stderr

    before = tree(root, "etc", "opt", "usr/local", "var/lib")
    again = run("chroot", root, "/opt/stationd/bin/stationd", "install")
    assert "Nothing to do: already installed." in again
    assert tree(root, "etc", "opt", "usr/local", "var/lib") == before

    data = root / "var/lib/stationd/stationd.sqlite"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_bytes(b"the shop's orders")
    gone = run("chroot", root, "/opt/stationd/bin/stationd", "uninstall")
    assert "/var/lib/stationd" in gone.split("Kept:")[1]
    assert data.read_bytes() == b"the shop's orders"
    assert not (root / "etc/systemd/system/stationd.service").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/stationd.service").exists()
    assert not (root / "etc/udev/rules.d/99-stationd.rules").exists()
    assert config.exists()
