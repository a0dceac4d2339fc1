"""/metrics: the station in Prometheus text format (prometheus-client), for whoever watches it.

Counted from the bus as things happen: scans by source and outcome, the scan→screen latency
(from the scanner's read to the outcome the kiosk's live stream shows), pack-script runs by
status and their durations. Read when scraped: print jobs by printer and state, each printer's
queue depth and its oldest waiting job's age (one grouped query), and each device up or down.
Sync lag and outbox backlog come with sync, which does not exist yet.

Each app has its own registry: nothing global, two stations in one test process don't mix.
Readable without the kiosk token from loopback only; from the network with the kiosk token or
``[kiosk] metrics_token`` as ``Authorization: Bearer …`` (kiosk/__init__.py checks both).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from stationd.clock import utcnow
from stationd.events import Event, PackScriptRunChanged, ScanOutcome, ScanRead, ScanRejected

if TYPE_CHECKING:
    from stationd.station import Station

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

#: Scans read and not yet answered, kept to time their outcome; a scan never answered (the
#: bench stopped) falls off the end.
PENDING_SCANS = 256
#: Buckets of the scan→screen latency, seconds: the bench aims at tens of milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RUN_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600)
WAITING = ("queued", "sending", "held")


class StationMetrics:
    """The metrics of one station: counters fed by its bus, gauges read when scraped."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.registry = CollectorRegistry(auto_describe=True)
        self.scans = Counter(
            "stationd_scans",
            "Scans by the scanner that read them and what the bench made of them.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.scan_to_screen = Histogram(
            "stationd_scan_to_screen_seconds",
            "From a scanner's read to the bench's outcome on the kiosk's live stream.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.runs = Counter(
            "stationd_packscript_runs",
            "Pack-script runs of this station by how they ended.",
            ["status"],
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "stationd_packscript_run_seconds",
            "How long this station's pack-script runs took.",
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ScrapedCollector(station))
        self._pending: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self._lock = threading.Lock()
        station.bus.subscribe(self._on_event, ScanRead, ScanRejected, ScanOutcome)
        station.bus.subscribe(self._on_run, PackScriptRunChanged)

    def close(self) -> None:
        self.station.bus.unsubscribe(self._on_event)
        self.station.bus.unsubscribe(self._on_run)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ScanRead):
            with self._lock:
                self._pending[(event.source, event.code)] = event.at
                while len(self._pending) > PENDING_SCANS:
                    self._pending.popitem(last=False)
        elif isinstance(event, ScanRejected):
            self.scans.labels(event.source, "rejected").inc()
        elif isinstance(event, ScanOutcome):
            if not event.code:
                return  # the bench telling of a rejected frame, counted as rejected already
            self.scans.labels(event.source, "ok" if event.ok else "error").inc()
            with self._lock:
                read_at = self._pending.pop((event.source, event.code), None)
            if read_at is not None:
                self.scan_to_screen.observe(max(0.0, (utcnow() - read_at).total_seconds()))

    def _on_run(self, event: PackScriptRunChanged) -> None:
        if event.running:
            return
        if event.run_id is None:
            self.runs.labels("failed").inc()  # it could not even start
            return
        from stationd.store.packscript_activity import run_record

        try:
            with self.station.store.read() as conn:
                run = run_record(conn, event.run_id)
        except Exception:  # a metric is never worth a failed run's other listeners
            log.warning("pack-script run %s: no metrics", event.run_id, exc_info=True)
            return
        if run is None:
            return
        self.runs.labels(run.status).inc()
        if run.finished_at is not None:
            self.run_seconds.observe((run.finished_at - run.started_at).total_seconds())


class _ScrapedCollector:
    """What is read when /metrics is asked: the print queues and the devices."""

    def __init__(self, station: Station) -> None:
        self.station = station

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only: describing would query the database

    def collect(self) -> Iterator[Metric]:
        from stationd.store.reads.print_jobs import jobs_by_state

        jobs = GaugeMetricFamily(
            "stationd_print_jobs",
            "Print jobs kept, by printer and state.",
            labels=["printer", "state"],
        )
        depth = GaugeMetricFamily(
            "stationd_print_queue_depth",
            "Jobs of a printer not printed yet (queued or held).",
            labels=["printer"],
        )
        oldest = GaugeMetricFamily(
            "stationd_print_queue_oldest_job_age_seconds",
            "Age of a printer's oldest job not printed yet; 0 with none waiting.",
            labels=["printer"],
        )
        waiting: dict[str, tuple[int, datetime | None]] = {
            name: (0, None) for name in self.station.printers
        }
        database = GaugeMetricFamily(
            "stationd_database_up", "1 while the database answers, 0 while it is away."
        )
        kept = GaugeMetricFamily(
            "stationd_scans_waiting", "Scans read and kept that wait for the database."
        )
        kept.add_metric([], self.station.bench_worker.waiting)
        yield kept
        try:
            with self.station.store.read() as conn:
                rows = jobs_by_state(conn)
        except Exception as err:
            # The database is away: the scrape still tells so, and what needs no database.
            if not self.station.availability.lost(err, "/metrics"):
                raise
            database.add_metric([], 0.0)
            yield database
            yield self._devices_up()
            return
        database.add_metric([], 1.0)
        yield database
        for printer, state, count, first in rows:
            jobs.add_metric([printer, state], count)
            if state in WAITING:
                n, seen = waiting.get(printer, (0, None))
                waiting[printer] = (n + count, first if seen is None else min(seen, first))
        now = utcnow()
        for printer, (n, first) in sorted(waiting.items()):
            depth.add_metric([printer], n)
            oldest.add_metric([printer], (now - first).total_seconds() if first else 0.0)
        yield jobs
        yield depth
        yield oldest
        yield self._devices_up()

    def _devices_up(self) -> Metric:
        up = GaugeMetricFamily(
            "stationd_device_up", "1 while a device works, 0 while not.", labels=["kind", "name"]
        )
        for device in self.station.device_watch.devices():
            up.add_metric([device.kind.value, device.name], 1.0 if device.working else 0.0)
        return up


def init_metrics(station: Station) -> StationMetrics:
    """The station's metrics, listening from now on; served by `bp`."""
    return StationMetrics(station)


@bp.get("/metrics")
def metrics() -> Response:
    """The station's metrics in Prometheus text format."""
    registry = current_app.extensions["stationd_metrics"].registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
