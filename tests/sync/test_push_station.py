"""The push as a person meets it: `serve` pushes when `[sync] central_url` is set, and
`stationd sync status` / `stationd sync now` say and do what the names say."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sync.push_fixtures import (  # noqa: F401  (the push's fixtures: central, station, …)
    answers,
    claim_at,
    inbox_count,
    packed_at,
    push_central,
    push_central_template,
    push_cut_proxy,
    push_station,
    push_station_template,
    same_shop,
    write_ops,
)

from stationd.cli import main
from stationd.store.database import Store
from stationd.store.outbox import start_pushing
from stationd.store.tables import order_claims
from tests.services.test_packscript_child import decide_children, started_child

pytestmark = pytest.mark.postgres


def _config(tmp_path: Path, central_url: str = "") -> Path:
    path = tmp_path / "stationd.toml"
    sync = f'\n[sync]\ncentral_url = "{central_url}"\n' if central_url else ""
    path.write_text(
        f'[station]\nname = "bench-a"\nstate_dir = "{tmp_path}"\n'
        f"[packscript]\ninterval_min = 0\n{sync}"
    )
    return path


def _cli(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def test_serve_with_a_central_pushes_what_the_bench_writes(make_station, central, make_shop):
    station = make_station(name="bench-a", served=True, sync={"central_url": central.url})
    (order,) = same_shop(make_shop, station.store, central)
    claim_at(central, order)
    station.start()
    try:
        keys = write_ops(station.store, order, 2)  # what the bench writes once it serves
        station.push.wake()
        end = time.monotonic() + 30
        while inbox_count(central) < 2 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        station.stop()
    assert packed_at(central, order) == 2
    assert all(answers(station.store)[k] == ("accepted", None) for k in keys)


def test_a_single_bench_without_sync_starts_no_push(make_station):
    assert make_station().push is None


def test_sync_status_and_now_tell_the_backlog_push_it_and_say_what_central_answered(
    tmp_path, central, make_shop
):
    config = _config(tmp_path, central.url)
    store = Store(f"sqlite:///{tmp_path / 'stationd.sqlite'}")
    store.upgrade()
    with store.write() as conn:
        start_pushing(conn)
    first, second = same_shop(make_shop, store, central, orders=2)
    claim_at(central, first)
    claim_at(central, second, station="bench-b", epoch=5)
    write_ops(store, first, 3)
    write_ops(store, second, 1, epoch=4)
    with store.write() as conn:  # the station's copy of its claim (the claims part keeps it)
        conn.execute(
            order_claims.insert().values(
                order_id=first, station="bench-a", epoch=1, lease_until=datetime.now(UTC)
            )
        )
    store.dispose()
    before = _cli(config, "sync", "status").output
    assert "backlog: 4 change(s) waiting" in before
    assert "last push: never" in before
    assert "claims held: 1: 1000 (epoch 1)" in before
    now = _cli(config, "sync", "now")
    assert now.exit_code == 0
    pushed, pulled = now.output.strip().splitlines()
    assert pushed == "pushed 4 change(s): 3 accepted, 1 refused (0 answered before)"
    # Then central's changes come in: the first pull is a full resync of the copy.
    assert pulled.startswith("pulled ") and pulled.endswith("(a full resync: first pull)")
    after = _cli(config, "sync", "status").output
    assert "last pull: never" not in after
    assert "backlog: 0 change(s) waiting" in after
    assert "refused by central: 1" in after
    assert "last error: none" in after


def test_sync_now_with_central_away_says_so_and_keeps_the_changes(tmp_path, make_shop):
    # Nothing listens on port 9 of loopback: the connection is refused at once.
    config = _config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:9/central")
    store = Store(f"sqlite:///{tmp_path / 'stationd.sqlite'}")
    store.upgrade()
    with store.write() as conn:
        start_pushing(conn)
    (order,) = same_shop(make_shop, store)
    write_ops(store, order, 2)
    store.dispose()
    result = CliRunner().invoke(main, ["--config", str(config), "sync", "now"])
    assert result.exit_code == 1
    assert "central can't be reached" in result.output
    assert "the changes keep waiting" in result.output
    status = _cli(config, "sync", "status").output
    assert "backlog: 2 change(s) waiting" in status
    assert "last error: " in status and "last error: none" not in status


def test_sync_now_without_a_central_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["--config", str(_config(tmp_path)), "sync", "now"])
    assert result.exit_code == 1
    assert "[sync] central_url is empty" in result.output


def test_sync_status_of_a_single_bench_says_nothing_is_sent_not_a_backlog(tmp_path, make_shop):
    # Seen on the demo: its audit log was shown as "244 change(s) waiting" for no central.
    config = _config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'stationd.sqlite'}")
    store.upgrade()
    (order,) = same_shop(make_shop, store)
    write_ops(store, order, 2)
    store.dispose()
    status = _cli(config, "sync", "status").output
    assert status.strip() == "central: none (a single bench): nothing is sent, nothing waits"


def test_serve_running_centrals_pack_script_keeps_its_next_child_ready(make_station, central):
    # A run on its schedule finds its child started, imports done (~0.4 s of a run); the
    # child ends with serve.
    station = make_station(
        name="bench-a",
        served=True,
        sync={"central_url": central.url, "run_packscript": True},
        packscript={"interval_min": 15},
    )
    station.start()
    try:
        [waiting] = started_child()
    finally:
        station.stop()
    assert decide_children() == [] and not Path(f"/proc/{waiting}").exists()


def test_a_bench_on_its_own_sqlite_keeps_no_child_waiting(make_station):
    station = make_station(name="bench-a", served=True, packscript={"interval_min": 15})
    station.start()
    try:
        time.sleep(0.5)
        assert decide_children() == []  # its runs are small: each starts its own
    finally:
        station.stop()
