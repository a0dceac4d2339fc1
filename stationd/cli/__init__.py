"""`stationd …` commands: serve, demo, packscript, orders search, devices, db upgrade, claims,
import, install, uninstall, check,
export sie.

Every expected failure — a bad config, a database that is down, a refused rule — ends as one
line on stderr and a non-zero exit, never a traceback.

`main` is the console script (`stationd.cli:main`); each module here adds its commands to it
when imported, so importing the package registers them all.
"""

from stationd.cli import (  # noqa: F401  (they add their commands)
    claims,
    devices,
    export,
    install,
    intake,
    orders,
    serve,
    sync,
)
from stationd.cli.root import main

__all__ = ["main"]
