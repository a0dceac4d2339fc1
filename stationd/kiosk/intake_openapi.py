"""The intake API's OpenAPI 3.1 document, written by hand from `core.intake`'s rules.

The schemas say what `core.intake` checks, as far as JSON Schema can: the one rule it can't
(an EAN's check digit) is the format `gtin`, described in words. A test runs schemathesis
against this document and the running API (tests/kiosk/test_intake_api.py).
"""

from __future__ import annotations

from typing import Any

from stationd.core.intake import (
    CURRENCIES,
    LANGUAGES,
    MAX_LINES,
    MAX_ON_HAND,
    MAX_PRICE_MINOR,
    PATTERNS,
    SHOP_STATUSES,
)
from stationd.core.orders import MAX_LINE_QUANTITY, PAYMENT_CURRENCIES, PaymentMethod

#: The largest body a request may have, and the most records in one.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_RECORDS = 1000


def _pattern(name: str) -> str:
    """core.intake's pattern `name`, anchored as JSON Schema's `pattern` (a search) needs."""
    return f"^(?:{PATTERNS[name]})$"


_NO_CONTROL = _pattern("text")


def _text(max_len: int = 200, *, required: bool = False) -> dict[str, Any]:
    # core.intake strips spaces around text and counts what is left; a required one must have
    # something left.
    schema: dict[str, Any] = {"type": "string", "maxLength": max_len, "pattern": _NO_CONTROL}
    if required:
        schema = {"allOf": [schema, {"type": "string", "pattern": "\\S"}]}
    return schema


_MONEY = {
    "description": 'Per item, VAT included, at most 2 decimals: a number or text like "149.00".',
    "oneOf": [
        {"type": "string", "pattern": _pattern("money")},
        {"type": "number", "minimum": 0, "maximum": MAX_PRICE_MINOR / 100, "multipleOf": 0.01},
    ],
}
_GTIN = {
    "type": "string",
    "format": "gtin",
    "pattern": _pattern("gtin"),
    "description": "EAN-8, UPC-A, EAN-13 or GTIN-14 with its GS1 check digit.",
}
_SKU = {"type": "string", "pattern": _pattern("sku")}

LINE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sku", "name", "quantity", "price"],
    "properties": {
        "sku": _SKU,
        "ean": _GTIN,
        "name": _text(required=True),
        "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_QUANTITY},
        "price": _MONEY,
        "vat_rate": {
            "description": "Percent, e.g. 25; absent: the shop's standard rate.",
            "oneOf": [
                {"type": "string", "pattern": _pattern("vat_rate")},
                {"type": "number", "minimum": 0, "maximum": 100, "multipleOf": 0.01},
            ],
        },
    },
}

_CUSTOMER = ["customer_name", "street", "postcode", "city"]
ORDER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ref", "placed_at", "country", "currency", "payment_method", "paid", "lines"],
    "properties": {
        "ref": {"type": "string", "pattern": _pattern("ref")},
        "placed_at": {
            "type": "string",
            "format": "date-time",
            "maxLength": 64,
            "pattern": _pattern("date-time"),
            "description": "RFC 3339, with its offset.",
        },
        "status": {"enum": list(SHOP_STATUSES), "default": "order"},
        "customer_name": _text(),
        "customer_email": {
            "type": "string",
            "maxLength": 200,
            "pattern": _pattern("email"),
        },
        "street": _text(),
        "postcode": _text(20),
        "city": _text(100),
        "country": {"type": "string", "pattern": _pattern("country")},
        "language": {"enum": list(LANGUAGES), "description": "Absent: from the country."},
        "currency": {"enum": list(CURRENCIES)},
        "payment_method": {"enum": [m.value for m in PaymentMethod]},
        "paid": {"type": "boolean"},
        "comment": _text(2000),
        "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": LINE},
    },
    # R1: an order (not a preorder) has its customer and where the parcel goes.
    "if": {"properties": {"status": {"const": "preorder"}}, "required": ["status"]},
    "else": {
        "required": _CUSTOMER,
        "properties": {name: _text(required=True) for name in _CUSTOMER},
    },
    # Swish is paid in SEK, Vipps in NOK (core.orders.payment_fits).
    "allOf": [
        {
            "if": {"properties": {"payment_method": {"const": method.value}}},
            "then": {"properties": {"currency": {"enum": sorted(currencies)}}},
        }
        for method, currencies in PAYMENT_CURRENCIES.items()
    ],
}

PRODUCT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sku", "name"],
    "properties": {
        "sku": _SKU,
        "name": _text(required=True),
        "ean": _GTIN,
        "location": {"type": "string", "maxLength": 20, "pattern": _NO_CONTROL},
        "weight_g": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "price": _MONEY,
    },
}

STOCK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sku", "on_hand"],
    "properties": {
        "sku": _SKU,
        "on_hand": {"type": "integer", "minimum": 0, "maximum": MAX_ON_HAND},
    },
}

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "field", "message"],
                "properties": {
                    "index": {"type": "integer"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

_SUMMARY = {
    "type": "object",
    "required": ["new", "updated", "unchanged", "refused", "results"],
    "properties": {
        "new": {"type": "integer"},
        "updated": {"type": "integer"},
        "unchanged": {"type": "integer"},
        "refused": {"type": "integer"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "key", "outcome"],
                "properties": {
                    "index": {"type": "integer"},
                    "key": {"type": "string"},
                    "outcome": {"enum": ["new", "updated", "unchanged", "refused"]},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def _operation(name: str, schema: str, summary: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {
        "post": {
            "operationId": f"post_{name}",
            "summary": summary,
            "security": [{"shopToken": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                ref,
                                {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": MAX_RECORDS,
                                    "items": ref,
                                },
                            ]
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Taken in: each record new, updated, unchanged or refused.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Summary"}}
                    },
                },
                "400": _problem("The body is not JSON."),
                "401": {
                    **_problem("No token, or not a shop's token."),
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                },
                "413": _problem(f"The body is larger than {MAX_BODY_BYTES} bytes."),
                "415": _problem("The body is not JSON (Content-Type)."),
                "422": _problem("Some records are not valid: none was taken in."),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /api/v1/openapi.json."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stationd intake API",
            "version": "1",
            "description": (
                "A shop pushes its orders, products and stock to the packing station. The same "
                "records as `stationd import` (README, Orders in from the shop). Idempotent by "
                "the shop's order reference and the product's SKU."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/orders": _operation(
                "orders", "Order", "Orders: new, or changed as R1/R2 allow"
            ),
            "/api/v1/products": _operation("products", "Product", "Products"),
            "/api/v1/stock": _operation("stock", "Stock", "Stock counts on hand"),
        },
        "components": {
            "securitySchemes": {"shopToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Order": ORDER,
                "Line": LINE,
                "Product": PRODUCT,
                "Stock": STOCK,
                "Problem": _PROBLEM,
                "Summary": _SUMMARY,
            },
        },
    }
