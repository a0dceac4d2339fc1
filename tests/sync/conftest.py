"""Fixtures the sync tests share. Each sync part keeps its own in a module named after it
(push: push_fixtures.py) and names here those its tests use."""

from sync.push_fixtures import (  # noqa: F401  (fixtures of the push's tests)
    central,
    central_template,
    cut_proxy,
    station,
    station_template,
)
