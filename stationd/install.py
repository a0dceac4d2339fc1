"""`stationd install` and `stationd uninstall`: the station put on a Debian system, and taken off.

Install makes the `stationd` system user and group (the udev rules give the station's devices that
group), a `stationd-kiosk` user for the kiosk browser, the venv in /opt/stationd (the one this
command runs from, linked there when it lives elsewhere), /etc/stationd/stationd.toml from the
example when there is none (never overwritten; its owner and mode set so the service reads it and
nobody else does), the two units, the udev rules; it reloads systemd and udev and enables the
units. Every step looks first: a second install changes nothing. Uninstall takes off what install
made and keeps the data (/var/lib/stationd), the config and the users.

Each step is planned from what is on disk before anything is done, so `--dry-run` shows the same
plan the real run carries out. ``root`` is the system's root folder: "/" on the station, another
folder for a Debian root being prepared (debootstrap) and for tests.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

USER = "stationd"
KIOSK_USER = "stationd-kiosk"
VENV = "/opt/stationd"
BIN_LINK = "/usr/local/bin/stationd"
CONFIG_DIR = "/etc/stationd"
CONFIG = "/etc/stationd/stationd.toml"
KIOSK_ENV = "/etc/stationd/kiosk.env"
UNIT_DIR = "/etc/systemd/system"
UNITS = {"stationd.service": "multi-user.target", "stationd-kiosk.service": "graphical.target"}
RULES = "/etc/udev/rules.d/99-stationd.rules"
STATE_DIR = "/var/lib/stationd"
MODULES = "/etc/modules-load.d/stationd.conf"
#: The unit's DeviceAllow= names device classes (char-ttyACM, char-ttyUSB, char-usb), which
#: systemd looks up in /proc/devices when the unit starts: a class whose driver loads later —
#: the first scanner of its kind plugged in after boot — would stay shut until a restart.
#: Loaded at boot, they are always there.
MODULES_TEXT = (
    "# Written by `stationd install`: the drivers of the device classes stationd.service\n"
    "# allows (DeviceAllow=), loaded at boot so each class exists when the unit starts.\n"
    "cdc_acm\nusbserial\nusblp\n"
)
#: The config holds the kiosk token and perhaps a database password: the service's group reads
#: it, root writes it, nobody else sees it.
CONFIG_MODE = 0o640
CONFIG_DIR_MODE = 0o750
#: Where the service can't see a venv: ProtectHome=yes hides these.
HIDDEN_FROM_SERVICE = ("/home", "/root", "/run/user")
#: What the kiosk unit needs from Debian (apt-get install cage chromium).
KIOSK_PROGRAMS = ("/usr/bin/cage", "/usr/bin/chromium")


class InstallError(Exception):
    """Install can't go on; ``str(err)`` says why and what to do."""


@dataclass(frozen=True)
class Step:
    """One thing install or uninstall does: what, whether it is still to do, and how."""

    what: str
    needed: bool
    do: Callable[[], None]


@dataclass(frozen=True)
class Layout:
    """Where the system is: ``root`` is "/" on the station."""

    root: Path = Path("/")

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def live(self) -> bool:
        """The running system's own root (systemd and udev can be told to reload)."""
        return self.root.resolve() == Path("/")

    def root_args(self) -> list[str]:
        return [] if self.live else ["--root", str(self.root.resolve())]


def shipped_file(name: str) -> str:
    """A file install puts in place (unit, rules, example config), as shipped in the package."""
    return resources.files("stationd").joinpath("install_files", name).read_text()


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise InstallError(f"{' '.join(command)} failed: {said[-1] if said else done.returncode}")


def _ids(layout: Layout, name: str, table: str) -> int | None:
    """The uid (table "passwd") or gid ("group") of a name in the root's own files."""
    try:
        lines = layout.at(f"/etc/{table}").read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name:
            return int(fields[2])
    return None


