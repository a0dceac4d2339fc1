"""Operators: who stands at the bench (issue 8) — names, badges, PINs, and when to ask again.

A station has at most one operator signed in; every scan and every audit event the station
writes names them, so the shop knows who packed what. An operator signs in by scanning their
badge (a barcode `OP-…`, see `core.barcodes`) or by touching their name and typing a PIN.

PINs are never kept: only a salted scrypt hash, made and checked here. Wrong PINs are counted
per operator; after `FREE_PIN_TRIES` wrong ones in a row each further try waits longer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from stationd.core.barcodes import BADGE_CODE_MAX, badge_barcode
from stationd.core.text import Text, sentence

__all__ = [
    "FREE_PIN_TRIES",
    "NAME_MAX",
    "PIN_DIGITS",
    "Operator",
    "OperatorRuleError",
    "hash_pin",
    "idle_lock_in_s",
    "normalize_badge_code",
    "pin_lockout",
    "scan_needs_operator",
    "validate_name",
    "validate_pin",
    "verify_pin",
]

NAME_MAX = 100
#: How long a PIN may be: short enough to type on the keypad, long enough to matter.
PIN_DIGITS = range(4, 9)
#: Wrong PINs in a row before the next try has to wait.
FREE_PIN_TRIES = 5
#: The first wait after the free tries; it doubles with every further wrong PIN …
PIN_LOCKOUT_FIRST_S = 30
#: … up to this.
PIN_LOCKOUT_MAX_S = 15 * 60

# scrypt with n=2**14, r=8: ~16 MB and a few tens of ms per check on a Pi-class CPU — too
# slow to try all 10**4..10**8 PINs of a stolen database quickly, fast enough for a sign-in.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _HASH_LEN = 2**14, 8, 1, 32
_BADGE_PREFIX = "OP-"


class OperatorRuleError(ValueError):
    """An operator change or sign-in the rules refuse; `str(err)` is for the person who asked."""


@dataclass(frozen=True, slots=True)
class Operator:
    """A person who packs at the bench. `has_pin`/`has_badge`: the ways they can sign in."""

    id: int
    name: str
    active: bool = True
    has_pin: bool = False
    has_badge: bool = False


def validate_name(name: str) -> str:
    """The operator's name as kept: trimmed, not empty, at most `NAME_MAX` characters."""
    name = " ".join(name.split())
    if not name:
        raise OperatorRuleError(sentence("An operator needs a name."))
    if len(name) > NAME_MAX:
        raise OperatorRuleError(
            sentence("A name can be at most {num} characters long.", num=NAME_MAX)
        )
    return name


def normalize_badge_code(code: str) -> str:
    """The badge code as kept (upper case, without the `OP-` the printed badge carries).

    "op-anna7", "OP-ANNA7" and "anna7" are one badge, "ANNA7". Letters, digits and - _ . only,
    so the badge prints as CODE128 and any scanner reads it back the same.
    """
    text = code.strip().upper()
    if text.startswith(_BADGE_PREFIX):
        text = text[len(_BADGE_PREFIX) :]
    if not text:
        raise OperatorRuleError(sentence("The badge code is empty."))
    if len(text) > BADGE_CODE_MAX:
        raise OperatorRuleError(
            sentence("A badge code can be at most {num} characters long.", num=BADGE_CODE_MAX)
        )
    try:
        badge_barcode(text)
    except ValueError:
        raise OperatorRuleError(
            sentence(
                "A badge code is letters A–Z, digits and - _ . only, starting with a letter or "
                "digit."
            )
        ) from None
    return text


def validate_pin(pin: str) -> str:
    """A new PIN: `PIN_DIGITS` digits, not all the same digit and not a run like 1234."""
    if not (pin.isascii() and pin.isdigit()):
        raise OperatorRuleError(sentence("A PIN is digits only."))
    if len(pin) not in PIN_DIGITS:
        raise OperatorRuleError(
            sentence(
                "A PIN has {least} to {most} digits, this one has {count}.",
                least=PIN_DIGITS.start,
                most=PIN_DIGITS.stop - 1,
                count=len(pin),
            )
        )
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    if len(steps) == 1 and steps <= {0, 1, 9}:
        raise OperatorRuleError(
            sentence("That PIN is too easy to guess (like 1111 or 1234): choose another.")
        )
    return pin


def hash_pin(pin: str, salt: bytes) -> str:
    """The PIN's salted scrypt hash as stored: `scrypt$n$r$p$salt$hash` (base64 parts).

    `salt` comes from the caller (16 random bytes), so this stays a pure function.
    """
    if len(salt) < 16:
        raise ValueError("a PIN's salt is at least 16 random bytes")
    digest = _scrypt(pin, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        ("scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest))
    )


def verify_pin(pin: str, stored: str | None) -> bool:
    """True if `pin` is the PIN `stored` (from `hash_pin`) was made of; constant-time compare."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        given = _scrypt(pin, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:  # a damaged hash signs nobody in
        return False
    return hmac.compare_digest(given, expected)


def pin_lockout(failed_in_a_row: int, now: datetime) -> datetime | None:
    """Until when PIN sign-in waits after `failed_in_a_row` wrong PINs (None: no wait)."""
    over = failed_in_a_row - FREE_PIN_TRIES
    if over < 0:
        return None
    wait_s = min(PIN_LOCKOUT_FIRST_S * 2 ** min(over, 16), PIN_LOCKOUT_MAX_S)
    return now + timedelta(seconds=wait_s)


def scan_needs_operator(required: bool, signed_in: bool, operators_exist: bool) -> Text | None:
    """Why a scan (other than a badge) is refused for want of an operator, or None.

    Sign-in can only be required once an operator exists — else nobody could ever sign in.
    """
    if required and operators_exist and not signed_in:
        return sentence("Sign in first: scan your badge or enter your PIN.")
    return None


def idle_lock_in_s(idle_lock_s: float, touch_idle_s: float, scan_idle_s: float | None) -> float:
    """Seconds until the idle lock is due (0: lock now).

    Idle means no touch *and* no scan: `touch_idle_s` is how long the screen has not been
    touched, `scan_idle_s` how long ago the station's last scan was (None: never).
    """
    if idle_lock_s <= 0:
        raise ValueError("the idle lock is off")
    idle = touch_idle_s if scan_idle_s is None else min(touch_idle_s, scan_idle_s)
    return max(0.0, idle_lock_s - idle)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=_HASH_LEN, maxmem=2**26)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
