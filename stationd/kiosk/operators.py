"""The operators page(s) of the kiosk."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("operators", __name__)
