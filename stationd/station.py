"""The Station: builds every part from the settings, starts and stops them in order."""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
from datetime import datetime
from pathlib import Path

from stationd.accounting import make_sender as make_accounting_sender
from stationd.carriers import Carrier, make_carrier
from stationd.config import Settings
from stationd.core.carrier_cancel import CANCEL_KIND
from stationd.core.outgoing import INVOICE_KIND, NOTICE_KIND, WEBHOOK_KIND
from stationd.devices.factory import make_printer, make_scale, make_scanner
from stationd.events import Bus, ScanRead, ScanRejected
from stationd.services.bench import BenchService
from stationd.services.bench_worker import BenchWorker
from stationd.services.carrier_cancel import CarrierCancelSender
from stationd.services.central_claims import central_claims_for
from stationd.services.command_sheet import COMMAND_SHEET
from stationd.services.database_watch import DatabaseWatch
from stationd.services.device_watch import DeviceWatch
from stationd.services.documents import Paperwork
from stationd.services.invoice_send import InvoiceSender
from stationd.services.notice_mail import SmtpSender
from stationd.services.operators import OperatorService
from stationd.services.outgoing import Backoff, OutgoingQueue, OutgoingWorker, Senders
from stationd.services.packscript import PackScriptRunner
from stationd.services.parcel_labels import ParcelLabels
from stationd.services.printing import DEFAULT_ROUTES, PrintService, PrintWorker
from stationd.services.report_in import ReportIn, Weighing
from stationd.services.scan_inbox import ScanInbox
from stationd.services.webhooks import WebhookSender
from stationd.store.availability import DatabaseAvailability
from stationd.store.bench import journaled_scans
from stationd.store.database import Store
from stationd.sync.schedule import PackScriptSchedule
from stationd.systemd_notify import notify, watchdog_interval_s

log = logging.getLogger(__name__)

#: The longest a print worker waits between tries at a printer that is away (R20, issue 3).
PRINTER_BACKOFF_MAX_S = 1.5
#: How often a station starting while its database is away asks it again (seconds).
DATABASE_WAIT_S = 1.0
#: Connections waitress keeps open at once (its default, 100, is one LAN of open pages).
CONNECTION_LIMIT = 500


def make_senders(settings: Settings, store: Store, carrier: Carrier | None = None) -> Senders:
    """The senders `settings` configure: the shipping notice with `[mail] host`, the webhooks
    with `[webhooks] url`, the invoice records with `[accounting] send_to` (R16), the cancel
    of a booked parcel id taken off with the station's `carrier`."""
    senders = Senders()
    if carrier is not None:
        senders.register(CANCEL_KIND, CarrierCancelSender(carrier))
    accounting = make_accounting_sender(settings.accounting)
    if accounting is not None:
        senders.register(INVOICE_KIND, InvoiceSender(store, accounting))
    if settings.mail.host:
        senders.register(NOTICE_KIND, SmtpSender(settings.mail, settings.shop.name))
    if settings.webhooks.url:
        senders.register(WEBHOOK_KIND, WebhookSender(settings.webhooks))
    return senders


