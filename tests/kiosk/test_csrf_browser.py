"""Issue 10's attacks on the kiosk, replayed in a real browser (Debian's Chromium): a page on the
same host at another port tosses a `stationd_csrf` cookie and posts the same value (it created an
own status and cancelled the open order before), and a PIN sign-in whose `next` is a path Chromium
reads as another site. Both must fail."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_support import open_page
from sqlalchemy import select

from stationd.events import ScanRead
from stationd.station import Station
from stationd.store.tables import own_statuses


@pytest.fixture
def running(make_station, make_shop):
    station = make_station(name="bench-1", served=True)
    shop = make_shop(station.store)
    shop.product("A", on_hand=5, number=1)
    shop.order([("A", 2)], status="packing", reserve=True, order_id=1042)
    station.start()
    try:
        yield station
    finally:
        station.stop()


@pytest.fixture
def attacker():
    """A page on 127.0.0.1 at another port: same host, same site, another origin."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.pages = pages  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def tossing_page(kiosk: str, action: str, fields: dict[str, str]) -> str:
    inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
    return f"""<!doctype html><html><body>
<form id="f" method="post" action="{kiosk}{action}">{inputs}
<input name="csrf_token" value="tossed"></form>
<script>
for (const path of ["/", "/settings", "/bench"]) {{
  document.cookie = "stationd_csrf=tossed; path=" + path;
}}
document.getElementById("f").submit();
</script></body></html>"""


def own_status_codes(station: Station) -> list[str]:
    with station.store.read() as conn:
        return list(conn.execute(select(own_statuses.c.code)).scalars())


def test_cookie_tossing_from_a_sibling_port_creates_nothing_and_cancels_nothing(
    running, attacker, browser
):
    running.bench.handle_scan(ScanRead("ORD-1042", None, "serial:gun"))
    assert running.bench.current_order().id == 1042
    attacker.pages["/status"] = tossing_page(
        running.url, "/settings/own-statuses", {"code": "EVIL", "name": "Evil"}
    )
    attacker.pages["/cancel"] = tossing_page(running.url, "/bench/command", {"command": "CANCEL"})
    # Not open_page: the refused posts are 403s the browser logs as errors, as they should be.
    context = browser.new_context(viewport={"width": 800, "height": 480})
    page = context.new_page()
    try:
        page.goto(running.url + "/bench")  # the packer's page: a real token in a real cookie
        for attack in ("/status", "/cancel"):
            with page.expect_navigation(url=running.url + "/**"):
                page.goto(attacker.url + attack)
            assert "another site" in page.inner_text("body")
    finally:
        context.close()
    assert "EVIL" not in own_status_codes(running)
    assert running.bench.current_order() is not None
    assert running.bench.current_order().id == 1042


def test_pin_sign_in_with_a_backslash_next_stays_on_the_station(running, browser):
    operator = running.operators.create("Anna", pin="4711")
    with open_page(browser) as page:
        page.goto(f"{running.url}/operators/signin?next=/%5Cexample.invalid/x")
        page.click(f'a[href*="/operators/signin/{operator.id}"], [hx-get*="/signin/{operator.id}"]')
        page.wait_for_selector("form.pinpad")
        for digit in "4711":
            page.click(f'form.pinpad [data-digit="{digit}"]')
        page.click("form.pinpad button[type=submit]")
        page.wait_for_function("() => !document.querySelector('form.pinpad')")
        page.wait_for_load_state()
        assert running.operators.current().name == "Anna"
        assert page.url.startswith(running.url + "/")
        assert "example.invalid" not in page.url
