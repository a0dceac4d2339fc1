"""What every page shares: the navigation, and whole page or fragment for the same URL.

A plain request gets the whole page; a request made by htmx (`HX-Request`, not a history
restore) gets only the page's `main` block, because each page template extends `layout`, which
is `base.html` or `bare.html` by the request.
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request

from stationd.kiosk.i18n import marked

#: The navigation, in the order a packer works; a page shows only once its blueprint exists.
NAV = (
    ("queue.page", marked("Queue")),
    ("bench.page", marked("Bench")),
    ("shipout.page", marked("Ship-out")),
    ("orders.page", marked("Orders")),
    ("tools.page", marked("Tools")),
    ("settings.page", marked("Settings")),
    ("devices.page", marked("Devices")),
)


def is_htmx() -> bool:
    """Whether htmx made this request and wants a fragment, not a whole page."""
    return (
        has_request_context()
        and request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Boosted") != "true"
    )


def init_layout(app: Flask) -> None:
    """Give every template `layout` and the navigation it can show."""

    @app.context_processor
    def _layout() -> dict:
        views = current_app.view_functions
        return {
            "layout": "bare.html" if is_htmx() else "base.html",
            "nav": [(endpoint, label) for endpoint, label in NAV if endpoint in views],
        }
