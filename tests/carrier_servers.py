"""Local HTTP servers that answer as nShift Delivery's and Shipmondo's documentation says
(see the docstrings of stationd/carriers/nshift.py and shipmondo.py), for the adapters' tests.

Each keeps a log of the bookings it made — what the tests count — and takes faults for its next
`POST /shipments`: ``"429"`` (refused, `Retry-After`), ``"500"`` (refused, nothing booked),
``"timeout"`` (booked, then no answer until the test ends: past the client's timeout),
``"malformed"`` (booked, answered with broken JSON), ``"pdf"`` (booked, its label the PDF in
`pdf_label`: by default a broken one no reader can open),
``"late"`` (taken, but booked only when the test sets `commit_late`: a carrier still working on
the request after the client gave up, so an early look-up finds nothing),
``"500-booked"`` (booked, then answered 500: a gateway that failed after the carrier committed),
``"bad-gzip"`` (booked, answered with a body that says gzip and is not),
``"hold"`` (taken, and booked only when another `POST /shipments` arrives or 3 s pass: two
clicks for one parcel racing each other).
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stationd.core.check_digits import gtin_check_digit

USER, KEY = "station-user", "s3cret-api-key-do-not-log"
#: A signed link's token, as a storage service puts in a document's URL: it must not be logged.
SIGNED = "signature=sig-do-not-log"
ZPL = b"^XA^FO50,50^A0N,40,40^FDCARRIER LABEL^FS^XZ"


def sscc(serial: int) -> str:
    """An SSCC with the right check digit, as a carrier's parcel number."""
    body = f"37332538{serial:09d}"
    return body + str(gtin_check_digit(body))


def shipping_settings(server: CarrierServer) -> dict[str, Any]:
    """A station's `[shipping]` pointed at `server` (its `kind`: "nshift" or "shipmondo"), with
    a short timeout so a test's "timeout" fault is over soon."""
    return {
        "carrier": server.kind,  # type: ignore[attr-defined]
        "api_url": server.url,
        "api_user": USER,
        "api_key": KEY,
        "service": "P19",
        "timeout_s": 0.5,
    }


