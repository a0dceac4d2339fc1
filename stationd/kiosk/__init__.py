"""The touchscreen kiosk: a Flask app built by `create_app(station)`, htmx pages, live by SSE."""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from flask import Flask, abort, redirect, request, url_for
from werkzeug.exceptions import HTTPException

from stationd.config import is_loopback
from stationd.core.money import format_money

if TYPE_CHECKING:
    from datetime import datetime

    from stationd.station import Station

log = logging.getLogger(__name__)


def create_app(station: Station) -> Flask:
    """The kiosk app for one station; nothing is built at import time."""
    app = Flask(__name__)
    app.config["STATION"] = station
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.jinja_env.globals["station_name"] = station.settings.station.name
    app.jinja_env.filters["money"] = format_money
    tz = station.settings.station.tz

    def local(when: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A stored UTC time as the bench's clock shows it."""
        return when.astimezone(tz).strftime(fmt)

    app.jinja_env.filters["local"] = local

    from stationd.kiosk import bench, queue, stream

    app.register_blueprint(queue.bp)
    app.register_blueprint(bench.bp)
    app.register_blueprint(stream.bp)

    token = station.settings.kiosk.token

    @app.before_request
    def _require_token() -> None:
        # Off loopback the kiosk is a door into the shop's orders: a token opens it.
        if not token or is_loopback(request.remote_addr):
            return
        given = request.args.get("token") or request.cookies.get("stationd_token") or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(403, "This station's kiosk needs its access token.")

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

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return {"station": station.settings.station.name, "ok": True}

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):  # type: ignore[no-untyped-def]
        return (
            app.jinja_env.get_template("error.html").render(
                code=err.code,
                message=err.description or err.name,
                station_name=station.settings.station.name,
            ),
            err.code,
        )

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):  # type: ignore[no-untyped-def]
        log.exception("kiosk request failed: %s %s", request.method, request.path)
        return (
            app.jinja_env.get_template("error.html").render(
                code=500,
                message="Something went wrong on the station; it is in the log.",
                station_name=station.settings.station.name,
            ),
            500,
        )

    return app
