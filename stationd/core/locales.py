"""Whose language a piece of paper speaks, and how each language writes a date (issue 12).

The packer's screen speaks the station's language. The customer's paper — receipt, invoice,
the texts of the shipping label, later the shipping notice — speaks the customer's: the
language of the country the order ships to (Swedish in Sweden, Norwegian bokmål in Norway,
English elsewhere), with money in the order's currency (`core.money`).

Each language writes a date one way on paper, as the kiosk's locales write it on screen:
Swedish as ISO 8601 (2026-12-06), Norwegian as 06.12.2026, English as 06/12/2026 (day first,
as in Britain).
"""

from __future__ import annotations

from datetime import date

__all__ = ["COUNTRY_LANGUAGE", "customer_language", "date_text"]

#: The language of the customer's paper, by ISO 3166 country code (English elsewhere).
COUNTRY_LANGUAGE = {"SE": "sv", "AX": "sv", "NO": "nb", "SJ": "nb"}

_DATE_FORMATS = {"sv": "%Y-%m-%d", "nb": "%d.%m.%Y", "en": "%d/%m/%Y"}


def customer_language(country: str) -> str:
    """The language of the paper that goes to a customer in `country` ('SE' → 'sv')."""
    return COUNTRY_LANGUAGE.get(country.strip().upper(), "en")


def date_text(day: date, language: str) -> str:
    """`day` as `language` writes a date (anything but 'sv' and 'nb' as English)."""
    return day.strftime(_DATE_FORMATS.get(language, _DATE_FORMATS["en"]))
