"""Start-up time of the `ledger` command beside the interpreter's floor, same run, same machine.

Each command runs --n times as a fresh process (output discarded); the runs take turns, one
of each command per round, so that a slow stretch of a shared machine falls on all alike.
Printed per command: the median wall time and the median CPU time (user + system of the
child) in milliseconds, and the slowest run's wall time. The floor is what any Python
command costs here: `python -c pass`, and the imports `ledger` cannot do without
(`import click, rich`; `rich.console, rich.table` to print a table).

`--ledger PATH` adds the same commands run by another `ledger` executable (e.g. main's
checkout, `/work/main/.venv/bin/ledger`), to compare before and after.

Usage: python benchmarks/startup.py [--n 20] [--ledger PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/calendar.py would shadow the standard library's calendar module (see its header).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import os
import platform
import resource
import statistics
import subprocess
import time

LEDGER_COMMANDS = (["--help"], ["terms", "show"], ["terms", "show", "--json"])


def run_once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `argv` (it must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    """Run every command --n times, in turns, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="runs of each command")
    parser.add_argument("--ledger", help="another `ledger` executable to run beside this one")
    args = parser.parse_args()

    python = sys.executable
    ledger = str(Path(python).parent / "ledger")
    cases: list[tuple[str, list[str]]] = [
        ("python -c pass", [python, "-c", "pass"]),
        ('python -c "import click, rich"', [python, "-c", "import click, rich"]),
        (
            'python -c "import click, rich.console, rich.table"',
            [python, "-c", "import click, rich.console, rich.table"],
        ),
    ]
    cases += [(f"ledger {' '.join(c)}", [ledger, *c]) for c in LEDGER_COMMANDS]
    if args.ledger:
        cases += [(f"{args.ledger} {' '.join(c)}", [args.ledger, *c]) for c in LEDGER_COMMANDS]

    os.environ.setdefault("LEDGER_LOG_LEVEL", "warning")
    for _, argv in cases:  # warm-up: the file cache and the bytecode
        run_once(argv)
    walls: dict[str, list[float]] = {name: [] for name, _ in cases}
    cpus: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(args.n):
        for name, argv in cases:
            wall, cpu = run_once(argv)
            walls[name].append(wall)
            cpus[name].append(cpu)

    print(
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; medians of {args.n} runs"
    )
    width = max(len(name) for name, _ in cases)
    print(f"{'command':<{width}}  {'wall ms':>8}  {'CPU ms':>7}  {'max wall ms':>11}")
    for name, _ in cases:
        print(
            f"{name:<{width}}  {statistics.median(walls[name]) * 1000:8.0f}  "
            f"{statistics.median(cpus[name]) * 1000:7.0f}  {max(walls[name]) * 1000:11.0f}"
        )


if __name__ == "__main__":
    main()
