"""A local HTTP server that answers as Fiken's API v2 documentation says (see the docstring of
stationd/accounting/fiken.py), for the accounting adapter's tests.

`POST /companies/{slug}/sales` makes a sale (201, a `Location` header, an empty body);
`GET /companies/{slug}/sales?saleNumber=` lists the sales of that number. A bearer token is
required (401 otherwise). The server keeps a log of the sales it made — what the tests count —
and takes faults for its next POST: ``"429"`` (refused, `Retry-After`), ``"500"`` (refused,
nothing made), ``"timeout"`` (made, then no answer until the test ends: past the client's
timeout), ``"stall"`` (made, `stalled` set, then no answer until the test sets `release`: a
Fiken slow for as long as the test needs, the client's timeout set past it), ``"malformed"``
(made, answered 201 with a broken JSON body), ``"500-made"`` (made, then answered 500),
``"400"`` (refused as bad content). ``"ignore-filter"``: the look-up ignores `saleNumber` and
lists every sale, as an API that drops an unknown filter would.
``delay_s``: each sale made is answered that many seconds later (a send the station can be
killed in, after the sale exists). ``keep_doubles``: a second sale of one number is made too,
as an API that does not check would, so that counting the sales by number
(bench/outgoing_kills.py) shows a client that sent one record twice instead of the server
hiding it behind a 400.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from carrier_servers import CarrierServer

TOKEN = "fiken-token-do-not-log"
SLUG = "demo-butikk-as"


class FikenServer(CarrierServer):
    """The carriers' loopback server (its threads, fault queue, `answer`) speaking Fiken."""

    def __init__(self) -> None:
        super().__init__()
        self.sales: list[dict[str, Any]] = []
        self.ignore_filter = False
        self.keep_doubles = False
        self.delay_s = 0.0
        self.stalled = threading.Event()  # set once a "stall" fault holds its answer
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v2"

    def posts(self) -> int:
        return sum(1 for method, _ in self.requests if method == "POST")

    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        path = parts.path.removeprefix("/api/v2")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(req.headers.get("Content-Length") or 0)
        body = json.loads(req.rfile.read(length)) if length else None
        with self.lock:
            self.requests.append((method, path))
        if req.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.answer(
                req, 401, {"error": "unauthorized", "error_description": "Bad token"}
            )
        if path != f"/companies/{SLUG}/sales":
            return self.answer(req, 404, {"message": "Not found"})
        if method == "GET":
            with self.lock:
                found = [
                    s
                    for s in self.sales
                    if self.ignore_filter or s["saleNumber"] == query.get("saleNumber")
                ]
            return self.answer(req, 200, found)
        with self.lock:
            fault = self.faults.popleft() if self.faults else ""
        if fault == "429":
            return self.answer(
                req, 429, {"message": "Too many requests"}, {"Retry-After": self.retry_after}
            )
        if fault == "500":
            return self.answer(req, 500, {"message": "Internal error"})
        if fault == "400":
            return self.answer(req, 400, {"message": "lines[0].vatType: unknown value"})
        with self.lock:
            if not self.keep_doubles and any(
                s["saleNumber"] == body["saleNumber"] for s in self.sales
            ):
                # Fiken refuses a second sale of one number; a client that sends twice is wrong.
                return self.answer(req, 400, {"message": "saleNumber already used"})
            sale_id = 7000 + len(self.sales) + 1
            self.sales.append({**body, "saleId": sale_id})
        location = {"Location": f"{self.url}/companies/{SLUG}/sales/{sale_id}"}
        if self.delay_s:
            time.sleep(self.delay_s)
        if fault == "stall":
            self.stalled.set()
            self.release.wait(60)
            return self.answer(req, 201, b"", location)
        if fault == "timeout":
            self.release.wait(10)  # made; the client gave up long ago
            return self.answer(req, 201, b"", location)
        if fault == "malformed":
            return self.answer(req, 201, b'{"saleId": 7', location)
        if fault == "500-made":
            return self.answer(req, 500, {"message": "Internal error"})
        return self.answer(req, 201, b"", location)