def _write(path: Path, text: str, mode: int, uid: int = 0, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    os.chown(tmp, uid, gid)
    tmp.chmod(mode)
    tmp.replace(path)


def _differs(path: Path, text: str) -> bool:
    try:
        return path.read_text() != text
    except FileNotFoundError:
        return True


def _owned(path: Path, mode: int, uid: int, gid: int) -> bool:
    st = path.stat()
    return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid)


def readable_by(st: os.stat_result, uid: int, gid: int) -> bool:
    """Whether a user (uid, primary group gid) may read a file of this stat, by its mode."""
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IRUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IRGRP)
    return bool(st.st_mode & stat.S_IROTH)


def kiosk_env(config: Path) -> str:
    """The kiosk unit's environment file: the page the browser shows, from the config's port."""
    from stationd.config import ConfigError, is_loopback, load_settings

    host, port = "127.0.0.1", 8080
    try:
        kiosk = load_settings(config if config.exists() else None).kiosk
    except ConfigError:
        pass  # `stationd check` says what is wrong with it; the default page until then
    else:
        # A kiosk listening on every address answers on loopback too, without the token.
        host = kiosk.host if is_loopback(kiosk.host) and kiosk.host != "localhost" else host
        port = kiosk.port
    shown = f"[{host}]" if ":" in host else host
    return (
        "# Written by `stationd install` from /etc/stationd/stationd.toml's [kiosk]: the page\n"
        "# stationd-kiosk.service shows. Run `sudo stationd install` again after changing it.\n"
        f"STATIOND_KIOSK_URL=http://{shown}:{port}/\n"
    )