class Station:
    """One packing station: store, bus, devices, bench, schedule and kiosk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        name = settings.station.name
        self.bus = Bus()
        self.store = Store(settings.database_url(), busy_timeout_s=settings.database.busy_timeout_s)
        #: Whether the database answers: every part that meets an outage tells it, and it
        #: alone logs it (once lost, every few minutes still, once back; issue 10 item 9).
        self.availability = DatabaseAvailability()
        #: R17 at central for a synced bench ([sync] central_url); None: a single bench.
        self.central_claims = central_claims_for(settings, self.store)
        self.bench = BenchService(
            self.store,
            self.bus,
            name,
            claim_lease_s=settings.database.claim_lease_s,
            claims=self.central_claims,
            sign_in_required=settings.kiosk.sign_in_required,
        )
        if self.central_claims is not None:  # a claim taken over: the packer is told
            self.central_claims.on_lost = lambda _order, said: self.bench.tell(said)
        self.operators = OperatorService(
            self.store,
            self.bus,
            name,
            sign_in_required=settings.kiosk.sign_in_required,
            idle_lock_s=settings.kiosk.idle_lock_s,
        )
        self.scanners = [make_scanner(cfg, self.bus) for cfg in settings.scanners]
        state_dir = settings.station.state_dir

        def journaled(scans: list[ScanRead | ScanRejected]) -> set[tuple[str, datetime]]:
            with self.store.read() as conn:
                return journaled_scans(conn, name, min(scan.at for scan in scans))

        #: Every scan on disk as it is read, until the journal has it (a power cut loses none).
        self.scan_inbox = ScanInbox(Path(state_dir) / "scan-inbox.jsonl", journaled)
        self.printers = {
            cfg.name: make_printer(cfg, state_dir=state_dir) for cfg in settings.printers
        }
        # Back-off capped low: a printer that comes back prints again within ~2 s (R20).
        workers = {
            cfg.name: PrintWorker(
                self.store,
                self.bus,
                self.printers[cfg.name],
                max_job_age_min=cfg.max_job_age_min,
                backoff_max_s=PRINTER_BACKOFF_MAX_S,
                availability=self.availability,
            )
            for cfg in settings.printers
        }
        # The defaults for printers named as they suggest, then whatever [print] says.
        routes = {kind: name for kind, name in DEFAULT_ROUTES.items() if name in self.printers}
        routes |= {
            field.name: getattr(settings.print, field.name)
            for field in dataclasses.fields(settings.print)
            if getattr(settings.print, field.name)
        }
        if self.printers and "label" not in routes:
            log.warning("no printer prints labels: report-in will queue none (set [print] label)")
        # The bench's command sheet prints where receipts do.
        if "receipt" in routes:
            routes.setdefault(COMMAND_SHEET, routes["receipt"])
        self.printing = PrintService(self.store, self.bus, workers, routes, station=name)
        self.paperwork = Paperwork.from_settings(settings)
        if settings.bench.label_when_packed and "label" not in routes:
            log.warning("bench.label_when_packed is set, but no printer prints labels")
        #: Where the ship-out page and the bench's labels get parcel ids; None: none is set.
        self.carrier = make_carrier(settings, self.store)
        if settings.bench.label_when_packed and self.carrier is None:
            log.warning(
                "bench.label_when_packed is set, but no [shipping] carrier books parcel ids: "
                "labels print at report-in"
            )
        self.scale = make_scale(settings.scale, self.bus)
        #: What goes out (issue 13 section 4): a sender per kind, the rows written with the
        #: change they tell about, one worker sending them.
        self.senders = make_senders(settings, self.store, self.carrier)
        self.outgoing = OutgoingQueue(
            self.store, self.senders, tracking_url=settings.mail.tracking_url
        )
        self.outgoing_worker = OutgoingWorker(
            self.store,
            self.senders,
            name,
            backoff=Backoff.from_settings(settings.outgoing),
            availability=self.availability,
        )
        self.outgoing.wake = self.outgoing_worker.notify
        self.parcel_labels = ParcelLabels(
            self.store,
            self.printing,
            self.paperwork,
            station=name,
            carrier=self.carrier,
            when_packed=settings.bench.label_when_packed,
        )
        #: Report-in (R13–R16): the ship-out page's button and whoever reports a delivery.
        self.report_in = ReportIn(
            self.store,
            self.bus,
            name,
            weighing=Weighing(
                tolerance_g=settings.scale.tolerance_g,
                tolerance_pct=settings.scale.tolerance_pct,
                box_tare_g=settings.scale.box_tare_g,
            ),
            labels=self.parcel_labels,
            scale=self.scale,
            books=settings.accounting.books(settings.shop.vat_percent),
            outgoing=self.outgoing,
        )
        self.bench.labels = self.parcel_labels
        self.bench.outgoing = self.outgoing
        #: Feeds the bench the scanners' scans, in a thread of its own.
        self.bench_worker = BenchWorker(self.bench, self.bus)
        #: The outage as the bench shows it: the database's state and the scans waiting for it.
        self.database_watch = DatabaseWatch(
            self.store, self.bus, self.availability, waiting=lambda: self.bench_worker.waiting
        )
        # Listening from now on, so it hears each device's first state when they start.
        self.device_watch = DeviceWatch(self.bus, self.scanners, self.printing.statuses, self.scale)
        self.device_watch.start()
        self.bench_worker.scans_diverted = self.device_watch.diverted
        self.scan_inbox.skip = self.device_watch.diverted
        # Each scan is journaled in the inbox with the bench's context as it is read, and
        # handed to the bench with it (a scan read for one order never acts on another).
        self.bench_worker.keeps_scans_in(self.scan_inbox)
        # With [sync] the pack script runs on central (R6–R8 across benches), never on this
        # station's copy: the benches see its moves through pull. By schedule only on the
        # station with `run_packscript`; any may run it by hand from Tools.
        #: Central's store for the pack script; None for a single bench.
        self.central_store = None
        pack_store, pack_interval_min = self.store, settings.packscript.interval_min
        if settings.sync.central_url:
            self.central_store = Store(
                settings.sync.central_url, busy_timeout_s=settings.database.busy_timeout_s
            )
            pack_store = self.central_store
            if not settings.sync.run_packscript:
                pack_interval_min = 0
        # Every run of this station — by hand and on schedule — goes through one runner.
        self.packscript = PackScriptRunner(
            pack_store,
            station=name,
            bus=self.bus,
            keep_traces_days=settings.packscript.keep_traces_days,
            availability=self.availability,
        )
        self.schedule = PackScriptSchedule(
            pack_store,
            station=name,
            interval_min=pack_interval_min,
            run_on_start=settings.packscript.run_on_start,
            run=self.packscript.run,
            availability=self.availability,
        )
        #: The push of the outbox to central ([sync] central_url); None for a single bench.
        self.push = None
        if settings.sync.central_url:
            from stationd.sync.push import Pusher, PushWorker

            pusher = Pusher(
                self.store, settings.sync.central_url, timeout_s=settings.sync.timeout_s
            )
            self.push = PushWorker(pusher, interval_s=settings.sync.push_interval_s)
        #: The pull of central's changes into this station's copy; None for a single bench.
        self.pull = None
        if settings.sync.central_url:
            from stationd.sync.pull import PullWorker

            self.pull = PullWorker(
                self.store,
                settings.sync.central_url,
                poll_interval_s=settings.sync.poll_interval_s,
                timeout_s=settings.sync.timeout_s,
            )
        if self.push is not None:  # the first to hear central back tells the others
            from stationd.sync.answers import tell_each_other

            tell_each_other(self.push, self.pull, self.central_claims)
        #: The sync as the bench shows it (offline since, changes waiting); None for a single
        #: bench.
        self.sync_watch = None
        if self.push is not None:
            from stationd.services.sync_watch import SyncWatch

            self.sync_watch = SyncWatch(self.bus, self.push, self.pull)
        #: zeroconf on the LAN ([discovery]); None when it is off.
        self.discovery = None
        if settings.discovery.enabled:
            from stationd.sync.discovery import Discovery

            self.discovery = Discovery(settings)
        #: The config file the station was read from (the Devices page writes printers to it).
        self.config_file: Path | None = None
        from stationd.kiosk import create_app

        self.app = create_app(self)
        self.server = None
        self._stopped = threading.Event()
        #: Set when the station stops: long-lived responses (SSE) end on it.
        self.stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._server_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self.server.effective_port if self.server is not None else self.settings.kiosk.port
        return f"http://{self.settings.kiosk.host}:{port}"

    def start(self) -> None:
        """Migrate the database, then start the bench, devices, schedule and kiosk server;
        READY=1 to systemd at the end. A database that is away is waited for, however long,
        with the kiosk started first to say so.

        If any part fails to start, the parts already running are stopped again.
        """
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        # Issue 12: a station run on the built-in defaults says so, not silently.
        log.info("%s", self.settings.config_notice())
        if not self._wait_for_database():
            return  # stopped while waiting
        notify("STATUS=migrating the database")
        self.store.upgrade()
        if self.push is not None:  # first: it notes where sync starts, before any new event
            self.push.start()
        if self.pull is not None:
            self.pull.start()
        if self.sync_watch is not None:
            self.sync_watch.start()
        self.database_watch.start()
        self.bench_worker.start()
        if self.central_claims is not None:
            self.central_claims.start()
        # Scans read before the last stop and never counted go first, then the scanners start.
        self.scan_inbox.open(self.bus)
        self.printing.start()
        self.outgoing_worker.start()
        if self.scale is not None:
            self.scale.start()
        for scanner in self.scanners:
            scanner.start()
        # Central's runs come on their own here: each finds its child started (~46 MB kept
        # for ~0.4 s of each run; a bench's own SQLite runs are small, and start their own).
        if self.schedule.interval_s > 0 and not self.packscript.store.is_sqlite:
            self.packscript.keep_child_ready()
        self.schedule.start()
        if self.server is None:  # last, as a listening kiosk means a station ready to scan
            self._start_kiosk()
        if self.discovery is not None:
            self.discovery.schema = self.store.revision() or ""
            self.discovery.start()
        # What startup built lives as long as the station: out of the collector's sight, a full
        # collection no longer walks it (130-150 ms for ~95k objects on the busy 2-core box,
        # every thread stopped, a scan or a print job behind it; issue 3). `stop` gives it back.
        gc.freeze()
        notify(f"READY=1\nSTATUS=kiosk at {self.url}")

    def _wait_for_database(self) -> bool:
        """Until the database answers: one line in the log, a STATUS= line for systemd, the
        watchdog fed (the process is alive), the kiosk started early to say so (503 pages).
        False if stopped meanwhile."""
        interval = watchdog_interval_s()
        told = False
        while not self.database_watch.check("start, which waits for it"):
            if not told:  # the log has its line from the availability already
                told = True
                self._start_kiosk()
                notify(f"STATUS=waiting for the database: {self.availability.reason}")
            # Not READY yet: systemd's start timeout is pushed on while we wait.
            wait_s = min(DATABASE_WAIT_S, interval or DATABASE_WAIT_S)
            notify(f"EXTEND_TIMEOUT_USEC={int((wait_s + 30) * 1_000_000)}")
            if interval:
                notify("WATCHDOG=1")
            if self.stopping.wait(wait_s):
                return False
        return True

    def _start_kiosk(self) -> None:
        from waitress import create_server

        kiosk = self.settings.kiosk
        # "localhost" can resolve to 127.0.0.1 and ::1, and waitress then builds a multi-socket
        # server without the single-socket API used here; the kiosk needs one address.
        host = "127.0.0.1" if kiosk.host.casefold() == "localhost" else kiosk.host
        # One process owns the hardware: a threaded server in it, never worker processes.
        # channel_request_lookahead lets an SSE stream notice a browser that went away.
        self.server = create_server(
            self.app,
            host=host,
            port=kiosk.port,
            threads=kiosk.threads,
            ident="stationd",
            channel_request_lookahead=1,
            # waitress stops accepting at 100 connections (its default): a LAN of open pages,
            # each keeping a connection or two alive, would then lock out the touchscreen.
            connection_limit=CONNECTION_LIMIT,
        )
        self._server_thread = threading.Thread(
            target=self.server.run, name="kiosk-server", daemon=True
        )
        self._server_thread.start()
        log.info("kiosk at %s", self.url)

    def wait(self) -> None:
        """Block until `stop()`; pets the systemd watchdog while the station is alive."""
        interval = watchdog_interval_s()
        while not self._stopped.wait(interval or 3600):
            if interval and self.healthy():
                notify("WATCHDOG=1")

    def healthy(self) -> bool:
        """The process is alive and serving its devices: the kiosk server and the bench run.

        The database is not asked: one that is away is a state the bench shows and waits out
        (issue 10 item 2), not a reason for systemd to kill the station — /healthz tells it.
        """
        if self._server_thread is None or not self._server_thread.is_alive():
            return False
        return self.bench_worker.running

    def _stop_server(self) -> None:
        server = self.server

        # waitress owns its sockets in the loop thread: close them there, or select() trips
        # over a descriptor closed under it. With every dispatcher gone the loop returns.
        def close_all() -> None:
            for dispatcher in list(server._map.values()):
                dispatcher.close()

        server.trigger.pull_trigger(close_all)
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
        server.task_dispatcher.shutdown(timeout=2)
        self.server = None

    def stop(self) -> None:
        """Stop everything in the reverse order of `start()`; a second call does nothing."""
        with self._stop_lock:
            if self.stopping.is_set():
                return
            self.stopping.set()
        notify("STOPPING=1")
        try:
            parts = [
                ("kiosk server", self._stop_server if self.server is not None else None),
                ("discovery", self.discovery.stop if self.discovery is not None else None),
                ("pack-script schedule", self.schedule.stop),
                ("sync watch", self.sync_watch.stop if self.sync_watch is not None else None),
                ("sync push", self.push.stop if self.push is not None else None),
                ("sync pull", self.pull.stop if self.pull is not None else None),
                ("database watch", self.database_watch.stop),
                ("pack-script run", self.packscript.stop),
                (
                    "central store",
                    self.central_store.dispose if self.central_store is not None else None,
                ),
                *[(f"scanner {sc.name}", sc.stop) for sc in self.scanners],
                ("scale", self.scale.stop if self.scale is not None else None),
                ("printers", self.printing.stop),
                ("outgoing", self.outgoing_worker.stop),
                # A real carrier's connections (the simulated one has none).
                ("carrier", getattr(getattr(self.carrier, "http", None), "close", None)),
                ("bench", self.bench_worker.stop),
                ("claims", self.central_claims.stop if self.central_claims is not None else None),
                ("scan inbox", self.scan_inbox.close),
                ("database", self.store.dispose),
            ]
            for what, stop in parts:
                if stop is None:
                    continue
                try:
                    stop()
                except Exception:
                    log.exception("%s did not stop cleanly", what)
        finally:
            gc.unfreeze()
            self._stopped.set()
