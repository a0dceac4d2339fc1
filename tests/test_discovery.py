"""zeroconf with real multicast between two network namespaces (issue 14): a label printer
advertised in one appears on the Devices page of a station serving in the other, which is heard
of there in turn, and one touch puts the printer in the station's config.

Two namespaces joined by a veth pair (iproute2, as root): mDNS goes over a real link between
two separate network stacks, as on a LAN — loopback would not show that the station speaks on
its LAN address only, nor that multicast leaves the machine's stack at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2"),
]

PRINTER_NS, STATION_NS = f"sd-printer-{os.getpid()}", f"sd-station-{os.getpid()}"
PRINTER_IP, STATION_IP = "10.213.0.1", "10.213.0.2"
#: The veth pair is made in this machine's namespace first: named per test run (15 bytes).
VETH_P, VETH_S = f"sdp{os.getpid()}"[:15], f"sds{os.getpid()}"[:15]

PRINTER = textwrap.dedent(
    f"""
    import socket, sys, time
    from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, Zeroconf
    zc = Zeroconf(interfaces=["{PRINTER_IP}"], ip_version=IPVersion.V4Only)
    zc.register_service(ServiceInfo(
        "_pdl-datastream._tcp.local.", "Zebra ZD421._pdl-datastream._tcp.local.",
        addresses=[socket.inet_aton("{PRINTER_IP}")], port=9100,
        properties={{"ty": "Zebra ZD421"}}, server="zd421.local."))
    class Heard:
        def add_service(self, zc, type_, name):
            info = zc.get_service_info(type_, name, timeout=3000)
            txt = {{k.decode(): (v or b"").decode() for k, v in (info.properties or {{}}).items()}}
            print("station", name, txt.get("station"), txt.get("version"), flush=True)
        update_service = add_service
        def remove_service(self, *a):
            pass
    ServiceBrowser(zc, "_stationd._tcp.local.", Heard())
    print("advertising", flush=True)
    sys.stdin.read()
    zc.close()
    """
)

CLIENT = textwrap.dedent(
    """
    import http.cookiejar, re, sys, urllib.parse, urllib.request
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = "http://127.0.0.1:" + sys.argv[1]
    page = opener.open(base + "/devices", timeout=10).read().decode()
    if len(sys.argv) == 2:
        print(page)
        sys.exit()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    form = urllib.parse.urlencode(
        {"csrf_token": token, "printer": sys.argv[2], "role": sys.argv[3]}).encode()
    request = urllib.request.Request(base + "/devices/network/use", data=form)
    request.add_header("Origin", base)
    print(opener.open(request, timeout=10).read().decode())
    """
)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def two_hosts() -> Iterator[None]:
    ip("netns", "add", PRINTER_NS)
    ip("netns", "add", STATION_NS)
    try:
        ip("link", "add", VETH_P, "type", "veth", "peer", "name", VETH_S)
        ip("link", "set", VETH_P, "netns", PRINTER_NS)
        ip("link", "set", VETH_S, "netns", STATION_NS)
        for ns, dev, addr in (
            (PRINTER_NS, VETH_P, PRINTER_IP),
            (STATION_NS, VETH_S, STATION_IP),
        ):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield
    finally:
        ip("netns", "del", PRINTER_NS)  # takes the veth pair with it
        ip("netns", "del", STATION_NS)


def in_ns(ns: str, *command: str, **kwargs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    return subprocess.Popen(["ip", "netns", "exec", ns, *command], text=True, **kwargs)


def test_a_printer_advertised_in_one_namespace_shows_on_the_devices_page_in_the_other(
    two_hosts, tmp_path: Path
) -> None:
    (tmp_path / "printer.py").write_text(PRINTER)
    (tmp_path / "client.py").write_text(CLIENT)
    config = tmp_path / "stationd.toml"
    config.write_text(
        "# the station of the namespace test\n"
        f'[station]\nname = "bench-ns"\nlanguage = "en"\nstate_dir = "{tmp_path / "state"}"\n\n'
        "[kiosk]\nport = 8080\n\n[discovery]\nenabled = true\n\n"
        '[print]\nreceipt = ""\n'
    )
    printer = in_ns(
        PRINTER_NS,
        sys.executable,
        str(tmp_path / "printer.py"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    station = in_ns(
        STATION_NS,
        sys.executable,
        "-m",
        "stationd",
        "--config",
        str(config),
        "serve",
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        assert printer.stdout.readline().strip() == "advertising"
        deadline, page = time.monotonic() + 30, ""
        while time.monotonic() < deadline:
            shown = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    STATION_NS,
                    sys.executable,
                    str(tmp_path / "client.py"),
                    "8080",
                ],
                capture_output=True,
                text=True,
            )
            page = shown.stdout
            if "Zebra ZD421" in page and "10.213.0.1:9100" in page:
                break
            time.sleep(0.5)
        else:
            pytest.fail(
                f"the printer never showed: {page[-2000:]}\n"
                + (tmp_path / "serve.log").read_text()[-3000:]
            )
        assert "Use as label printer" in page
        # The station is heard of in the printer's namespace, with its TXT record.
        heard = printer.stdout.readline().split()
        assert heard[0] == "station" and heard[-2:] == ["bench-ns", "0.1.0"], heard

        used = subprocess.run(
            [
                *("ip", "netns", "exec", STATION_NS, sys.executable, str(tmp_path / "client.py")),
                *("8080", "Zebra ZD421", "label"),
            ],
            capture_output=True,
            text=True,
        )
        assert "restart the station" in used.stdout, used.stdout + used.stderr
        written = config.read_text()
        assert written.startswith("# the station of the namespace test\n")  # kept as written
        data = tomllib.loads(written)
        assert data["print"] == {"receipt": "", "label": "label"}
        assert data["printers"] == [
            {
                "name": "label",
                "kind": "zpl",
                "transport": "network",
                "host": PRINTER_IP,
                "port": 9100,
            }
        ]
    finally:
        station.terminate()
        printer.stdin.close()
        printer.terminate()
        station.wait(timeout=30)
        printer.wait(timeout=30)