def install_plan(layout: Layout, venv: Path | None = None) -> list[Step]:
    """Every step of an install onto ``layout``, each marked done or still to do."""
    venv = Path(venv or sys.prefix)
    steps: list[Step] = []
    root_args = layout.root_args()

    def add(what: str, needed: bool, do: Callable[[], None]) -> None:
        steps.append(Step(what, needed, do))

    has_group = _ids(layout, USER, "group") is not None
    add(
        f"make the system group {USER} (the udev rules give the station's devices to it)",
        not has_group,
        lambda: _run(["groupadd", "--system", *root_args, USER]),
    )
    add(
        f"make the system user {USER} (home {STATE_DIR}, no login)",
        _ids(layout, USER, "passwd") is None,
        lambda: _run(
            [
                *("useradd", "--system", *root_args, "--gid", USER, "--home-dir", STATE_DIR),
                *("--no-create-home", "--shell", "/usr/sbin/nologin"),
                *("--comment", "stationd packing station", USER),
            ]
        ),
    )
    add(
        f"make the system user {KIOSK_USER} for the kiosk browser (none of the station's files)",
        _ids(layout, KIOSK_USER, "passwd") is None,
        lambda: _run(
            [
                *("useradd", "--system", *root_args, "--user-group"),
                *("--home-dir", "/var/lib/stationd-kiosk", "--no-create-home"),
                *("--shell", "/usr/sbin/nologin", KIOSK_USER),
            ]
        ),
    )

    target = layout.at(VENV)
    if target.exists() and target.resolve() == venv.resolve():
        add(f"the venv is {VENV}", False, lambda: None)
    elif target.exists() or target.is_symlink():
        raise InstallError(
            f"{VENV} holds another venv than this command's ({venv}): run "
            f"`sudo {VENV}/bin/stationd install`, or remove {VENV} first"
        )
    else:
        if any(venv.resolve().is_relative_to(hidden) for hidden in HIDDEN_FROM_SERVICE):
            raise InstallError(
                f"this stationd runs from {venv}, which the service can't see (ProtectHome=yes): "
                f"make the venv in {VENV} — sudo python3 -m venv {VENV} && "
                f"sudo {VENV}/bin/pip install stationd — and run sudo {VENV}/bin/stationd install"
            )
        add(
            f"link {VENV} to this venv, {venv}",
            True,
            lambda: (target.parent.mkdir(parents=True, exist_ok=True), target.symlink_to(venv)),
        )
    link = layout.at(BIN_LINK)
    add(
        f"link {BIN_LINK} to {VENV}/bin/stationd (stationd on the PATH)",
        not (link.is_symlink() and os.readlink(link) == f"{VENV}/bin/stationd"),
        lambda: (
            link.parent.mkdir(parents=True, exist_ok=True),
            link.unlink(missing_ok=True),
            link.symlink_to(f"{VENV}/bin/stationd"),
        ),
    )

    def gid() -> int:
        found = _ids(layout, USER, "group")
        if found is None:  # only in a dry run: the group is made by an earlier step
            raise InstallError(f"no group {USER}")
        return found

    config_dir, config = layout.at(CONFIG_DIR), layout.at(CONFIG)

    def make_config_dir() -> None:
        config_dir.mkdir(parents=True, exist_ok=True)
        os.chown(config_dir, 0, gid())
        config_dir.chmod(CONFIG_DIR_MODE)

    add(
        f"make {CONFIG_DIR} (root:{USER}, {CONFIG_DIR_MODE:o})",
        not (has_group and config_dir.is_dir() and _owned(config_dir, CONFIG_DIR_MODE, 0, gid())),
        make_config_dir,
    )
    if not config.exists():
        add(
            f"write {CONFIG} from the example (root:{USER}, {CONFIG_MODE:o})",
            True,
            lambda: _write(config, shipped_file("stationd.example.toml"), CONFIG_MODE, 0, gid()),
        )
    else:
        st = config.stat()
        uid_of = _ids(layout, USER, "passwd")
        right = (
            has_group
            and uid_of is not None
            and readable_by(st, uid_of, gid())
            and not st.st_mode & (stat.S_IRWXO | stat.S_IWGRP)
        )

        def own_config() -> None:
            os.chown(config, 0, gid())
            config.chmod(CONFIG_MODE)

        add(
            f"{CONFIG} (its settings kept) root:{USER} {CONFIG_MODE:o}: the service reads it, "
            "nobody else does",
            not right,
            own_config,
        )
    env_text = kiosk_env(config)
    env = layout.at(KIOSK_ENV)
    add(
        f"write {KIOSK_ENV} (the page the kiosk browser shows)",
        _differs(env, env_text),
        lambda: _write(env, env_text, 0o644),
    )
    units_changed = False
    for name in UNITS:
        path = layout.at(f"{UNIT_DIR}/{name}")
        text = shipped_file(name)
        units_changed |= _differs(path, text)
        add(f"put {name} in {UNIT_DIR}", _differs(path, text), _writer(path, text))
    modules = layout.at(MODULES)
    add(
        f"load the serial and printer drivers at boot ({MODULES})",
        _differs(modules, MODULES_TEXT),
        _writer(modules, MODULES_TEXT),
    )
    rules = layout.at(RULES)
    rules_text = shipped_file("99-stationd.rules")
    rules_changed = _differs(rules, rules_text)
    add(f"put the udev rules in {RULES}", rules_changed, _writer(rules, rules_text))
    add(
        "reload systemd (systemctl daemon-reload)",
        units_changed and layout.live and Path("/run/systemd/system").is_dir(),
        lambda: _run(["systemctl", "daemon-reload"]),
    )
    add(
        "reload udev and apply the rules to the devices plugged in now",
        rules_changed and layout.live and Path("/run/udev/control").exists(),
        lambda: (
            _run(["udevadm", "control", "--reload"]),
            _run(["udevadm", "trigger", "--action=add", *_TRIGGER_SUBSYSTEMS]),
        ),
    )
    kiosk_ready = all(layout.at(p).exists() for p in KIOSK_PROGRAMS)
    for name, wanted_by in UNITS.items():
        if name == "stationd-kiosk.service" and not kiosk_ready:
            continue
        enabled = layout.at(f"{UNIT_DIR}/{wanted_by}.wants/{name}").is_symlink()
        add(
            f"enable {name} (started at boot)",
            not enabled,
            lambda name=name: _run(["systemctl", *_systemctl_root(layout), "enable", name]),
        )
    return steps


_TRIGGER_SUBSYSTEMS = [
    f"--subsystem-match={s}" for s in ("tty", "input", "usb", "usbmisc", "hidraw")
]


