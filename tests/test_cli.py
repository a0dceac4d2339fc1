"""The `stationd` commands as an installer or admin types them."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stationd.cli import main
from stationd.exit_status import CONFIG


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "stationd.toml"
    path.write_text(f'[station]\nname = "cli-bench"\nstate_dir = "{tmp_path / "state"}"\n')
    return path


def run(*args: str, config: Path | None = None):
    prefix = ["--config", str(config)] if config else []
    return CliRunner().invoke(main, [*prefix, *args], catch_exceptions=False)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["demo"],
        ["packscript"],
        ["orders"],
        ["orders", "search"],
        ["db"],
        ["db", "upgrade"],
        ["devices"],
        ["export"],
        ["export", "sie"],
    ],
)
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo shop built by `stationd demo` for the module; each test gets a copy."""
    state = tmp_path_factory.mktemp("demo-template") / "state"
    result = run("demo", "--state-dir", str(state), "--no-serve")
    assert result.exit_code == 0, result.output
    return state


@pytest.fixture
def demo_shop(tmp_path: Path, config: Path, demo_template: Path) -> Path:
    # The demo's files, not its FIFO (the simulated scanner makes it anew) nor its own config
    # (it names the template's folder; `config` names this test's).
    shutil.copytree(
        demo_template,
        tmp_path / "state",
        ignore=lambda folder, names: [
            n
            for n in names
            if n == "stationd.toml" or stat.S_ISFIFO(os.lstat(Path(folder, n)).st_mode)
        ],
    )
    return config


@pytest.fixture
def demo_run(tmp_path: Path, config: Path) -> Path:
    """A demo made by `stationd demo` for this test alone: for what the command itself writes."""
    result = run("demo", "--state-dir", str(tmp_path / "state"), "--no-serve")
    assert result.exit_code == 0, result.output
    return config


def test_demo_data_holds_together(tmp_path, demo_shop):
    """Issue 12, item 12: the demo had Vipps on SEK orders and deliveries dated before their
    orders were placed."""
    from sqlalchemy import func, select

    from stationd.store.database import Store
    from stationd.store.tables import deliveries, orders

    store = Store(f"sqlite:///{tmp_path / 'state' / 'stationd.sqlite'}")
    with store.read() as conn:
        payments = conn.execute(
            select(orders.c.payment_method, orders.c.currency, func.count()).group_by(
                orders.c.payment_method, orders.c.currency
            )
        ).all()
        early = conn.execute(
            select(func.count())
            .select_from(deliveries.join(orders, orders.c.id == deliveries.c.order_id))
            .where(deliveries.c.reported_at < orders.c.placed_at)
        ).scalar_one()
        shipped = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
    store.dispose()
    kinds = {(method, currency) for method, currency, _ in payments}
    assert ("vipps", "SEK") not in kinds and ("swish", "NOK") not in kinds
    assert ("vipps", "NOK") in kinds and ("swish", "SEK") in kinds
    assert shipped > 0 and early == 0


def test_demo_makes_a_believable_shop(tmp_path, demo_shop):
    from sqlalchemy import func, select

    from stationd.store.database import Store
    from stationd.store.tables import orders, products

    store = Store(f"sqlite:///{tmp_path / 'state' / 'stationd.sqlite'}")
    with store.read() as conn:
        statuses = dict(
            conn.execute(select(orders.c.status, func.count()).group_by(orders.c.status)).all()
        )
        n_products = conn.execute(select(func.count()).select_from(products)).scalar_one()
        unpaid = conn.execute(
            select(func.count()).where(orders.c.paid.is_(False), orders.c.status == "order")
        ).scalar_one()
        waiting = conn.execute(select(func.count()).where(orders.c.waiting.is_(True))).scalar_one()
        comments = conn.execute(select(func.count()).where(orders.c.comment != "")).scalar_one()
        nordic = conn.execute(select(func.count()).where(orders.c.country == "NO")).scalar_one()
    store.dispose()
    assert n_products >= 300
    assert sum(statuses.values()) >= 500
    assert set(statuses) == {"preorder", "order", "packing", "shipped"}
    assert min(statuses.values()) >= 20
    assert unpaid > 0 and waiting > 0 and comments > 0 and nordic > 0
    again = run("demo", "--state-dir", str(tmp_path / "state"), "--no-serve")
    assert "Using the demo shop" in again.output


