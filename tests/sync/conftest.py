"""Sync's tests (issue 11): each part's fixtures live in a module named after it."""

from sync.pull_fixtures import central, central_template, central_url, second_postgres  # noqa: F401
