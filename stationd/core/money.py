"""Money as the Nordic shops write it: amounts are whole minor units (öre, øre, cents).

The customer's paper is written the way the customer's country writes money (issue 12): the
number grouped with spaces and a decimal comma in Swedish and Norwegian ("3 615,00 kr"), with
commas and a decimal point in English ("NOK3,615.00"). "kr" is written only where it can mean
one currency — SEK in Swedish, NOK in Norwegian; any other currency is named by its ISO 4217
code (a Norwegian order on Swedish paper reads "3 615,00 NOK"), the euro by its sign.
"""

from __future__ import annotations

from stationd.core.locales import customer_language

NBSP = "\u00a0"
#: The currency "kr" means in each language.
HOME_CURRENCY = {"sv": "SEK", "nb": "NOK"}
#: Signs that name one currency in every language.
SIGNS = {"EUR": "€"}


def books_currency(country: str) -> str:
    """The currency a shop in `country` keeps its books in (R16's invoice records, the SIE
    file): its home currency — NOK in Norway — and SEK elsewhere, SIE being Swedish."""
    return HOME_CURRENCY.get(customer_language(country), "SEK")


def money_unit(currency: str, language: str = "sv") -> str:
    """How `currency` is named after (or, in English, before) an amount in `language`."""
    if HOME_CURRENCY.get(language) == currency:
        return "kr"
    return SIGNS.get(currency, currency)


def format_amount(minor: int, language: str = "sv") -> str:
    """The number alone, as `language` writes it: 123450 → '1 234,50' ('1,234.50' in English);
    a space in a number is non-breaking, so an amount never wraps."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(int(minor)), 100)
    if language == "en":
        return f"{sign}{whole:,}.{cents:02d}"
    return sign + f"{whole:,}".replace(",", NBSP) + f",{cents:02d}"


def format_money(minor: int, currency: str = "SEK", language: str = "sv") -> str:
    """123450 SEK → '1 234,50 kr' in Swedish, '1 234,50 SEK' in Norwegian, 'SEK1,234.50' in
    English — on paper and on the kiosk's pages alike."""
    unit, amount = money_unit(currency, language), format_amount(minor, language)
    if language != "en":
        return f"{amount}{NBSP}{unit}"
    return f"{unit}{amount}"  # as CLDR's en_GB writes it: "SEK1,234.50", "€1,234.50"
