"""Money as the Nordic shops write it: amounts are whole minor units (öre, cents)."""

from __future__ import annotations

SUFFIX = {"SEK": "kr", "NOK": "kr", "EUR": "€"}


def format_money(minor: int, currency: str = "SEK") -> str:
    """123450 → '1 234,50 kr' (non-breaking spaces, so an amount never wraps)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor)), 100)
    text = f"{whole:,}".replace(",", "\u00a0") + f",{cents:02d}"
    return f"{sign}{text}\u00a0{SUFFIX.get(currency, currency)}"