def _systemctl_root(layout: Layout) -> list[str]:
    return [] if layout.live else [f"--root={layout.root.resolve()}"]


def _writer(path: Path, text: str) -> Callable[[], None]:
    return lambda: _write(path, text, 0o644)


def left_to_do(layout: Layout) -> list[str]:
    """What the installer still does by hand after an install."""
    left = [
        "plug in the scanners, printers and scale; `stationd devices` lists them with their ids "
        "and `ls -l /dev/stationd-*` the names the udev rules give them",
        f"name them in {CONFIG} ([[scanners]], [[printers]], [print], [scale])",
        "sudo stationd check   (the config, database, devices, disk and clock)",
        "sudo systemctl start stationd.service",
    ]
    if not all(layout.at(p).exists() for p in KIOSK_PROGRAMS):
        left.append(
            "for the touchscreen: sudo apt-get install cage chromium, then sudo stationd install "
            "again (it enables stationd-kiosk.service)"
        )
    else:
        left.append("sudo systemctl start stationd-kiosk.service   (the kiosk on the touchscreen)")
    return left


def uninstall_plan(layout: Layout) -> list[Step]:
    """Every step of taking the station off ``layout``; the data, config and users stay."""
    steps: list[Step] = []
    for name, wanted_by in UNITS.items():
        enabled = layout.at(f"{UNIT_DIR}/{wanted_by}.wants/{name}").is_symlink()
        running = layout.live and Path("/run/systemd/system").is_dir()
        command = [
            "systemctl",
            *_systemctl_root(layout),
            "disable",
            *(["--now"] if running else []),
        ]
        steps.append(
            Step(
                f"stop and disable {name}",
                enabled,
                lambda command=command, name=name: _run([*command, name]),
            )
        )
    for path in (*(f"{UNIT_DIR}/{name}" for name in UNITS), RULES, KIOSK_ENV, MODULES):
        there = layout.at(path)
        steps.append(Step(f"remove {path}", there.exists(), there.unlink))
    steps.append(
        Step(
            "reload systemd and udev",
            layout.live and Path("/run/systemd/system").is_dir(),
            lambda: (
                _run(["systemctl", "daemon-reload"]),
                _run(["udevadm", "control", "--reload"]),
            ),
        )
    )
    link = layout.at(BIN_LINK)
    steps.append(
        Step(
            f"remove the link {BIN_LINK}",
            link.is_symlink() and os.readlink(link) == f"{VENV}/bin/stationd",
            link.unlink,
        )
    )
    venv = layout.at(VENV)
    steps.append(
        Step(
            f"remove the link {VENV} (the venv it points to stays)", venv.is_symlink(), venv.unlink
        )
    )
    return steps


def kept_by_uninstall(layout: Layout) -> list[str]:
    """What uninstall leaves, said so that nobody looks for it in vain."""
    kept = [
        f"{STATE_DIR} (the orders, print queue and scan inbox)",
        f"{CONFIG} (your settings)",
        f"the users {USER} and {KIOSK_USER}",
    ]
    venv = layout.at(VENV)
    if venv.is_dir() and not venv.is_symlink():
        kept.append(f"the venv {VENV} (made by hand before install; rm -r it to remove it)")
    return kept


def carry_out(steps: list[Step], *, dry_run: bool, say: Callable[[str], None]) -> int:
    """Do each needed step in order (none on a dry run), saying each; how many were needed."""
    needed = 0
    for step in steps:
        if not step.needed:
            say(f"  ok      {step.what}")
            continue
        needed += 1
        if dry_run:
            say(f"  to do   {step.what}")
            continue
        step.do()
        say(f"  done    {step.what}")
    return needed


def require_root(layout: Layout) -> None:
    """Install and uninstall change the system: root only (or a root folder one may write)."""
    if os.geteuid() != 0:
        raise InstallError("this changes the system: run it as root (sudo stationd …)")
    if not layout.root.is_dir():
        raise InstallError(f"{layout.root} is not a folder")
    if shutil.which("useradd") is None:
        raise InstallError("useradd is missing (Debian's passwd package)")
