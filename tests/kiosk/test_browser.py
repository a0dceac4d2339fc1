"""A new user's path in a real browser: `stationd demo` in its own process, headless Chromium
(Debian's package) opens the station's address and lands on the outbound queue.

Screenshots at the touchscreen's 800×480 go to test-artifacts/ (the README's pictures).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def browser(*args: str, profile: Path) -> str:
    """Run headless Chromium once with the flags this closed network needs."""
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[str, Path]:
    state = tmp_path_factory.mktemp("demo")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stationd", "demo", "--state-dir", str(state), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"stationd demo exited: {proc.stdout.read()}")
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("stationd demo did not start listening within 60 s")
    yield f"http://127.0.0.1:{port}", state
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "Traceback" not in output


def test_demo_leads_to_the_queue_page_in_a_browser(demo, tmp_path):
    url, _ = demo
    dom = browser("--dump-dom", url + "/", profile=tmp_path / "profile")
    assert "<title>Outbound queue" in dom
    assert dom.count('id="order-') >= 50
    assert "order(s) to pack" in dom


@pytest.mark.parametrize("page", ["queue", "bench"])
def test_screenshot_at_the_touchscreen_size(demo, tmp_path, page):
    url, state = demo
    if page == "bench":  # a packer opened the oldest order in the queue and packed one item
        db = sqlite3.connect(state / "stationd.sqlite")
        first = db.execute(
            "SELECT id FROM orders WHERE status = 'packing' AND NOT waiting AND id NOT IN "
            "(SELECT order_id FROM deliveries) ORDER BY placed_at LIMIT 1"
        ).fetchone()[0]
        gtin = db.execute(
            "SELECT gtin FROM order_lines WHERE order_id = ? ORDER BY position", (first,)
        ).fetchone()[0]
        db.close()
        with open(state / "scan.fifo", "w") as pipe:
            pipe.write(f"ORD-{first}\n{gtin[1:]}\n")
        time.sleep(1.0)
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{page}-800x480.png"
    target.unlink(missing_ok=True)
    browser(
        "--window-size=800,480",
        f"--screenshot={target}",
        f"{url}/{page}",
        profile=tmp_path / "profile",
    )
    assert target.exists() and target.stat().st_size > 5_000
    dom = browser("--dump-dom", f"{url}/{page}", profile=tmp_path / "profile")
    assert ("Packed " if page == "bench" else "order(s) to pack") in dom