def test_r19_demo_scanner_port_reads_a_serial_scanner_next_to_the_fifo(
    tmp_path, demo_run, monkeypatch, ptys
):
    from bus_waits import next_event

    from stationd.events import ScanRead
    from stationd.station import Station

    scanner = ptys()
    heard: list[tuple[list[str], ScanRead]] = []

    def run_briefly(settings, verbose, after_start):  # type: ignore[no-untyped-def]
        # The station `stationd demo` would serve, on a free port, for one scan.
        settings = dataclasses.replace(settings, kiosk=dataclasses.replace(settings.kiosk, port=0))
        station = Station(settings)
        scans = station.bus.queue(ScanRead)
        station.start()
        try:
            scanner.send(b"ORD-1042\r")
            kinds = [s.kind for s in settings.scanners]
            heard.append((kinds, next_event(scans, ScanRead, within_s=10)[0]))
        finally:
            station.stop()

    monkeypatch.setattr("stationd.cli.serve._run_station", run_briefly)
    result = run("demo", "--state-dir", str(tmp_path / "state"), "--scanner-port", scanner.path)
    assert result.exit_code == 0, result.output
    ((kinds, scan),) = heard
    assert kinds == ["simulated", "serial"]
    assert (scan.code, scan.source) == ("ORD-1042", "serial:serial")


def test_r8_packscript_trace_prints_every_step_and_the_summary(demo_shop):
    result = run("packscript", "--trace", config=demo_shop)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(": paid no — not paid yet" in line for line in lines)
    assert any(": stock no — SKU " in line and "available" in line for line in lines)
    assert lines[-1].startswith("run ") and "orders looked at" in lines[-1]


def test_r4_orders_search_from_the_command_line(demo_shop):
    result = run("orders", "search", "--status", "packing", "--waiting", config=demo_shop)
    assert result.exit_code == 0
    assert "(extended search)" in result.output and "(waiting)" in result.output


def test_bad_search_option_says_what_is_wrong(demo_shop):
    result = CliRunner().invoke(
        main, ["--config", str(demo_shop), "orders", "search", "--to", "2026-13-01"]
    )
    assert result.exit_code == 1
    assert "a date like" in result.output and "Traceback" not in result.output


