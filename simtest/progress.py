"""Layer 5: progress of a long run. A single updating line with episodes/s, ETA and counts per
outcome on a terminal; a plain log line every ~10 s (or 10 %) otherwise, e.g. in CI logs."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, TextIO


class Progress:
    def __init__(self, total: int, *, quiet: bool = False, stream: TextIO = sys.stderr, label: str = "",
                 log_every_s: float = 10.0):
        self.total, self.quiet, self.stream, self.label = total, quiet, stream, label
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.log_every_s = log_every_s
        self.done = 0
        self.counts: Counter = Counter()
        self.t0 = time.monotonic()
        self._last_print = self.t0
        self._last_fraction = 0.0

    def update(self, result: Any) -> None:
        self.done += 1
        self.counts[result.outcome.value] += 1
        if not result.passed:
            self.counts["failed checks"] += result.outcome.value == "completed"
        if self.quiet:
            return
        now = time.monotonic()
        fraction = self.done / max(self.total, 1)
        if self.tty:
            if now - self._last_print > 0.1 or self.done == self.total:
                self.stream.write("\r" + self._line(now) + "\033[K")
                self.stream.flush()
                self._last_print = now
        elif now - self._last_print >= self.log_every_s or fraction - self._last_fraction >= 0.1:
            print(self._line(now), file=self.stream, flush=True)
            self._last_print, self._last_fraction = now, fraction

    def _line(self, now: float) -> str:
        elapsed = max(now - self.t0, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        counts = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()) if v)
        eta_s = f"{eta:,.0f}s" if eta != float("inf") else "?"
        return f"{self.label} [{bar}] {self.done}/{self.total} {rate:.1f} ep/s ETA {eta_s} {counts}".strip()

    def close(self, where: str = "") -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\n")
        elapsed = time.monotonic() - self.t0
        counts = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items()) if v) or "nothing run"
        print(f"{self.label}: {self.done} episodes in {elapsed:.1f} s ({counts})" + (f"; results in {where}" if where else ""),
              file=self.stream, flush=True)
