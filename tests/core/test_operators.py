"""Issue 8's rules on plain values: PINs kept only as salted hashes, wrong PINs slowed down,
badges as barcodes, when a scan needs an operator, and when the idle lock is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stationd.core.barcodes import CodeKind, badge_barcode, classify
from stationd.core.operators import (
    FREE_PIN_TRIES,
    OperatorRuleError,
    hash_pin,
    idle_lock_in_s,
    normalize_badge_code,
    pin_lockout,
    scan_needs_operator,
    validate_name,
    validate_pin,
    verify_pin,
)

SALT = bytes(range(16))
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_pin_is_kept_as_a_salted_scrypt_hash_never_as_itself():
    stored = hash_pin("4711", SALT)
    assert stored.startswith("scrypt$") and "4711" not in stored
    assert verify_pin("4711", stored)
    assert not verify_pin("4712", stored)
    # Another salt, another hash: two people with one PIN can't be told apart by their hashes.
    assert hash_pin("4711", bytes(range(1, 17))) != stored


@pytest.mark.parametrize(
    "stored", [None, "", "plain4711", "scrypt$x$8$1$AA==$AA==", "md5$1$2$3$4$5"]
)
def test_a_missing_or_damaged_hash_signs_nobody_in(stored):
    assert not verify_pin("4711", stored)


def test_a_salt_too_short_is_refused():
    with pytest.raises(ValueError, match="salt"):
        hash_pin("4711", b"short")


@pytest.mark.parametrize(
    ("pin", "says"),
    [
        ("47a1", "digits only"),
        ("471", "4 to 8 digits"),
        ("123456789", "4 to 8 digits"),
        ("1111", "too easy"),
        ("1234", "too easy"),
        ("9876", "too easy"),
        ("٤٧١١", "digits only"),  # Arabic-Indic digits are digits, but not on the keypad
    ],
)
def test_a_bad_new_pin_is_refused_with_a_sentence(pin, says):
    with pytest.raises(OperatorRuleError, match=says):
        validate_pin(pin)


def test_a_good_new_pin_is_taken_as_it_is():
    assert validate_pin("4711") == "4711"
    assert validate_pin("05091984") == "05091984"


def test_wrong_pins_are_free_up_to_the_limit_then_each_waits_longer_up_to_a_cap():
    assert pin_lockout(FREE_PIN_TRIES - 1, NOW) is None
    waits = [(pin_lockout(n, NOW) - NOW).total_seconds() for n in range(FREE_PIN_TRIES, 12)]
    assert waits[:3] == [30, 60, 120]
    assert waits == sorted(waits) and max(waits) == 15 * 60
    assert pin_lockout(10_000, NOW) == NOW + timedelta(minutes=15)


def test_names_are_trimmed_and_must_not_be_empty():
    assert validate_name("  Anna   Berg ") == "Anna Berg"
    with pytest.raises(OperatorRuleError, match="needs a name"):
        validate_name("   ")
    with pytest.raises(OperatorRuleError, match="at most 100"):
        validate_name("x" * 101)


@pytest.mark.parametrize("typed", ["anna7", "OP-ANNA7", " op-Anna7 "])
def test_a_badge_code_is_one_code_however_it_was_typed_or_scanned(typed):
    assert normalize_badge_code(typed) == "ANNA7"


@pytest.mark.parametrize("typed", ["", "OP-", "anna 7", "åsa", "-x", "A" * 41])
def test_a_badge_code_that_would_not_scan_back_is_refused(typed):
    with pytest.raises(OperatorRuleError):
        normalize_badge_code(typed)


def test_a_badge_scans_as_a_badge_like_order_and_command_barcodes():
    assert badge_barcode("ANNA7") == "OP-ANNA7"
    scanned = classify("op-anna7\r\n")
    assert scanned.kind is CodeKind.BADGE and scanned.badge == "ANNA7"
    assert classify("OP-").kind is CodeKind.INVALID
    assert "operator badge" in classify("OP-ÅSA").error
    # Text that merely starts with the letters is no badge (nor, R13, a parcel id).
    assert classify("OPX12345").kind is CodeKind.INVALID
    assert "badge" not in classify("OPX12345").error


def test_a_scan_needs_an_operator_only_when_required_and_someone_could_sign_in():
    assert scan_needs_operator(required=True, signed_in=False, operators_exist=True)
    assert scan_needs_operator(required=True, signed_in=True, operators_exist=True) is None
    assert scan_needs_operator(required=False, signed_in=False, operators_exist=True) is None
    # Nobody to sign in as: requiring it would stop the bench for good.
    assert scan_needs_operator(required=True, signed_in=False, operators_exist=False) is None


def test_idle_means_no_touch_and_no_scan():
    assert idle_lock_in_s(300, touch_idle_s=400, scan_idle_s=None) == 0
    assert idle_lock_in_s(300, touch_idle_s=400, scan_idle_s=10) == 290  # a scan 10 s ago
    assert idle_lock_in_s(300, touch_idle_s=100, scan_idle_s=1000) == 200
    with pytest.raises(ValueError, match="off"):
        idle_lock_in_s(0, touch_idle_s=400, scan_idle_s=None)
