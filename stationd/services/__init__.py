"""Use cases: the thin layer between the callers (scanners, kiosk, CLI) and core + store.

Each use case is one database transaction; it publishes its events on the bus after the commit.
"""
