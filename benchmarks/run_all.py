"""Run every benchmark in turn (`make bench`); each prints its own measured ratios. Record the
figures in benchmarks/README.md with the machine they ran on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_compare.py", "bench_regions.py", "bench_adaptive.py", "bench_recsys.py", "bench_throughput.py",
           "bench_driver_memory.py", "bench_search.py", "bench_gate_power.py"]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        print(f"\n=== {name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / name)], cwd=HERE.parent)
        print(f"=== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
