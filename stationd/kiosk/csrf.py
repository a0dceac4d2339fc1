"""CSRF protection for every state-changing request.

Three checks, each of which alone stops a forged request:

- The browser's own word: a state-changing request whose `Sec-Fetch-Site` is not `same-origin`
  (or `none`, an address typed by hand) or whose `Origin` is not this station's is refused. A page
  on the same host at another port is "same-site" for the browser, so SameSite cookies do not
  stop it; these headers do (issue 10: cookie tossing from 127.0.0.1 at another port).
- A signed token: each browser gets a random nonce signed with the station's secret, in a
  SameSite=Strict cookie. A sibling origin can set a cookie for this host (cookies ignore ports),
  but not one the station signed, so a tossed cookie is worth nothing.
- Double submit: pages carry the token in the htmx header (`X-CSRF-Token`, set on <body>) and in a
  hidden `csrf_token` field of plain forms; it must equal the cookie, which another site can't read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flask import Flask, abort, g, request

from stationd.kiosk.i18n import gettext as _

COOKIE = "stationd_csrf"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: `Sec-Fetch-Site` values of a request this station's own page (or a typed address) made.
OWN_SITES = frozenset({"same-origin", "none"})
SECRET_BYTES = 32


def load_secret(path: Path) -> bytes:
    """The station's signing secret, kept in `path` (0600) so tokens outlive a restart: a page on
    the touchscreen keeps working when the station comes back."""
    try:
        secret = path.read_bytes()
        if len(secret) >= SECRET_BYTES:
            return secret
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(SECRET_BYTES)
    temp = path.with_name(path.name + ".new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    return secret


def _signature(secret: bytes, nonce: str) -> str:
    digest = hmac.new(secret, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def new_token(secret: bytes) -> str:
    """A fresh token for one browser: a random nonce and the station's signature of it."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_signature(secret, nonce)}"


def is_signed(secret: bytes, token: str) -> bool:
    """Whether `token` is one this station made (not one a sibling origin tossed in)."""
    nonce, _dot, signature = token.partition(".")
    if not nonce or not signature:
        return False
    return hmac.compare_digest(signature.encode(), _signature(secret, nonce).encode())


def csrf_token() -> str:
    """This browser's token (a new one is set as a cookie with the response)."""
    from flask import current_app

    secret = current_app.config["CSRF_SECRET"]
    token = request.cookies.get(COOKIE, "")
    if token and is_signed(secret, token):
        return token
    token = g.get("new_csrf_token")
    if not token:
        token = g.new_csrf_token = new_token(secret)
    return token


def _from_this_origin() -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in OWN_SITES:
        return False
    origin = request.headers.get("Origin")
    # No Origin: not a browser's cross-origin request (browsers send it on every POST).
    return origin is None or origin == request.host_url.rstrip("/")


def init_csrf(app: Flask, secret: bytes, *, exempt: frozenset[str] = frozenset()) -> None:
    """Check origin and token on every unsafe request; templates get tokens as `csrf_token()`.

    `exempt` names blueprints that are not for a browser and carry their own credential in a
    header no other site's page can set (the intake API's bearer token): only those skip it.
    """
    app.config["CSRF_SECRET"] = secret

    @app.before_request
    def _check_csrf() -> None:
        if request.method in SAFE_METHODS or request.blueprint in exempt:
            return
        if not _from_this_origin():
            abort(403, _("That request came from another site's page: it was not carried out."))
        expected = request.cookies.get(COOKIE, "")
        given = request.headers.get(HEADER) or request.form.get(FIELD) or ""
        if (
            not expected
            or not is_signed(secret, expected)
            or not hmac.compare_digest(expected.encode(), given.encode())
        ):
            abort(
                403, _("This form is out of date (its security token is missing): reload the page.")
            )

    @app.after_request
    def _set_csrf_cookie(response):  # type: ignore[no-untyped-def]
        if g.get("new_csrf_token"):
            response.set_cookie(
                COOKIE, g.new_csrf_token, httponly=True, samesite="Strict", path="/"
            )
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
