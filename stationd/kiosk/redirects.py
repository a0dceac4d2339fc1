"""Where the kiosk may send a browser after a form: a path on this station, never another site."""

from __future__ import annotations

from urllib.parse import urlsplit


def local_path(value: str | None, default: str) -> str:
    """`value` if it is a path on this station, else `default`.

    Browsers read a backslash as a slash and drop tabs and newlines inside a URL, so
    `/\\example.invalid/x` leaves the station as surely as `//example.invalid/x` (issue 10):
    a path with either, or with a scheme or host of its own, is not local.
    """
    value = value or ""
    if not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
