"""A test-only `simtest` driver for the object-store tests: `python child_driver.py run --suite ...`
is `simtest run ...` with the store patched, so that what the tests need happens at a fixed point
instead of at a moment chosen by timing. Controlled by environment variables:

  SIMTEST_TEST_FLUSH_ROWS=N      commit a chunk every N results (instead of every 1,000 or 2 s)
  SIMTEST_TEST_BARRIER=DIR:ME:OTHER
                                 before writing its first chunk, create DIR/ME and wait (at most
                                 60 s) until DIR/OTHER exists: two drivers are then both mid-run
  SIMTEST_TEST_KILL=published:K  SIGKILL itself right after the K-th chunk object is published,
                                 before the manifest lists it
  SIMTEST_TEST_KILL=torn:K       SIGKILL itself halfway through writing the K-th chunk object (the
                                 output stream is open and never closed)

Not a simtest feature: it lives in tests/ and only wraps `simtest.execution.store._Files`."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from simtest.execution import store

_flush = int(os.environ.get("SIMTEST_TEST_FLUSH_ROWS", "0"))
_kill = os.environ.get("SIMTEST_TEST_KILL", "")
_barrier = os.environ.get("SIMTEST_TEST_BARRIER", "")
_chunks_started = 0

if _flush:
    _writer = store.Run.writer
    store.Run.writer = lambda self, flush_rows=1000, flush_s=2.0: _writer(self, flush_rows=_flush, flush_s=3600.0)

_write_atomic = store._Files.write_atomic


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def write_atomic(self, path: str, data: bytes) -> None:
    global _chunks_started
    if f"/{store.CHUNKS}/" not in path:
        return _write_atomic(self, path, data)
    _chunks_started += 1
    if _barrier and _chunks_started == 1:
        folder, me, other = _barrier.split(":")
        Path(folder, me).touch()
        deadline = time.monotonic() + 60
        while not Path(folder, other).exists():
            if time.monotonic() > deadline:
                sys.exit(f"child_driver: {other} never reached its first chunk")
            time.sleep(0.02)
    if _kill:
        mode, at = _kill.split(":")
        if _chunks_started == int(at):
            if mode == "torn":
                assert not self.local, "the torn-write kill point is for object stores"
                out = self.fs.open_output_stream(path)
                out.write(data[: len(data) // 2])
                _die()
            assert mode == "published", mode
            _write_atomic(self, path, data)
            _die()
    return _write_atomic(self, path, data)


store._Files.write_atomic = write_atomic

if __name__ == "__main__":
    from simtest.cli import main

    sys.exit(main(sys.argv[1:]))
