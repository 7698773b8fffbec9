"""Deadlines per second: our calendar beside the `businesstimedelta` package, same run, same inputs.

10,000 random deadlines (Mo-Fr 08:00-18:00 Europe/Berlin, German public holidays, targets of
8-72 business hours, start instants spread over two years). Every result is checked to be
identical to the baseline's before anything is timed. Then our cost per deadline is measured
against the length of the target (hours to months), which must stay flat.

Usage: python benchmarks/calendar.py [--n 10000] [--repeat 5] [--seed 7]
Prints medians of --repeat runs and the ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `calendar`, which `holidays` imports: run as a
# script, its own folder would come first on sys.path and shadow it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import datetime as dt
import platform
import random
import statistics
import time

import holidays
import pytz
from businesstimedelta import BusinessTimeDelta, HolidayRule, Rules, WorkDayRule

from ledger.calendars import calendar_from_mapping

UTC = dt.UTC
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def workload(n: int, seed: int) -> list[tuple[dt.datetime, int]]:
    rng = random.Random(seed)
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    two_years = 2 * 365 * 24 * 3600
    return [
        (base + dt.timedelta(seconds=rng.randrange(two_years)), rng.randint(8, 72))
        for _ in range(n)
    ]


def baseline_rule(*, with_holidays: bool) -> Rules:
    tz = pytz.timezone("Europe/Berlin")
    rules = [
        WorkDayRule(
            start_time=dt.time(8), end_time=dt.time(18), working_days=[0, 1, 2, 3, 4], tz=tz
        )
    ]
    if with_holidays:
        rules.append(HolidayRule(holidays.country_holidays("DE", years=range(2024, 2029)), tz=tz))
    return Rules(rules)


def ours_calendar(*, with_holidays: bool):  # type: ignore[no-untyped-def]
    spec = {"timezone": "Europe/Berlin", "weekly": {d: [["08:00", "18:00"]] for d in WORKDAYS}}
    if with_holidays:
        spec["holiday_region"] = "DE"
    return calendar_from_mapping(spec)


def median_rate(fn, items, repeat: int) -> float:  # type: ignore[no-untyped-def]
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(items)
        rates.append(len(items) / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    items = workload(args.n, args.seed)
    hours = [dt.timedelta(hours=h) for h in range(73)]
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {python}")
    print(f"{args.n} deadlines, Mo-Fr 08-18 Europe/Berlin, targets 8-72 h, starts over 2 years")
    print(f"{'':42}{'ledger/s':>12}{'baseline/s':>12}{'ratio':>9}")
    cal = ours_calendar(with_holidays=True)
    for with_holidays in (True, False):
        cal = ours_calendar(with_holidays=with_holidays)
        rule = baseline_rule(with_holidays=with_holidays)

        def run_ours(batch, cal=cal):  # type: ignore[no-untyped-def]
            add = cal.add
            return [add(start, hours[h]) for start, h in batch]

        def run_baseline(batch, rule=rule):  # type: ignore[no-untyped-def]
            return [
                (start + BusinessTimeDelta(rule, hours=h)).astimezone(UTC) for start, h in batch
            ]

        mismatches = [
            (s, h, a, b)
            for (s, h), a, b in zip(items, run_ours(items), run_baseline(items), strict=True)
            if a != b
        ]
        if mismatches:
            for s, h, a, b in mismatches[:10]:
                print(f"MISMATCH start={s.isoformat()} hours={h}: ours {a} baseline {b}")
            print(f"{len(mismatches)} of {len(items)} results differ")
            return 1
        ours_rate = median_rate(run_ours, items, args.repeat)
        base_rate = median_rate(run_baseline, items, max(1, args.repeat // 2 + 1))
        label = "with DE holidays" if with_holidays else "without holidays"
        print(
            f"{label + ' (all results identical)':42}{ours_rate:>12,.0f}{base_rate:>12,.0f}"
            f"{ours_rate / base_rate:>8.1f}x"
        )
    print("goal: ratio >= 10x")
    cal = ours_calendar(with_holidays=True)

    print("\ncost against target length, DE holidays (10 h a day: 8000 h is about 3 years)")
    print(f"{'target':>12}{'deadlines/s':>14}{'us/deadline':>14}")
    rng = random.Random(args.seed + 1)
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    for target_hours in (8, 72, 500, 2_000, 8_000):
        target = dt.timedelta(hours=target_hours)
        starts = [
            base + dt.timedelta(seconds=rng.randrange(2 * 365 * 86400)) for _ in range(args.n)
        ]

        def run(batch, target=target):  # type: ignore[no-untyped-def]
            add = cal.add
            return [add(s, target) for s in batch]

        run(starts)  # warm the years this target reaches
        rate = median_rate(run, starts, args.repeat)
        label = f"{target_hours} h"
        print(f"{label:>12}{rate:>14,.0f}{1e6 / rate:>14.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
