"""What a person (or a CI log) sees while a sweep runs: a one-line bar on a terminal,
plain periodic lines otherwise, and one summary line at the end. Standard library only."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

__all__ = ["Progress", "ErrorDigest", "format_duration"]

_ORDER = ("completed", "agent_error", "timeout", "env_error")


def format_duration(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Counts results as they stream in. `update(result)` takes anything with an `outcome`
    (an Outcome or its string value) and optionally `passed`."""

    def __init__(self, total: int, quiet: bool = False, stream: TextIO | None = None, *, label: str = "",
                 interval_s: float = 10.0, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total = max(0, int(total))
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.interval_s = interval_s
        self.tty = _isatty(self.stream) if tty is None else tty
        self._clock = clock
        self.started = clock()
        self.done = 0
        self.passed = 0
        self.counts: dict[str, int] = {}
        self._last_draw = -1e9
        self._last_log = self.started
        self._last_log_done = 0
        self._width = 0
        self._closed = False

    # ------------------------------------------------------------------ feeding

    def update(self, result: Any) -> None:
        outcome = getattr(result, "outcome", result)
        key = getattr(outcome, "value", outcome)
        self.counts[str(key)] = self.counts.get(str(key), 0) + 1
        self.done += 1
        if getattr(result, "passed", False):
            self.passed += 1
        if self.quiet:
            return
        now = self._clock()
        if self.tty:
            if now - self._last_draw >= 0.1 or self.done == self.total:
                self._draw(now)
        elif self._due(now):
            self._log(now)

    def _due(self, now: float) -> bool:
        step = max(1, self.total // 10) if self.total else 0
        return (now - self._last_log >= self.interval_s
                or (step and self.done - self._last_log_done >= step and self.done < self.total))

    # ------------------------------------------------------------------ text

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    def rate(self, now: float | None = None) -> float:
        dt = (self._clock() if now is None else now) - self.started
        return self.done / dt if dt > 0 else 0.0

    def eta(self, now: float | None = None) -> float | None:
        r = self.rate(now)
        if r <= 0 or self.total <= self.done:
            return None
        return (self.total - self.done) / r

    def _counts_text(self, sep: str = " ") -> str:
        keys = [k for k in _ORDER if k in self.counts] + sorted(k for k in self.counts if k not in _ORDER)
        return sep.join(f"{k} {self.counts[k]}" for k in keys)

    def status_line(self, now: float | None = None) -> str:
        now = self._clock() if now is None else now
        pct = (100.0 * self.done / self.total) if self.total else 100.0
        eta = self.eta(now)
        parts = [f"{self.done}/{self.total} episodes ({pct:.0f}%)", f"{self.rate(now):.2f}/s",
                 "ETA " + (format_duration(eta) if eta is not None else "-")]
        counts = self._counts_text(", ")
        if counts:
            parts.append(counts)
        return (f"{self.label}: " if self.label else "") + ", ".join(parts)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        n = 24
        filled = int(n * self.done / self.total) if self.total else n
        bar = "#" * filled + "." * (n - filled)
        eta = self.eta(now)
        text = (f"{self.label + ' ' if self.label else ''}[{bar}] {self.done}/{self.total} "
                f"{self.rate(now):.1f} ep/s ETA {format_duration(eta) if eta is not None else '-'}  "
                f"{self._counts_text()}")
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def _log(self, now: float) -> None:
        self._last_log = now
        self._last_log_done = self.done
        self.stream.write(self.status_line(now) + "\n")
        self.stream.flush()

    def summary(self, where: str | None = None) -> str:
        failures = {k: v for k, v in self.counts.items() if k != "completed"}
        fail_text = ", ".join(f"{k} {failures[k]}" for k in
                              [k for k in _ORDER if k in failures] + sorted(k for k in failures if k not in _ORDER))
        head = (f"{self.label}: " if self.label else "")
        failed_checks = self.counts.get("completed", 0) - self.passed
        text = (f"{head}{self.done} episodes in {format_duration(self.elapsed)} ({self.rate():.2f}/s); "
                f"{self.passed} passed, {failed_checks} failed checks; failures: {fail_text or 'none'}")
        if self.done < self.total:
            text += f"; {self.total - self.done} not run"
        if where:
            text += f"; results: {where}"
        return text

    def close(self, where: str | None = None) -> None:
        """Print the final summary line (once)."""
        if self._closed:
            return
        self._closed = True
        if self.quiet:
            return
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
        self.stream.write(self.summary(where) + "\n")
        self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ErrorDigest:
    """The first error of each distinct kind in a stream of results. A kind is the outcome plus
    the error's signature (exception type and last frame, `contract.results.error_signature`), so
    24 cases that fail on one typo print once, with a count."""

    TAIL = 6  # traceback lines shown; the rest is one command away

    def __init__(self) -> None:
        self.kinds: dict[tuple[str, str], list] = {}  # (outcome, signature) -> [count, first result]

    def add(self, result: Any) -> None:
        from simtest.contract.results import error_signature

        outcome = str(getattr(result.outcome, "value", result.outcome))
        if outcome not in ("env_error", "agent_error") or not result.error:
            return
        key = (outcome, error_signature(result.error))
        if key in self.kinds:
            self.kinds[key][0] += 1
        else:
            self.kinds[key] = [1, result]

    def lines(self, see_rest: Callable[[Any], str]) -> list[str]:
        """What `run` and `gate` print: per kind a headline, the traceback tail and `see_rest(result)`."""
        out: list[str] = []
        for (outcome, sig), (count, first) in self.kinds.items():
            kind = " (configuration: not retried)" if getattr(first, "error_kind", "") else ""
            out.append(f"{outcome} in {count} case{'s' if count != 1 else ''}{kind}: {sig}")
            text = [ln for ln in first.error.rstrip().splitlines() if ln.strip()]
            shown = text[-self.TAIL:]
            if len(text) > len(shown):
                out.append("    ...")
            out.extend("    " + ln for ln in shown)
            out.append(f"  see the rest: {see_rest(first)}")
        return out


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