class CarrierServer:
    """The common part: a threaded loopback server, Basic auth, the fault queue, the log."""

    #: The label the "pdf" fault hands out.
    pdf_label: bytes = b"%PDF-1.4 label"

    def __init__(self) -> None:
        self.bookings: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.faults: deque[str] = deque()
        self.retry_after = "1"
        self.release = threading.Event()  # ends the "timeout" fault's wait
        self.commit_late = threading.Event()  # lets the "late" fault book
        self.late_done = threading.Event()  # set once the "late" fault has booked
        self.another_post = threading.Event()  # ends the "hold" fault's wait
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self, "GET")

            def do_POST(self) -> None:
                server.handle(self, "POST")

            def do_DELETE(self) -> None:
                server.handle(self, "DELETE")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.commit_late.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- one request ---------------------------------------------------------------------------

    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        path = parts.path.removeprefix("/v1")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(req.headers.get("Content-Length") or 0)
        body = json.loads(req.rfile.read(length)) if length else None
        with self.lock:
            self.requests.append((method, path))
        expected = "Basic " + base64.b64encode(f"{USER}:{KEY}".encode()).decode()
        if req.headers.get("Authorization") != expected:
            return self.answer(req, 401, self.unauthorized())
        if method == "POST" and path == "/shipments":
            with self.lock:
                fault = self.faults.popleft() if self.faults else ""
            if fault == "hold":
                self.another_post.wait(3)
            else:
                self.another_post.set()
            if fault == "429":
                return self.answer(
                    req, 429, {"error": "Too many requests"}, {"Retry-After": self.retry_after}
                )
            if fault == "500":
                return self.answer(req, 500, {"error": "Internal error"})
            if fault == "late":
                self.commit_late.wait(10)
                with self.lock:
                    made = self.book(body, query, pdf=False)
                self.late_done.set()
                return self.answer(req, 201, made)
            with self.lock:
                made = self.book(body, query, pdf=fault == "pdf")
            if fault == "timeout":
                self.release.wait(10)  # booked; the client gave up long ago
                return self.answer(req, 201, made)
            if fault == "500-booked":
                return self.answer(req, 500, {"error": "Internal error"})
            if fault == "bad-gzip":
                return self.answer(req, 201, b"not gzip at all", {"Content-Encoding": "gzip"})
            if fault == "malformed":
                return self.answer(req, 201, b'{"id": 1, "parcels": [')
            return self.answer(req, 201, made)
        with self.lock:
            status, data = self.read(method, path, query)
        return self.answer(req, status, data)

    def answer(
        self,
        req: BaseHTTPRequestHandler,
        status: int,
        data: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                req.send_header(name, value)
            req.end_headers()
            req.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client left (it timed out): the booking stays in the log

    # -- what each provider does -----------------------------------------------------------------

    def unauthorized(self) -> Any:
        raise NotImplementedError

    def book(self, body: Any, query: dict[str, str], *, pdf: bool) -> Any:
        raise NotImplementedError

    def read(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        raise NotImplementedError


class FileServer:
    """A host of its own that hands out label documents (as a storage service behind a
    carrier's `href` would) and notes the headers of every request it gets."""

    def __init__(self, payload: bytes = ZPL) -> None:
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.headers.append(dict(self.headers.items()))
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class NShiftServer(CarrierServer):
    """nShift Delivery: `POST /shipments?returnFile=true`, the `GET /shipments?fetchId=` feed,
    `GET /shipments/{id}/prints`, `DELETE /shipments/{id}`. With `files` set, the answer's
    documents are links to that host instead of inline data."""

    files: FileServer | None = None
    #: When set, the feed answers as nShift does to calls made too fast: nothing, the same
    #: fetchId, and how many milliseconds to wait.
    min_delay_ms: int = 0

    def unauthorized(self) -> Any:
        return {"message": "Unauthorized"}

    def book(self, body: Any, query: dict[str, str], *, pdf: bool) -> Any:
        assert body["printConfig"]["target1Type"] == "zpl"
        shipment = body["shipment"]
        number = len(self.bookings) + 1
        label = self.pdf_label if pdf else ZPL + f"^FD{number}".encode()
        made = {
            "id": str(9000 + number),
            "shipmentNo": f"40{number:08d}",
            "orderNo": shipment["orderNo"],
            "reference": shipment["senderReference"],
            "parcels": [
                {"parcelNo": sscc(number * 10 + i)} for i, _ in enumerate(shipment["parcels"])
            ],
            "label": base64.b64encode(label).decode(),
            "deleted": False,
        }
        self.bookings.append(made)
        if self.files is not None:  # the documents behind a link on another host
            return [
                {k: v for k, v in made.items() if k not in ("label", "deleted")}
                | {
                    "prints": [
                        {"href": f"{self.files.url}/{number}?{SIGNED}", "description": "Label"}
                    ]
                }
            ]
        prints = [{"href": f"{self.url}/files/{number}", "description": "Label"}]
        if query.get("returnFile") == "true":
            prints[0]["data"] = made["label"]
        return [
            {k: v for k, v in made.items() if k not in ("label", "deleted")} | {"prints": prints}
        ]

    def read(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if method == "GET" and path == "/shipments":
            since = int(query.get("fetchId", "-1"))
            if self.min_delay_ms:
                answer = {"fetchId": str(since), "done": True, "shipments": []}
                return 200, answer | {"minDelay": self.min_delay_ms}
            if since < 0:
                return 200, {"fetchId": str(len(self.bookings)), "done": True, "shipments": []}
            new = self.bookings[since : since + 100]
            public = [{k: v for k, v in b.items() if k not in ("label", "deleted")} for b in new]
            done = since + len(new) >= len(self.bookings)
            return 200, {"fetchId": str(since + len(new)), "done": done, "shipments": public}
        if method == "GET" and path.endswith("/prints"):
            for made in self.bookings:
                if path == f"/shipments/{made['id']}/prints":
                    return 200, [{"description": "Label", "data": made["label"]}]
            return 404, {"message": "No such shipment"}
        if method == "DELETE":
            for made in self.bookings:
                if path == f"/shipments/{made['id']}":
                    made["deleted"] = True
                    return 204, b""
            return 404, {"message": "No such shipment"}
        return 404, {"message": "Not found"}


class ShipmondoServer(CarrierServer):
    """Shipmondo API v3: `POST /shipments`, `GET /shipments?reference=`,
    `GET /shipments/{id}/labels`."""

    def unauthorized(self) -> Any:
        return {"error": "Invalid API User or API Key"}

    def book(self, body: Any, query: dict[str, str], *, pdf: bool) -> Any:
        assert body["label_format"] == "10x19_zpl"
        number = len(self.bookings) + 1
        label = self.pdf_label if pdf else ZPL + f"^FD{number}".encode()
        parcels = [
            {"weight": p["weight"], "pkg_no": sscc(number * 10 + i)}
            for i, p in enumerate(body["parcels"])
        ]
        made = {
            "id": 5000 + number,
            "reference": body["reference"],
            "product_code": body["product_code"],
            "pkg_no": parcels[0]["pkg_no"],
            "parcels": parcels,
            "labels": [
                {"base64": base64.b64encode(label).decode(), "file_format": "pdf" if pdf else "zpl"}
            ],
        }
        self.bookings.append(made)
        return made

    def read(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if method == "GET" and path == "/shipments":
            found = [b for b in self.bookings if b["reference"] == query.get("reference")]
            return 200, [{k: v for k, v in b.items() if k != "labels"} for b in found]
        if method == "GET" and path.endswith("/labels"):
            for made in self.bookings:
                if path == f"/shipments/{made['id']}/labels":
                    return 200, made["labels"]
            return 404, {"error": "Not found"}
        return 404, {"error": "Not found"}
