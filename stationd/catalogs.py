"""The station's sentences in Swedish and Norwegian: the gettext catalogs, and a core sentence
said in a language.

The catalogs are the kiosk's `.po` files (stationd/kiosk/translations), read at first use, so
the package ships no compiled files that could drift from their source. The kiosk says core's
sentences in the packer's language with them, and the paper (pick lists, receipts, invoices,
labels, test pages) its captions in the paper's language: one catalog for both.
"""

from __future__ import annotations

import io
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_decimal_symbol
from babel.support import NullTranslations, Translations

from stationd.core.text import Text

#: The station's languages, each named in itself (the button a packer looks for).
LANGUAGES = {"sv": "Svenska", "nb": "Norsk bokmål", "en": "English"}
#: The full locale each language formats money, dates and measures in.
LOCALES = {"sv": "sv_SE", "nb": "nb_NO", "en": "en_GB"}
CATALOGS = Path(__file__).with_name("kiosk") / "translations"


@cache
def catalog(language: str) -> NullTranslations:
    """The translations of one language, compiled in memory from its `.po` file (English, or
    a language without a catalog: the sentences as written)."""
    po = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        messages = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, messages)
    buffer.seek(0)
    return Translations(buffer)


@cache
def parsed_locale(name: str) -> Locale:
    """A babel Locale by name, parsed once (babel parses a name again on every call)."""
    return Locale.parse(name)


def say(message: object, language: str) -> str:
    """A core sentence (a `Text`) in `language`, its sentence params said too; other text as
    it is (None: "")."""
    template = getattr(message, "template", None)
    if template is None:
        return "" if message is None else str(message)
    context = getattr(message, "context", None)
    translations = catalog(language)
    said = (
        translations.pgettext(context, template)
        if context is not None
        else translations.gettext(template)
    )
    params = message.params  # type: ignore[attr-defined]
    if not params:
        return said
    return said.format(**{key: say_param(value, language) for key, value in params.items()})


def say_param(value: object, language: str) -> object:
    """A sentence's param as `language` writes it: a nested sentence translated, a measure
    with the locale's decimal sign; anything else as it is."""
    if isinstance(value, Text):
        return say(value, language)
    if isinstance(value, Decimal):
        # A measure core wrote with a point ("1.42" kg): the locale's decimal sign, not a
        # rounding of its own; counts and ids stay ints and are never grouped ("order 1042").
        locale = parsed_locale(LOCALES.get(language, LOCALES["en"]))
        return str(value).replace(".", get_decimal_symbol(locale))
    return value
