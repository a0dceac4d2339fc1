"""One pack-script run (R6–R8, R17): lock, load, decide, write, record — one transaction.

This is the run that every caller makes: the `stationd packscript` command, the schedule
(`sync.schedule`), the Tools page (through `services.packscript.PackScriptRunner`) and the
benchmark. The SQL pieces are the store's (`store.packscript`), the decisions core's.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from stationd.clock import utcnow
from stationd.core.packscript import PackResult, Step, StepListener, Trace, run_pack_script
from stationd.core.packscript_reasons import Message
from stationd.store import packscript as pack_store
from stationd.store.database import Store

log = logging.getLogger(__name__)

__all__ = ["PackScriptRunFailed", "run_once"]


class PackScriptRunFailed(Exception):
    """Writing a run's outcome failed; nothing was moved. `run_id` is the recorded failure."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


def run_once(
    store: Store,
    *,
    station: str,
    trigger: str,
    on_step: StepListener | None = None,
    keep_traces_days: int | None = None,
) -> tuple[int, PackResult]:
    """One pack-script run: lock, load, decide, write, record — all in one transaction.

    Returns the run's id and its result. If writing fails the moves roll back, and the failure
    is recorded as a run of its own with the error, so the Tools page shows what happened.
    With `keep_traces_days` (`[packscript] keep_traces_days`), the traces of older runs are
    forgotten afterwards, in a transaction of its own (`store.packscript.forget_old_traces`).
    """
    started = utcnow()
    try:
        with _collector_paused(), store.write(bulk=True) as conn:
            pack_store.packscript_lock(conn)
            candidates = pack_store.load_candidates(conn)
            available = pack_store.load_available(conn)
            result = run_pack_script(candidates, available, on_step)
            # The run is recorded first, in the same transaction, so each moved order and the
            # event can name it.
            run_id = pack_store.record_run(conn, station, trigger, started, result, None)
            pack_store.write_result(conn, result, station=station, run_id=run_id)
    except Exception as err:
        log.exception("pack script run failed")
        stop = Step(None, "error", False, Message(f"{type(err).__name__}: {err}"))
        failed = PackResult(trace=Trace(stopped=stop))
        with store.write() as conn:
            run_id = pack_store.record_run(conn, station, trigger, started, failed, "failed")
        raise PackScriptRunFailed(run_id, stop.detail) from err
    if keep_traces_days is not None:
        before = utcnow() - timedelta(days=keep_traces_days)
        try:
            with store.write() as conn:
                gone = pack_store.forget_old_traces(conn, before=before)
        except Exception:  # costs disk until the next run tries again, nothing else
            log.warning("could not forget old pack-script traces", exc_info=True)
        else:
            if gone:
                log.info("forgot the traces of %d pack-script runs before %s", gone, before)
    return run_id, result


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Loading makes ~500,000 tuples that live until the run ends and hold no cycles; the
    # cyclic garbage collector would only walk them again and again, while they are made and
    # at each allocation after (one full pass costs ~0.1 s), until the commit.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
