"""Where python-escpos keeps its cache of printer capabilities: in the station's cache folder.

python-escpos parses its 96 KB capabilities file on import and caches the result as a pickle in
`ESCPOS_CAPABILITIES_PICKLE_DIR`, or else in a fresh `mkdtemp()` folder each time, so the cache
never hits and every start leaves a 70 KB `/tmp/tmpXXXX` behind (issue 10: 118 ms of each start
here, ~0.4 s on a Pi, 137 such folders on one machine). It also calls `mkdtemp()` when the
variable is set (the default of `environ.get` is evaluated anyway): that empty folder is made in a
scratch folder of ours and removed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PICKLE_DIR_ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def default_cache_dir() -> Path:
    """systemd's CacheDirectory= (`$CACHE_DIRECTORY`), else the user's cache folder."""
    given = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    if given:
        return Path(given)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stationd"


def import_escpos_with_cache(cache_dir: Path | None = None) -> None:
    """Import python-escpos's capabilities with their pickle kept in `cache_dir`/escpos.

    Call it before anything imports escpos; afterwards (or when the folder can't be made) it
    does nothing, and python-escpos works as it would on its own.
    """
    if "escpos.capabilities" in sys.modules:
        return
    folder = (cache_dir or default_cache_dir()) / "escpos"
    # One scratch folder a process: two starting at once (a test run, `serve` beside a CLI
    # command) must not remove the folder the other is making its temp folder in.
    scratch = folder / f"scratch-{os.getpid()}"
    try:
        scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        log.debug("no escpos cache in %s (%s): python-escpos uses /tmp", folder, err)
        return
    os.environ.setdefault(PICKLE_DIR_ENV, str(folder))
    saved = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    # python-escpos writes its pickle in place: a start reading it while another writes it gets
    # half a file (EOFError). The imports take turns; one from the cache takes ~40 ms.
    with open(folder / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            import escpos.capabilities  # noqa: F401
        finally:
            tempfile.tempdir = saved
            shutil.rmtree(scratch, ignore_errors=True)
