"""`stationd demo` in its own process, as a new user starts it: for the browser tests and the
kiosk benchmark."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoProcess:
    """A running `stationd demo` on a free loopback port with its own state directory."""

    def __init__(self, state_dir: Path, *extra: str) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stationd",
                "demo",
                "--state-dir",
                str(state_dir),
                "--port",
                str(self.port),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_listening(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"stationd demo exited: {self.proc.stdout.read()}") from None
                time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError(f"stationd demo did not listen within {timeout_s} s")

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as systemd stops it; the exit code and everything it printed."""
        self.proc.send_signal(signal.SIGTERM)
        output, _ = self.proc.communicate(timeout=30)
        return self.proc.returncode, output
