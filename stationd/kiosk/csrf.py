"""CSRF protection for every state-changing request (double-submit token).

Each browser gets a random token in a SameSite=Strict cookie; pages carry it in the htmx
header (`X-CSRF-Token`, set on <body>) and in a hidden `csrf_token` field of plain forms. A POST
whose token does not match the cookie is refused: another site can make a browser send the
cookie, but cannot read it to put it in the request.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, g, request

from stationd.kiosk.i18n import gettext as _

COOKIE = "stationd_csrf"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """This browser's token (a new one is set as a cookie with the response)."""
    token = request.cookies.get(COOKIE) or g.get("new_csrf_token")
    if not token:
        token = g.new_csrf_token = secrets.token_urlsafe(24)
    return token


def init_csrf(app: Flask) -> None:
    """Check the token on every unsafe request; hand tokens to templates as `csrf_token()`."""

    @app.before_request
    def _check_csrf() -> None:
        if request.method in SAFE_METHODS:
            return
        expected = request.cookies.get(COOKIE, "")
        given = request.headers.get(HEADER) or request.form.get(FIELD) or ""
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            abort(
                403, _("This form is out of date (its security token is missing): reload the page.")
            )

    @app.after_request
    def _set_csrf_cookie(response):  # type: ignore[no-untyped-def]
        if g.get("new_csrf_token"):
            response.set_cookie(COOKIE, g.new_csrf_token, httponly=True, samesite="Strict")
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
