"""zeroconf on the LAN (python-zeroconf): the station advertises itself and hears of printers.

Advertised: ``_stationd._tcp`` (TXT: station name, version, API path, schema revision) and, when
the kiosk listens beyond loopback, ``_http._tcp`` for a browser. Heard: raw port-9100 printers
(``_pdl-datastream._tcp``: ZPL and ESC/POS), ``_ipp._tcp`` and ``_printer._tcp`` (LPD), listed on
the Devices page. Only on the LAN addresses (``[discovery] addresses``, else every non-loopback
IPv4 one), names made unique by zeroconf itself (``allow_name_change``). What is heard here is
shown to a person and never used for sync or locking decisions.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass

from stationd.config import Settings, is_loopback

log = logging.getLogger(__name__)

STATION_TYPE = "_stationd._tcp.local."
HTTP_TYPE = "_http._tcp.local."
#: Printer service types and what the Devices page calls each.
PRINTER_TYPES = {
    "_pdl-datastream._tcp.local.": "raw",  # port 9100: what [[printers]] transport "network" speaks
    "_ipp._tcp.local.": "ipp",
    "_printer._tcp.local.": "lpd",
}
#: How long a lookup of a service's address waits, ms.
RESOLVE_MS = 3000


@dataclass(frozen=True)
class FoundPrinter:
    """A printer heard of on the network: its advertised name, protocol, address and model."""

    name: str
    protocol: str  # raw | ipp | lpd
    host: str
    port: int
    model: str = ""

    @property
    def usable(self) -> bool:
        """Whether a [[printers]] entry can print to it: raw port-9100 printers only."""
        return self.protocol == "raw"


def lan_addresses(configured: str) -> list[str]:
    """The IPv4 addresses zeroconf speaks on: the configured ones, else every non-loopback."""
    if configured.strip():
        return [a.strip() for a in configured.split(",") if a.strip()]
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not is_loopback(ip.ip):
                found.append(ip.ip)
    return found


class Discovery:
    """The station's zeroconf: `start()` advertises and listens, `printers()` what it heard."""

    def __init__(self, settings: Settings, *, schema: str = "") -> None:
        self.settings = settings
        self.schema = schema
        self._zeroconf = None
        self._browser = None
        self._found: dict[tuple[str, str], FoundPrinter] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Advertise and listen; a network that refuses says so in the log and stops nothing."""
        try:
            self._start()
        except Exception:
            log.warning(
                "discovery: zeroconf could not start; the station goes on without it", exc_info=True
            )
            self.stop()

    def _start(self) -> None:
        from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, Zeroconf

        import stationd

        addresses = lan_addresses(self.settings.discovery.addresses)
        if not addresses:
            log.warning("discovery: no LAN address to speak on; zeroconf stays off")
            return
        self._zeroconf = zc = Zeroconf(interfaces=addresses, ip_version=IPVersion.V4Only)
        name = self.settings.station.name
        kiosk = self.settings.kiosk
        packed = [socket.inet_aton(a) for a in addresses]
        host = f"stationd-{socket.gethostname()}.local."
        infos = [
            ServiceInfo(
                STATION_TYPE,
                f"{name}.{STATION_TYPE}",
                addresses=packed,
                port=kiosk.port,
                server=host,
                properties={
                    "station": name,
                    "version": stationd.__version__,
                    "api": "/",
                    "schema": self.schema,
                },
            )
        ]
        if not kiosk.loopback_only:
            infos.append(
                ServiceInfo(
                    HTTP_TYPE,
                    f"{name} kiosk.{HTTP_TYPE}",
                    addresses=packed,
                    port=kiosk.port,
                    server=host,
                    properties={"path": "/"},
                )
            )
        for info in infos:
            zc.register_service(info, allow_name_change=True)
        self._browser = ServiceBrowser(zc, list(PRINTER_TYPES), handlers=[self._on_change])
        log.info("discovery: advertising %s on %s", name, ", ".join(addresses))

    def _on_change(self, zeroconf, service_type, name, state_change) -> None:  # type: ignore[no-untyped-def]
        from zeroconf import ServiceStateChange

        key = (service_type, name)
        if state_change is ServiceStateChange.Removed:
            with self._lock:
                self._found.pop(key, None)
            return
        info = zeroconf.get_service_info(service_type, name, timeout=RESOLVE_MS)
        if info is None or not info.parsed_addresses():
            return
        model = (info.properties or {}).get(b"ty") or b""
        printer = FoundPrinter(
            name=name.removesuffix(f".{service_type}"),
            protocol=PRINTER_TYPES[service_type],
            host=info.parsed_addresses()[0],
            port=info.port or 0,
            model=model.decode("utf-8", "replace"),
        )
        with self._lock:
            self._found[key] = printer
        log.info(
            "discovery: %s printer %s at %s:%d",
            printer.protocol,
            printer.name,
            printer.host,
            printer.port,
        )

    def printers(self) -> list[FoundPrinter]:
        """The printers heard of now, raw ones first, by name."""
        with self._lock:
            found = list(self._found.values())
        return sorted(found, key=lambda p: (not p.usable, p.name.casefold(), p.protocol))

    def stop(self) -> None:
        zc, self._zeroconf = self._zeroconf, None
        if zc is not None:
            if self._browser is not None:
                self._browser.cancel()
            zc.unregister_all_services()
            zc.close()
