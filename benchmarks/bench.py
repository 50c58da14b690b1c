"""`make bench`: every benchmark of docs/performance.md in turn, each writing its own section.

Each runs as its own process (`benchmarks/<name>.py --write`), one after the other, so that
none shares the machine with another, with its default settings; `--only overhead
throughput` picks some.

    .venv/bin/python benchmarks/bench.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import ROOT, machine, write_section

# In the order of docs/performance.md. retrieval.py (20-30 minutes, nearly all of it
# embedding a corpus) runs on its own: `make bench-retrieval`.
BENCHMARKS = ("overhead", "throughput", "growth", "streams", "embedded", "distributed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = parser.parse_args()
    write_section("machine", f"Machine: {machine()}.")
    failed = []
    for name in args.only:
        started = time.monotonic()
        print(f"== {name}", file=sys.stderr, flush=True)
        command = [sys.executable, "-W", "ignore", str(ROOT / "benchmarks" / f"{name}.py")]
        done = subprocess.run([*command, "--write"], cwd=ROOT)
        print(f"== {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        if done.returncode:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
