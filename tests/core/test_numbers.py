"""Whole numbers from people and forms (core.numbers): ASCII digits within the column's bounds."""

from __future__ import annotations

import pytest

from stationd.core.numbers import MAX_ID, MAX_SMALL_ID, whole_number


@pytest.mark.parametrize(
    ("text", "bounds", "number"),
    [
        ("1042", {}, 1042),
        (" 1042 ", {}, 1042),
        ("0", {}, 0),
        ("0", {"lo": 1}, None),
        ("007", {}, 7),
        ("0" * 40 + "12", {}, 12),  # zeros in front say nothing about the size
        (str(MAX_ID), {}, MAX_ID),
        (str(MAX_ID + 1), {}, None),
        ("9" * 5000, {}, None),  # more digits than int() takes: no ValueError
        (str(MAX_SMALL_ID + 1), {"hi": MAX_SMALL_ID}, None),
        ("", {}, None),
        (None, {}, None),
        ("-5", {}, None),
        ("+5", {}, None),
        ("1_000", {}, None),
        ("1.5", {}, None),
        ("١٠٤٢", {}, None),  # Arabic-Indic digits: int() would take them
        ("１２", {}, None),  # full-width digits
        ("12", {"lo": 13}, None),
    ],
)
def test_whole_number_takes_ascii_digits_within_bounds_only(text, bounds, number):
    assert whole_number(text, **bounds) == number
