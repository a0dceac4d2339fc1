"""A real PgBouncer in transaction mode in front of a PostgreSQL server, for the tests that
run the pack script and sync through a connection pooler: a client's transactions land on any
of the pool's server sessions, and a session goes on to other clients between them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from outgoing_servers import free_port
from sqlalchemy.engine import make_url

#: The pooler's server sessions: few, so that its clients share them between transactions.
POOL_SIZE = 2


@contextmanager
def pgbouncer_before(url: str, *, ignore_options: bool = False) -> Iterator[str]:
    """`url` through a PgBouncer of its own in transaction mode with `POOL_SIZE` server
    sessions: the URL to connect to. `ignore_options`: PgBouncer accepts the startup
    parameter `options` and drops it (`ignore_startup_parameters`), as an admin may set it up
    for clients that send it; else it refuses such a client, as it does unless told."""
    program = shutil.which("pgbouncer")
    if program is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("pgbouncer is not installed: under CI the pooler tests must run")
        pytest.skip("pgbouncer is not installed")
    parsed = make_url(url)
    folder = Path(tempfile.mkdtemp(prefix="stationd-pgbouncer-", dir="/tmp"))
    port = free_port()
    (folder / "users.txt").write_text(f'"{parsed.username}" ""\n')
    ignored = "ignore_startup_parameters = options\n" if ignore_options else ""
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={parsed.host} port={parsed.port or 5432}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder}/users.txt\n"
        f"pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\n{ignored}"
    )
    command = [program, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        for name in ("users.txt", "pgbouncer.ini"):
            shutil.chown(folder / name, "postgres", "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    bouncer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert bouncer.poll() is None, bouncer.stdout.read() if bouncer.stdout else ""
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "pgbouncer did not listen"
            time.sleep(0.02)
        yield parsed.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        bouncer.terminate()
        bouncer.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
