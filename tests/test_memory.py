"""Issue 10 item 11: `serve` caps glibc's malloc arenas, so runs in new threads do not each keep
an arena of their own (serve grew 75 → 431 MB over seven 100k pack-script runs without it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from stationd.memory import ARENAS

# Six threads alive at once, each allocating from the C heap (objects over 512 bytes skip
# Python's own allocator), then glibc's own account of its arenas (malloc_info's <heap>s).
_COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    if sys.argv[1] == "capped":
        from stationd.memory import limit_malloc_arenas
        assert limit_malloc_arenas()
    barrier = threading.Barrier(7)
    def work():
        held = [bytearray(20_000) for _ in range(20)]
        barrier.wait()
        barrier.wait()
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    barrier.wait()
    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    with tempfile.NamedTemporaryFile("r") as out:
        fp = libc.fopen(out.name.encode(), b"w")
        libc.malloc_info(0, ctypes.c_void_p(fp))
        libc.fclose(ctypes.c_void_p(fp))
        print(out.read().count("<heap nr="))
    barrier.wait()
    for t in threads:
        t.join()
    """
)


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_ARENAS, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_issue10_threads_share_the_capped_malloc_arenas() -> None:
    assert _arenas("plain") > ARENAS  # glibc's own default: an arena per thread, here up to 7
    assert _arenas("capped") == ARENAS