def test_misspelled_config_key_is_one_line_with_did_you_mean(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[kiosk]\nprot = 8080\n")
    result = CliRunner().invoke(main, ["--config", str(bad), "db", "upgrade"])
    assert result.exit_code == CONFIG  # a permanent error: the unit does not restart it
    assert "did you mean 'port'?" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_a_config_the_service_user_cannot_read_is_one_line_and_exit_78(tmp_path):
    # What a booted Debian showed (issue 14): a 0600 config of another user's, unreadable to
    # the service. Root without the capabilities that bypass file modes reads as a user would.
    cfg = tmp_path / "stationd.toml"
    cfg.write_text('[station]\nname = "bench-1"\n')
    cfg.chmod(0o600)
    os.chown(cfg, 65534, 65534)
    done = subprocess.run(
        [
            *("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"),
            *(sys.executable, "-m", "stationd", "--config", str(cfg), "db", "upgrade"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == CONFIG, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: {cfg}: cannot read the config file: Permission denied"
    ]


def test_database_that_is_down_is_a_clear_error(tmp_path):
    cfg = tmp_path / "pg.toml"
    cfg.write_text(
        f'[station]\nstate_dir = "{tmp_path}"\n'
        '[database]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none"\nbusy_timeout_s = 1\n'
    )
    result = CliRunner().invoke(main, ["--config", str(cfg), "packscript"])
    assert result.exit_code == 1
    assert "the database could not be used" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_reports_the_revision(config):
    from stationd.store.database import head_revision

    head = head_revision()
    first = run("db", "upgrade", config=config)
    assert f"revision {head} (was empty)" in first.output
    assert f"revision {head} (was {head})" in run("db", "upgrade", config=config).output


def test_console_script_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "stationd", "--version"], capture_output=True, text=True, check=True
    )
    assert "version" in out.stdout


def test_devices_lists_what_is_attached_and_what_config_uses(tmp_path):
    cfg = tmp_path / "dev.toml"
    cfg.write_text(
        f'[station]\nstate_dir = "{tmp_path}"\n'
        '[[scanners]]\nname = "gun"\nkind = "keyboard"\nusb_vid = 0x0c2e\nusb_pid = 0x0b61\n'
        '[[printers]]\nname = "receipts"\nkind = "escpos"\nhost = "127.0.0.1"\n'
    )
    result = run("devices", config=cfg)
    assert result.exit_code == 0
    assert "Serial ports:" in result.output and "Input devices" in result.output
    assert "scanner gun (keyboard): usb 0c2e:0b61" in result.output
    assert "printer receipts (escpos, network)" in result.output


def test_demo_writes_its_settings_so_the_other_commands_reach_its_shop(tmp_path, demo_run):
    written = tmp_path / "state" / "stationd.toml"
    assert written.stat().st_mode & 0o777 == 0o600  # it may hold the kiosk's token
    found = run("orders", "search", "--status", "packing", config=written)
    assert found.exit_code == 0 and "(extended search)" in found.output
    ran = run("packscript", config=written)
    assert ran.exit_code == 0 and ran.output.startswith("run 2: ")  # run 1 made the demo

    from sqlalchemy import select

    from stationd.store.database import Store
    from stationd.store.tables import packscript_runs

    store = Store(f"sqlite:///{tmp_path / 'state' / 'stationd.sqlite'}")
    with store.read() as conn:
        stations = conn.execute(select(packscript_runs.c.station)).scalars().all()
    store.dispose()
    assert stations == ["demo-bench", "demo-bench"]


def test_demo_says_that_it_keeps_its_own_config(tmp_path, config):
    result = run("demo", "--state-dir", str(tmp_path / "d"), "--no-serve", config=config)
    assert result.exit_code == 1 and "stationd demo makes its own config" in result.output


def test_demo_off_loopback_asks_for_a_token(tmp_path):
    state = tmp_path / "d"
    refused = run("demo", "--state-dir", str(state), "--host", "0.0.0.0", "--no-serve")
    assert refused.exit_code == 1 and "give it with --token" in refused.output
    token = "a-secret-of-20-chars"
    made = run(
        "demo", "--state-dir", str(state), "--host", "0.0.0.0", "--token", token, "--no-serve"
    )
    assert made.exit_code == 0, made.output
    assert f'token = "{token}"' in (state / "stationd.toml").read_text()


def test_r8_a_trace_nobody_reads_any_more_still_runs_to_the_end(tmp_path, demo_run):
    # `stationd packscript --trace | head`: the reader goes; the run must not stop with it.
    written = tmp_path / "state" / "stationd.toml"
    for command in (["packscript", "--trace"], ["orders", "search"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "stationd", "--config", str(written), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc.stdout.close()  # every line it writes now meets a pipe with no reader
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert b"Broken pipe" not in err and b"Traceback" not in err

    from sqlalchemy import select

    from stationd.store.database import Store
    from stationd.store.tables import orders, packscript_runs

    store = Store(f"sqlite:///{tmp_path / 'state' / 'stationd.sqlite'}")
    with store.read() as conn:
        status, looked_at, error = conn.execute(
            select(packscript_runs.c.status, packscript_runs.c.looked_at, packscript_runs.c.error)
            .order_by(packscript_runs.c.id.desc())
            .limit(1)
        ).one()
        open_orders = len(conn.execute(select(orders.c.id).where(orders.c.status == "order")).all())
    store.dispose()
    assert (status, error) == ("ok", None)
    assert looked_at >= open_orders > 0  # every open order was looked at


def test_bad_search_options_are_named_as_typed(demo_shop):
    result = run(
        "orders",
        "search",
        "--from",
        "2026-13-45",
        "--limit",
        "0",
        "--min-value",
        "x",
        config=demo_shop,
    )
    assert result.exit_code == 1
    for said in ("--from: a date like", "--limit: 1 to 500", "--min-value: an amount like"):
        assert said in result.output
    assert "placed_from" not in result.output and "page_size" not in result.output


def test_a_port_in_use_is_named(config):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), config=config)
    assert result.exit_code == 1
    assert f"127.0.0.1:{port} is in use" in result.output and "Traceback" not in result.output


def test_serve_says_which_config_it_runs_on(config):
    """Issue 12, item 10: `serve` ran silently on whatever it found."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("serve", "--port", str(taken.getsockname()[1]), config=config)
    assert result.output.startswith(f"stationd: Configuration read from {config}.\n")


def test_a_locked_database_is_one_line_and_no_traceback(tmp_path, config):
    import sqlite3

    assert run("db", "upgrade", config=config).exit_code == 0
    slow = tmp_path / "locked.toml"
    slow.write_text(config.read_text() + "[database]\nbusy_timeout_s = 0.2\n")
    holder = sqlite3.connect(tmp_path / "state" / "stationd.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stationd", "--config", str(slow), "packscript"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error: the database could not be used: database is locked"
    ], done.stderr


def test_only_ascii_digits_make_an_amount(demo_shop):
    result = run("orders", "search", "--min-value", "\u0661\u0662\u0663", config=demo_shop)
    assert result.exit_code == 1 and "--min-value: an amount like" in result.output


def test_searching_a_database_without_tables_says_so(config):
    result = run("orders", "search", config=config)
    assert result.exit_code == 1 and "not even their tables" in result.output


def test_r8_the_packscript_command_forgets_traces_past_keep_traces_days(tmp_path, demo_shop):
    import sqlite3

    db = tmp_path / "state" / "stationd.sqlite"
    with sqlite3.connect(db) as conn:  # the demo's own run was 31 days ago
        conn.execute("UPDATE packscript_runs SET started_at = '2000-01-01 00:00:00.000000'")
    cfg = tmp_path / "keep.toml"
    cfg.write_text(demo_shop.read_text() + "[packscript]\nkeep_traces_days = 30\n")
    assert run("packscript", config=cfg).exit_code == 0
    with sqlite3.connect(db) as conn:
        kept = conn.execute(
            "SELECT id, trace IS NOT NULL FROM packscript_runs ORDER BY id"
        ).fetchall()
    assert kept == [(1, 0), (2, 1)]


def test_demo_refuses_an_empty_state_dir_and_builds_nothing_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("demo", "--state-dir", "", "--no-serve")
    assert result.exit_code == 2
    assert "'--state-dir': is empty: name a folder" in result.output
    assert list(tmp_path.iterdir()) == []


def test_files_the_station_makes_are_private_whatever_the_umask(tmp_path):
    # issue 10: under umask 022 the database and printed jobs were 0644, the state dir 0755.
    state = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, "-m", "stationd", "demo", "--state-dir", str(state), "--no-serve"],
        preexec_fn=lambda: os.umask(0o022),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    made = [state, *state.rglob("*")]
    assert any(p.name == "stationd.sqlite" for p in made)
    for path in made:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"


def test_python_escpos_keeps_its_capabilities_in_the_station_cache_not_tmp(tmp_path):
    # issue 10: a pickle in a fresh /tmp/tmpXXXX per start, so the cache never hit.
    scratch, cache = tmp_path / "tmp", tmp_path / "cache"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "XDG_CACHE_HOME": str(cache)}
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    env.pop("CACHE_DIRECTORY", None)
    mtimes = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "stationd", "packscript", "--help"], env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr
        pickles = list((cache / "stationd" / "escpos").glob("*.capabilities.pickle"))
        assert len(pickles) == 1
        mtimes.append(pickles[0].stat().st_mtime_ns)
    assert mtimes[0] == mtimes[1]  # the second start read the cache, it did not write it again
    assert list(scratch.iterdir()) == []


def test_commands_started_at_once_share_the_escpos_cache_without_failing(tmp_path):
    # Seen in CI: one start removed the scratch folder another was making its temp folder in,
    # and `stationd demo` died with FileNotFoundError before it did anything.
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    env.pop("CACHE_DIRECTORY", None)
    code = "from stationd.escpos_capabilities import import_escpos_with_cache as i; i()"
    for _ in range(3):
        starts = [
            subprocess.Popen(
                [sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True
            )
            for _ in range(8)
        ]
        for start in starts:
            _, err = start.communicate(timeout=60)
            assert start.returncode == 0, err
    assert not list((tmp_path / "cache" / "stationd" / "escpos").glob("scratch*"))
