"""bench/faults.py at a tiny size: a station killed, its database stopped and its printers
misbehaving while it packs, and nothing the packer was told is lost, doubled or misapplied
(issue 10's soak at 2 kills, 1 outage, 40 scans; its full size is
`bench/faults.py --kills 50 --outages 5`)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "bench" / "faults.py"


def _can_run_a_cluster() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return os.geteuid() == 0 and any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


@pytest.mark.slow
@pytest.mark.skipif(
    not _can_run_a_cluster(), reason="needs root and PostgreSQL's server binaries (initdb)"
)
def test_soak_kills_outage_and_printer_faults_lose_and_double_nothing_acknowledged():
    run = subprocess.run(
        [sys.executable, str(SOAK), "--kills", "2", "--outages", "1", "--scans", "40",
         "--printer-faults", "2", "--outage-min-s", "1", "--outage-max-s", "1.5",
         "--minutes", "2", "--drain-s", "20", "--seed", "3"],
        capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert list(figures) == [
        "kills", "outages", "scans", "acknowledged", "acknowledged_lost", "misapplied",
        "doubled", "jobs", "jobs_lost", "jobs_doubled", "integrity",
    ]  # fmt: skip
    assert (figures["kills"], figures["outages"], figures["scans"]) == (2, 1, 40)
    assert figures["acknowledged"] > 0 and figures["jobs"] > 0, figures
    assert figures["acknowledged_lost"] == 0, run.stdout[-3000:]
    assert figures["misapplied"] == 0, run.stdout[-3000:]
    assert figures["doubled"] == 0, run.stdout[-3000:]
    assert figures["jobs_lost"] == 0 and figures["jobs_doubled"] == 0, run.stdout[-3000:]
    assert figures["integrity"] == "ok"
