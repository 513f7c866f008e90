"""Progress output: a redrawn bar on a terminal, periodic plain lines in CI logs, one summary."""

from __future__ import annotations

import io
from dataclasses import dataclass

from simtest.execution.progress import Progress, format_duration


@dataclass
class R:
    outcome: str
    passed: bool = False


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_plain_log_lines_every_tenth_and_a_summary_with_failures_by_outcome():
    out, clock = io.StringIO(), Clock()
    p = Progress(100, stream=out, label="toy@1", tty=False, clock=clock)
    for i in range(100):
        clock.t += 0.5
        outcome = "agent_error" if i % 25 == 0 else "completed"
        p.update(R(outcome, passed=outcome == "completed" and i % 2 == 0))
    p.close(where="/r/run")
    lines = out.getvalue().splitlines()
    assert len(lines) == 10  # 9 lines at 10 %, 20 %, ... 90 %, then the summary
    assert lines[0] == "toy@1: 10/100 episodes (10%), 2.00/s, ETA 45s, completed 9, agent_error 1"
    assert lines[-1] == ("toy@1: 100 episodes in 50s (2.00/s); 48 passed, 48 failed checks; "
                         "failures: agent_error 4; results: /r/run")


def test_plain_log_line_after_interval_even_without_ten_percent():
    out, clock = io.StringIO(), Clock()
    p = Progress(1000, stream=out, tty=False, clock=clock, interval_s=10)
    p.update(R("completed"))
    clock.t += 11
    p.update(R("timeout"))
    assert out.getvalue() == "2/1000 episodes (0%), 0.18/s, ETA 1h31m, completed 1, timeout 1\n"


def test_tty_redraws_one_line_and_clears_it_before_the_summary():
    out, clock = io.StringIO(), Clock()
    p = Progress(4, stream=out, tty=True, clock=clock)
    for o in ("completed", "env_error", "completed", "completed"):
        clock.t += 1
        p.update(R(o, passed=o == "completed"))
    p.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.count("\r") >= 5  # 4 redraws + the clear, one final line
    assert "[########################] 4/4 1.0 ep/s ETA -  completed 3 env_error 1" in text
    assert text.endswith("4 episodes in 4s (1.00/s); 3 passed, 0 failed checks; failures: env_error 1\n")


def test_quiet_prints_nothing():
    out = io.StringIO()
    p = Progress(3, quiet=True, stream=out, tty=False)
    p.update(R("completed"))
    p.close(where="x")
    assert out.getvalue() == "" and p.done == 1


def test_summary_counts_cases_that_never_ran():
    out, clock = io.StringIO(), Clock()
    p = Progress(5, stream=out, tty=False, clock=clock)
    clock.t += 2
    p.update(R("completed", passed=True))
    p.close()
    assert out.getvalue().splitlines()[-1] == ("1 episodes in 2s (0.50/s); 1 passed, 0 failed checks; "
                                               "failures: none; 4 not run")


def test_format_duration():
    assert [format_duration(s) for s in (0.4, 59, 61, 3599, 3600 * 5 + 120)] == ["0s", "59s", "1m01s", "59m59s", "5h02m"]
