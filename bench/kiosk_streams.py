"""Many open kiosk pages against one station (issue 10 item 4): do scans and pages still answer?

A real `stationd serve` runs in its own process with a serial scanner on a kernel pty. The
touchscreen's bench page is open from 127.0.0.1 (its stream read as htmx does). Then `--pages`
bench pages open "from the LAN" (source address 127.0.0.2): each opens the streams the page's
HTML asks for — two on the code before issue 10 item 4 (its own and /operators/events), one
after — and, refused (503) or dropped, tries again as htmx's SSE extension does (0.5, 1, 2 … 64 s).
With them open:

- scan_to_screen: a scan's last byte written to the pty → the touchscreen's stream shows the line
  with its new count;
- kiosk_post: the same code typed into the touchscreen's bench (htmx POST) → its answer;
- healthz: GET /healthz → its answer; page: GET /bench (a page load) → its answer;
- touchscreen_reopen: the touchscreen's page reloaded — its stream opened again → `: connected`.

A request that takes longer than `--timeout` counts as timed out (its figure is the timeout).
Each figure for the code at `--baseline` (a git worktree of it, made and removed here) and for
this tree, in the same sitting. The last line is one JSON object.

    .venv/bin/python bench/kiosk_streams.py [--pages 100] [--scans 200] [--baseline integ]
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kiosk_scans import ORDER_ID, BenchStream, csrf_token, start_station
from percentiles import percentile

REPO = Path(__file__).resolve().parents[1]
LAN = "127.0.0.2"


def page_streams(page: str) -> list[str]:
    """The stream URLs a browser opens for this page HTML: its `sse-connect`s and the
    `data-events` of scripts that opened their own (before), else the chip's `data-stream`
    (after); stream.js adds the chip's `op=` to a page's one stream."""
    urls = re.findall(r'(?:sse-connect|data-events)="([^"]+)"', page)
    if not urls:
        urls = re.findall(r'data-stream="([^"]+)"', page)
    op = re.search(r'id="operator-box"[^>]*data-op="(\d+)"', page)
    if op:
        urls = [
            u if "op=" in u else u + ("&" if "?" in u else "?") + f"op={op.group(1)}" for u in urls
        ]
    return [html.unescape(u) for u in urls]


class LanPages:
    """`count` pages' streams from the LAN address, held open by one selector thread; a stream
    refused or dropped is opened again after htmx's SSE extension's back-off."""

    def __init__(self, port: int, paths: list[str], count: int) -> None:
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.served = self.refused = 0
        self.retries: list[tuple[float, str, int]] = []  # (when, path, n) to open again
        self.lock = threading.Lock()
        for _ in range(count):
            for path in paths:
                self._open(path, 0)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self, path: str, n: int) -> None:
        sock = socket.socket()
        sock.bind((LAN, 0))
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", self.port))
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
        state = {"path": path, "n": n, "out": request.encode(), "head": b"", "status": None}
        self.selector.register(sock, selectors.EVENT_WRITE | selectors.EVENT_READ, state)

    def _again(self, sock: socket.socket, state: dict) -> None:
        self.selector.unregister(sock)
        sock.close()
        n = max(min(state["n"] * 2, 128), 1)
        self.retries.append((time.monotonic() + n * 0.5, state["path"], n))

    def _run(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic()
            due = [r for r in self.retries if r[0] <= now]
            self.retries = [r for r in self.retries if r[0] > now]
            for _when, path, n in due:
                self._open(path, n)
            for key, mask in self.selector.select(timeout=0.1):
                sock, state = key.fileobj, key.data
                try:
                    if mask & selectors.EVENT_WRITE and state["out"]:
                        sent = sock.send(state["out"])
                        state["out"] = state["out"][sent:]
                        if not state["out"]:
                            self.selector.modify(sock, selectors.EVENT_READ, state)
                        continue
                    data = sock.recv(65536)
                except OSError:
                    self._again(sock, state)
                    continue
                if not data:
                    self._again(sock, state)
                    continue
                if state["status"] is None:
                    state["head"] += data
                    if b"\r\n" in state["head"]:
                        state["status"] = int(state["head"].split(b" ", 2)[1])
                        with self.lock:
                            if state["status"] == 200:
                                self.served += 1
                            else:
                                self.refused += 1
                        if state["status"] != 200:
                            self._again(sock, state)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def timed_get(port: int, path: str, timeout: float, source: str = "127.0.0.1") -> float | None:
    """Milliseconds for GET `path` to come back whole; None when it took longer than `timeout`."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    start = time.perf_counter()
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        return (time.perf_counter() - start) * 1000
    except OSError:
        return None
    finally:
        conn.close()


def stream_opens(port: int, path: str, timeout: float) -> float | None:
    """Milliseconds for a stream of `path` to say `: connected`; None when it did not in time."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    start = time.perf_counter()
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        seen = b""
        while b": connected" not in seen:
            chunk = sock.recv(65536)
            if not chunk or b" 503 " in seen[:16]:
                return None
            seen += chunk
        return (time.perf_counter() - start) * 1000
    except OSError:
        return None
    finally:
        sock.close()


def figures(values: list[float | None], timeout: float, name: str) -> dict[str, float | int]:
    taken = [v if v is not None else timeout * 1000 for v in values]
    return {
        f"{name}_p50_ms": round(percentile(taken, 50), 2),
        f"{name}_p99_ms": round(percentile(taken, 99), 2),
        f"{name}_timeouts": sum(v is None for v in values),
    }


#: `stationd serve` of the tree given as argv[1]: the venv's editable install would otherwise
#: import this tree's stationd whatever PYTHONPATH says (its finder comes first).
SERVE_TREE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path.insert(0, sys.argv.pop(1))
from stationd.cli import main
sys.argv[0] = "stationd"
main()
"""


