"""The intake API (issue 13 §1): a shop pushes orders, products and stock.

`POST /api/v1/orders`, `/products`, `/stock` take one record or a list, with the shop's bearer
token (`[[intake]]` in the config, compared in constant time, never logged). The records go
through the same checks and writes as `stationd import` (`services/intake.py`): if any record
is invalid the answer is 422 with every field error and nothing is written; otherwise 200 with
each record's outcome. Errors are RFC 9457 problem documents. The OpenAPI 3.1 document is
served at `/api/v1/openapi.json` (`kiosk/intake_openapi.py`).

The routes carry their own credential, so they are exempt from the kiosk's CSRF check and its
kiosk token (`create_app`), and from nothing else: a request without the bearer token is 401
before anything is read.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from stationd.core.intake import parse_order, parse_product, parse_stock
from stationd.core.intake_formats import Record
from stationd.kiosk.intake_openapi import MAX_BODY_BYTES, MAX_RECORDS, openapi_document
from stationd.services.intake import import_orders, import_products, import_stock

bp = Blueprint("intake_api", __name__, url_prefix="/api/v1")
PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid records",
}


def problem(status: int, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status}
    body.update(detail=detail, **extra)
    response = Response(json.dumps(body), status, mimetype=PROBLEM)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="stationd intake"'
    return response


def http_problem(err: HTTPException) -> Response:
    """A werkzeug error (404, 405, 413 …) on an API path, as a problem document."""
    detail = {
        404: "There is no such API path.",
        405: "This path takes POST only (the OpenAPI document is at GET /api/v1/openapi.json).",
        413: f"The body is larger than {MAX_BODY_BYTES} bytes: send fewer records at a time.",
    }.get(err.code or 400, err.description or "")
    response = problem(err.code or 400, detail)
    if err.code == 405 and hasattr(err, "valid_methods") and err.valid_methods:
        response.headers["Allow"] = ", ".join(err.valid_methods)
    return response


def _shop() -> str | None:
    """The shop whose token the request carries, or None. Every configured token is compared,
    in constant time, whichever matches."""
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    found = None
    for shop in current_app.config["STATION"].settings.intake:
        if shop.token and hmac.compare_digest(token.encode(), shop.token.encode()):
            found = shop.name
    return found


@bp.before_request
def _limits() -> Response | None:
    # Bigger than the kiosk's forms (64 KB), still bounded: a request is read into memory.
    request.max_content_length = MAX_BODY_BYTES
    if request.endpoint == "intake_api.openapi":
        return None
    if _shop() is None:
        return problem(401, "This API needs the shop's token: Authorization: Bearer <token>.")
    return None


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Response:
    return http_problem(err)


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(json.dumps(openapi_document()), mimetype="application/json")


def _records() -> list[Any] | Response:
    if not request.is_json:
        return problem(415, "Send the records as JSON (Content-Type: application/json).")
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError) as err:
        return problem(400, f"The body is not JSON: {err}")
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_RECORDS:
        return problem(422, f"Send 1 to {MAX_RECORDS} records.", errors=[])
    return items


def _take(kind: str, parse: Any, run: Any) -> Response:
    items = _records()
    if isinstance(items, Response):
        return items
    errors = []
    for index, item in enumerate(items):
        parsed = parse(item)
        if isinstance(parsed, list):
            errors += [{"index": index, "field": e.field, "message": e.message} for e in parsed]
    if errors:
        return problem(
            422, f"{kind}: some records are not valid; none was taken in.", errors=errors
        )
    summary = run([Record(index, item) for index, item in enumerate(items)])
    body = {
        "new": summary.new,
        "updated": summary.updated,
        "unchanged": summary.unchanged,
        "refused": len(summary.refused),
        "results": [
            {"index": o.at, "key": o.key, "outcome": o.outcome}
            | ({"reason": "; ".join(o.reasons)} if o.reasons else {})
            for o in summary.outcomes or []
        ],
    }
    return Response(json.dumps(body), 200, mimetype="application/json")


def _store():  # type: ignore[no-untyped-def]
    station = current_app.config["STATION"]
    # With sync the shop's data is central's: every bench pulls it from there.
    return station.central_store or station.store


@bp.post("/orders")
def orders() -> Response:
    shop = _shop()
    station = current_app.config["STATION"]
    return _take(
        "orders",
        parse_order,
        lambda records: import_orders(
            _store(), shop or "", records, bus=station.bus, keep_outcomes=True
        ),
    )


@bp.post("/products")
def products() -> Response:
    return _take(
        "products",
        parse_product,
        lambda records: import_products(_store(), records, keep_outcomes=True),
    )


@bp.post("/stock")
def stock() -> Response:
    return _take(
        "stock", parse_stock, lambda records: import_stock(_store(), records, keep_outcomes=True)
    )
