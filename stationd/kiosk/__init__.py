"""The touchscreen kiosk: a Flask app built by `create_app(station)`, htmx pages, live by SSE."""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from stationd.config import is_loopback
from stationd.core.check_digits import ean_text
from stationd.kiosk import intake_api
from stationd.kiosk.csrf import init_csrf, load_secret
from stationd.kiosk.i18n import COOKIE as LANGUAGE_COOKIE
from stationd.kiosk.i18n import LANGUAGES, init_i18n, translate
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.layout import init_layout
from stationd.kiosk.numbers import bound_route_ids
from stationd.kiosk.outage import away_page, init_outage
from stationd.kiosk.redirects import local_path
from stationd.kiosk.stream_slots import StreamSlots
from stationd.store.unavailable import database_unavailable

if TYPE_CHECKING:
    from stationd.station import Station

log = logging.getLogger(__name__)


def create_app(station: Station) -> Flask:
    """The kiosk app for one station; nothing is built at import time."""
    app = Flask(__name__)
    app.config["STATION"] = station
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config["STREAM_SLOTS"] = StreamSlots.for_threads(station.settings.kiosk.threads)
    app.jinja_env.globals["station_name"] = station.settings.station.name
    app.jinja_env.filters["ean"] = ean_text
    init_i18n(app, station.settings.station.language, station.settings.station.tz)
    init_csrf(
        app,
        load_secret(Path(station.settings.station.state_dir) / "kiosk-secret"),
        exempt=frozenset({intake_api.bp.name}),
    )
    init_layout(app)
    # Before the pages' own checks (sign-in reads the database): an outage answers first.
    init_outage(app)
    bound_route_ids(app)

    from stationd.kiosk import (
        bench,
        devices,
        health,
        metrics,
        network_printers,
        operators,
        orders,
        outgoing,
        queue,
        settings,
        shipout,
        stream,
        tools,
    )

    pages = (queue, bench, shipout, orders, tools, outgoing, settings, devices, operators, stream)
    for page in pages:
        app.register_blueprint(page.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(network_printers.bp)
    app.register_blueprint(intake_api.bp)
    app.extensions["stationd_metrics"] = metrics.init_metrics(station)

    token = station.settings.kiosk.token
    metrics_token = station.settings.kiosk.metrics_token

    @app.before_request
    def _require_token() -> None:
        # Off loopback the kiosk is a door into the shop's orders: a token opens it. The intake
        # API has its own: each shop's bearer token (kiosk/intake_api.py).
        if not token or is_loopback(request.remote_addr) or _is_api():
            return
        if request.path == "/metrics" and metrics_token:
            # A monitor from the network may hold only the metrics token, which opens nothing else.
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if hmac.compare_digest(bearer.encode(), metrics_token.encode()):
                return
        given = request.args.get("token") or request.cookies.get("stationd_token") or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(403, _("This station's kiosk needs its access token."))

    @app.after_request
    def _remember_token(response):  # type: ignore[no-untyped-def]
        if token and request.args.get("token") == token:
            response.set_cookie(
                "stationd_token", token, httponly=True, samesite="Strict", max_age=86400 * 365
            )
        return response

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        return redirect(url_for("queue.page"))

    @app.post("/language")
    def language():  # type: ignore[no-untyped-def]
        """Switch this browser's language; back to the page it was chosen on."""
        chosen = request.form.get("language", "")
        if chosen not in LANGUAGES:
            abort(
                400,
                _(
                    "Unknown language “{value}”: choose one of {languages}.",
                    value=chosen[:20],
                    languages=", ".join(LANGUAGES.values()),
                ),
            )
        back = local_path(request.form.get("next"), url_for("queue.page"))
        response = redirect(back, code=303)
        response.set_cookie(LANGUAGE_COOKIE, chosen, samesite="Strict", max_age=86400 * 365)
        return response

    def error_page(code: int, message: str):  # type: ignore[no-untyped-def]
        message = translate(message)  # a core sentence a view passed on as it was
        try:
            return render_template("error.html", code=code, message=message), code
        except Exception:  # the page frame itself failed: the sentence still reaches the packer
            log.exception("kiosk error page failed")
            return f"{code} {message}", code, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):  # type: ignore[no-untyped-def]
        if _is_api():  # a path under /api/ no route took (404, 405): answered as the API does
            return intake_api.http_problem(err)
        if err.description and err.description != type(err).description:
            return error_page(err.code or 400, err.description)
        # werkzeug's own English sentence (a wrong URL, method or upload): ours instead.
        return error_page(err.code or 400, _http_sentence(err.code or 400))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # type: ignore[no-untyped-def]
        if database_unavailable(err):  # a state of the station, logged once by its availability
            return away_page(err)
        log.exception("kiosk request failed: %s %s", request.method, request.path)
        return error_page(500, _("Something went wrong on the station; it is in the log."))

    return app


def _is_api() -> bool:
    return request.path.startswith(intake_api.bp.url_prefix or "/api/")


def _http_sentence(code: int) -> str:
    """What an HTTP error the kiosk itself did not word means, for the person at the screen."""
    sentences = {
        400: _("The station did not understand that request: reload the page."),
        403: _("That is not allowed here."),
        404: _("There is no such page on this station."),
        405: _("That can't be done this way: reload the page and use its buttons."),
        413: _("That is more than the station takes in one go."),
        429: _("Too many tries: wait a moment and try again."),
    }
    # No HTTP code in the sentence (issue 12): it means nothing to the packer; the log has it.
    return sentences.get(code, _("The station could not do that: reload the page and try again."))
