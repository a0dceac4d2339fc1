"""stationd — the software of a web-shop packing station."""

__version__ = "0.1.0"
