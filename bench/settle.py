"""Hours settling in a running app: `python -m bench.settle [--requests 10000000] [--hours 4] [--json]`.

Loads the cache of the bench's demo database (built by `python -m bench`, seed 7) as an app process started
`--hours` before the data's end would, then moves the cache's clock on one hour at a time: each step is the
refresh that takes the newly settled hour into the app's copy of the rollups. Prints each step's time and the
process's resident memory after it and at its peak (one process: run it alone).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from bench.__main__ import NOW, build

HOUR = dt.timedelta(hours=1)


def _memory_mb() -> tuple[int, int]:
    """(resident, peak resident) of this process, in MB."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith(("VmRSS", "VmHWM")))
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def measure(requests: int, hours: int) -> dict:
    from core.storage import cache, models, rollups

    engine = models.make_engine(f"sqlite:///{build(requests)}")
    clock = [NOW - hours * HOUR]
    rollups.utcnow = lambda: clock[0]  # the clock the cache settles hours by (core.storage.rollups.settled_before)
    started = time.perf_counter()
    cache.refresh(engine)
    loaded = {"load_s": round(time.perf_counter() - started, 2), "rss_mb": _memory_mb()[0], "rows": cache.stats(engine)["rollup_rows"]}
    steps = []
    for _ in range(hours):
        clock[0] += HOUR
        started = time.perf_counter()
        cache.refresh(engine)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        rss, peak = _memory_mb()
        steps.append({"settled": cache.stats(engine)["settled"].isoformat(), "ms": elapsed_ms, "rss_mb": rss, "peak_rss_mb": peak})
    info = cache.stats(engine)
    return {"requests": requests, "load": loaded, "steps": steps, "loads": info["loads"], "appends": info["appends"],
            "rollup_rows": info["rollup_rows"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.settle", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--hours", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.requests, args.hours)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    load = result["load"]
    print(f"{args.requests:,} requests: loaded {load['rows']:,} rollup rows in {load['load_s']} s, resident {load['rss_mb']} MB")
    print(f"{'hour settled (UTC)':<28}{'refresh':>10}{'resident':>11}{'peak':>9}")
    for step in result["steps"]:
        print(f"{step['settled']:<28}{step['ms']:>7.1f} ms{step['rss_mb']:>8} MB{step['peak_rss_mb']:>6} MB")
    print(f"loads {result['loads']}, appends {result['appends']}, rollup rows held {result['rollup_rows']:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
