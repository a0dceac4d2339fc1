"""The admin's take-over from the command line (R17): `stationd claims take-over` frees an
order a dead bench held, with a new epoch; `stationd claims list` shows the claims."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stationd.cli import main
from stationd.store import central_claims

pytestmark = pytest.mark.postgres


@pytest.fixture
def config(tmp_path, claims_central):
    path = tmp_path / "stationd.toml"
    path.write_text(
        f'[station]\nname = "office"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[sync]\ncentral_url = "{claims_central.url}"\n'
    )
    return path


def run(config, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


def test_r17_the_admin_takes_an_order_over_from_a_dead_bench(claims_central, make_shop, config):
    order = make_shop(claims_central).order([], status="packing")
    with claims_central.write() as conn:
        dead = central_claims.claim(conn, order, "bench-a", lease_s=300).claim
    listed = run(config, "claims", "list")
    assert f"order {order}: bench-a, epoch {dead.epoch}" in listed.output
    assert "(live)" in listed.output
    taken = run(config, "claims", "take-over", str(order))
    assert taken.exit_code == 0, taken.output
    with claims_central.read() as conn:
        now = central_claims.holders(conn, [order])[order]
    assert taken.output.strip() == (
        f"order {order} taken over from bench-a (epoch {dead.epoch}): epoch {now.epoch}, "
        "free for the next bench"
    )
    assert now.epoch > dead.epoch
    with claims_central.write() as conn:
        assert central_claims.claim(conn, order, "bench-b", lease_s=300).won
    given = run(config, "claims", "take-over", str(order), "--to", "bench-c")
    assert given.output.strip().endswith("held by bench-c")


def test_r17_take_over_of_an_unknown_order_or_without_central_is_a_clear_error(config, tmp_path):
    unknown = run(config, "claims", "take-over", "424242")
    assert unknown.exit_code == 1 and "central has no order 424242" in unknown.output
    plain = tmp_path / "plain.toml"
    plain.write_text(f'[station]\nstate_dir = "{tmp_path / "state"}"\n')
    alone = run(plain, "claims", "list")
    assert alone.exit_code == 1
    assert "no central database: set [sync] central_url" in alone.output
