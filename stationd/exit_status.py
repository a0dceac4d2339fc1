"""The exit statuses of `stationd`, and which of them the systemd unit must not restart.

A failure that another try may cure (a database that is down, a port in use) exits 1, and the
unit restarts the station. A config that is wrong or can't be read stays wrong until a person
edits it: it exits 78, ``EX_CONFIG`` of sysexits.h, which ``RestartPreventExitStatus=`` in
``systemd/stationd.service`` names, so the unit stops with its one journal line instead of
restarting for ever. A wrong command line is click's usage error, 2.
"""

from __future__ import annotations

#: Something went wrong that may go right on the next try.
FAILURE = 1
#: click's status for a command line it can't parse.
USAGE = 2
#: sysexits.h EX_CONFIG: the config file is wrong, unreadable or missing.
CONFIG = 78

#: What `RestartPreventExitStatus=` lists: failures a restart can't cure.
PERMANENT = (USAGE, CONFIG)