#: The shop, built by the tree's own store (its migrations): argv[1] tree, [2] folder, [3] items.
BUILD_SHOP = f"""
import json, sys
from pathlib import Path
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path.insert(0, sys.argv[1])
import stationd  # its modules come from the tree's package from now on
sys.path.insert(0, str(Path(sys.argv[1]) / "bench"))
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from kiosk_scans import build_shop
print(json.dumps(build_shop(Path(sys.argv[2]), int(sys.argv[3]))))
"""


def build_shop(tree: Path, state_dir: Path, items: int) -> tuple[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", BUILD_SHOP, str(tree), str(state_dir), str(items)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    code, line_id = json.loads(out.strip().splitlines()[-1])
    return code, line_id


def measure(tree: Path, pages: int, scans: int, rate: float, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="stationd-streams-bench-") as tmp:
        state_dir = Path(tmp)
        code, line_id = build_shop(tree, state_dir, 4 * scans)
        master, follower = os.openpty()
        tty.setraw(follower)
        serve_tree = [sys.executable, "-c", SERVE_TREE, str(tree)]
        proc, port = start_station(state_dir, os.ttyname(follower), serve_tree)
        lan = None
        try:
            time.sleep(1.0)  # the scanner opens its port
            screen = BenchStream(port, line_id)  # the touchscreen's page, open before the LAN's
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            conn.request("GET", "/bench")
            paths = page_streams(conn.getresponse().read().decode())
            token = csrf_token(conn)
            conn.close()
            lan = LanPages(port, paths, pages)
            time.sleep(3.0)  # the pages' streams open (and the refused ones back off)
            os.write(master, f"ORD-{ORDER_ID}\r".encode())
            screen.wait_for(0, timeout_s=10)
            serial: list[float | None] = []
            posts: list[float | None] = []
            health: list[float | None] = []
            loads: list[float | None] = []
            gap = 1.0 / rate
            packed = 0
            for n in range(scans):
                start = time.perf_counter()
                os.write(master, f"{code}\r".encode())
                packed += 1
                try:
                    serial.append((screen.wait_for(packed, timeout_s=timeout) - start) * 1000)
                except Exception:
                    serial.append(None)
                if n % 5 == 0:
                    health.append(timed_get(port, "/healthz", timeout))
                    loads.append(timed_get(port, "/bench", timeout))
                    took = post(port, code, token, timeout)
                    posts.append(took)
                    if took is not None:
                        packed += 1
                        with contextlib.suppress(Exception):
                            screen.wait_for(packed, timeout_s=timeout)
                if sum(v is None for v in health + posts) >= 6:
                    break  # it is locked up: enough of the same figure
                time.sleep(max(0.0, gap - (time.perf_counter() - start)))
            reopen = [stream_opens(port, "/events/bench?op=0", timeout) for _ in range(3)]
            result: dict[str, object] = {"pages": pages, "streams_per_page": len(paths)}
            result |= figures(serial, timeout, "scan_to_screen")
            result |= figures(posts, timeout, "kiosk_post")
            result |= figures(health, timeout, "healthz")
            result |= figures(loads, timeout, "page")
            result |= figures(reopen, timeout, "touchscreen_reopen")
            result |= {"lan_streams_served": lan.served, "lan_streams_refused": lan.refused}
            return result
        finally:
            if lan is not None:
                lan.close()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            os.close(master)
            os.close(follower)


def post(port: int, code: str, token: str, timeout: float) -> float | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "HX-Request": "true",
        "X-CSRF-Token": token,
        "Cookie": f"stationd_csrf={token}",
        "Origin": f"http://127.0.0.1:{port}",
    }
    start = time.perf_counter()
    try:
        conn.request("POST", "/bench/scan", body=urlencode({"code": code}), headers=headers)
        response = conn.getresponse()
        response.read()
        return (time.perf_counter() - start) * 1000 if response.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


@contextlib.contextmanager
def worktree(revision: str):  # type: ignore[no-untyped-def]
    path = Path(tempfile.mkdtemp(prefix="stationd-baseline-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), revision],
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--scans", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="scans a second")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds a request may take")
    parser.add_argument(
        "--baseline", default="integ", help="git revision to compare with ('' none)"
    )
    args = parser.parse_args()
    out: dict[str, object] = {}
    if args.baseline:
        with worktree(args.baseline) as tree:
            out["baseline"] = measure(tree, args.pages, args.scans, args.rate, args.timeout)
        out["baseline_revision"] = args.baseline
    out["this"] = measure(REPO, args.pages, args.scans, args.rate, args.timeout)
    for which in ("baseline", "this"):
        if which in out:
            print(which)
            for key, value in out[which].items():  # type: ignore[union-attr]
                print(f"  {key:>28}: {value}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
