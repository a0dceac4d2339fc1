"""Swedish, Norwegian and English in the kiosk: the catalogs, the locale of a request, and how
money and times are written in it.

The station's `language` is the default; a packer can switch with the language buttons (a
cookie remembers it per browser). The catalogs, and how a core sentence is said in a language,
are `stationd.catalogs`' (the paper says its captions with the same ones).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from flask import Flask, has_request_context, request

from stationd.catalogs import LANGUAGES, LOCALES, catalog, parsed_locale, say, say_param
from stationd.core.money import format_money

__all__ = [
    "COOKIE",
    "LANGUAGES",
    "LOCALES",
    "gettext",
    "init_i18n",
    "marked",
    "ngettext",
    "request_language",
    "translate",
    "translate_error",
]

COOKIE = "stationd_lang"


def request_language(default: str = "en") -> str:
    """The language this request is shown in: the browser's choice, else the station's."""
    if not has_request_context():
        return default
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return request.environ.get("stationd.language", default)


def marked(message: str) -> str:
    """Mark `message` for the catalogs where it is written; it is translated where shown."""
    return message


def gettext(message: str, **params: object) -> str:
    """`message` in this request's language, with `{name}` placeholders filled from params.

    A param that is a core sentence (a `Text`) is said in that language too."""
    language = request_language()
    text = catalog(language).gettext(message)
    if not params:
        return text
    return text.format(**{key: say_param(value, language) for key, value in params.items()})


def translate(message: object) -> str:
    """A sentence from core (a `core.text.Text`) in this request's language; other text as is."""
    return say(message, request_language())


def translate_error(err: BaseException) -> str:
    """The sentence a refusal carries (its first argument, often a core `Text`), translated."""
    return translate(err.args[0] if err.args else str(err))


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    """The singular or plural form for `n` in this request's language (`{num}` is n)."""
    language = request_language()
    text = catalog(language).ngettext(singular, plural, n)
    return text.format(num=n, **{key: say_param(value, language) for key, value in params.items()})


def init_i18n(app: Flask, default: str, tz: tzinfo) -> None:
    """Install gettext in the templates and the `money` and `local` filters, per request."""

    @app.before_request
    def _station_language() -> None:
        # request_language() needs the station's default outside init_i18n too.
        request.environ["stationd.language"] = default

    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message, **params: gettext(message, **params),
        lambda singular, plural, n, **params: ngettext(singular, plural, n, **params),
        newstyle=False,
    )

    def locale() -> Locale:
        # A parsed Locale, not its name: babel parses a name on every call, which cost a
        # long list (the orders page: a price and a time a row) half its render time.
        return parsed_locale(LOCALES[request_language(default)])

    def money(minor: int, currency: str = "SEK") -> str:
        """Whole minor units written as the packer's language writes that currency: core's
        one rule (core.money), so the screen and the paper agree ("NOK", never "Nkr")."""
        return format_money(minor, currency, request_language(default))

    def local(when: datetime | None, fmt: str = "short") -> str:
        """A stored UTC time as the bench's clock shows it, in the locale's format.

        One date format per locale (issue 12): "medium" is the short date and time with its
        seconds ("2026-12-06 20:04:47"), not a second way of writing the date ("6 dec.
        2026"); any other `fmt` is a pattern for the time alone ("HH:mm:ss") or "short".
        """
        if when is None:
            return ""
        if fmt != "medium":
            return format_datetime(when, fmt, tzinfo=tz, locale=locale())
        at = when.astimezone(tz)
        pattern = str(locale().datetime_formats["short"])
        return pattern.replace("{1}", format_date(at, "short", locale=locale())).replace(
            "{0}", format_time(at, "medium", locale=locale())
        )

    app.jinja_env.filters["tr"] = translate
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["local"] = local
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = lambda: request_language(default)
