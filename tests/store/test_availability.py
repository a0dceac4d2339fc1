"""The database's availability (issue 10, item 9): an outage is one line when it begins, one
every few minutes while it lasts and one when it ends — the traceback once, at DEBUG — however
many workers meet it and however often they try."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError, PendingRollbackError

from stationd.store.availability import DatabaseAvailability
from stationd.store.unavailable import database_unavailable


def refused() -> OperationalError:
    return OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def test_an_outage_is_one_line_lost_one_every_remind_s_and_one_back(caplog):
    caplog.set_level(logging.DEBUG, logger="stationd.store.availability")
    clock = Clock()
    availability = DatabaseAvailability(remind_s=300, clock=clock)
    changes: list[bool] = []
    availability.on_change = changes.append
    for _ in range(200):  # three workers, each trying several times a second for a minute
        for who in ("printer receipts", "kiosk GET /queue", "live stream /events/bench"):
            assert availability.lost(refused(), who)
        clock.now += 0.25
    assert lines(caplog) == ["database lost (printer receipts): disk I/O error"]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and debug[0].exc_info is not None  # the traceback, once
    assert availability.away and availability.reason == "disk I/O error"

    clock.now += 300
    availability.lost(refused(), "printer receipts")
    availability.lost(refused(), "printer receipts")
    assert lines(caplog)[1:] == ["database still away after 5 min: disk I/O error"]

    availability.answered()
    availability.answered()
    assert lines(caplog)[2:] == ["database back after 350 s"]
    assert changes == [False, True]
    assert not availability.away and availability.away_for_s() == 0.0


def test_a_fault_of_the_code_is_not_an_outage_and_is_left_to_its_caller(caplog):
    availability = DatabaseAvailability()
    assert not availability.lost(ValueError("a bug"), "printer receipts")
    assert not availability.away and lines(caplog) == []


@pytest.mark.parametrize(
    ("err", "away"),
    [
        (refused(), True),
        (PendingRollbackError("rollback first"), True),
        (RuntimeError("wrapped"), True),
        (KeyError("no such job"), False),
    ],
)
def test_what_counts_as_the_database_being_away(err, away):
    if isinstance(err, RuntimeError):
        try:
            raise err from refused()
        except RuntimeError as wrapped:
            err = wrapped
    assert database_unavailable(err) is away
