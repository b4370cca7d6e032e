"""Benchmark: `python -m bench --requests 1000000,10000000 [--json]` — cold start, warm page views, peak RSS, storage.

Demo databases are built once with core.demo.generate (seed 7, fixed now) and kept in data/bench/<N>.db.
Each size is measured in a fresh subprocess so cold start and peak memory are those of a new server.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "data" / "bench"
SEED = 7
DAYS = 45
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
# Pages are measured at a time that is not on the hour, as a viewer's clock usually is: the hours cut by
# the window's edges (core.domain.timewindow.Window.cut_hours) are then read from the raw rows.
PAGE_NOW = NOW + dt.timedelta(minutes=37)
RUNS = 7


def db_path(requests: int) -> Path:
    return BENCH_DIR / f"{requests}.db"


def build(requests: int, *, quiet: bool = False) -> Path:
    """The demo database of this size, generated once (into a temporary name, renamed when complete)."""
    from core import demo
    from core.storage import models

    path = db_path(requests)
    if path.exists():
        return path
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for leftover in BENCH_DIR.glob(partial.name + "*"):
        leftover.unlink()
    engine = models.make_engine(f"sqlite:///{partial}")
    models.init_db(engine)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if not quiet:
            print(f"\rbuilding {path.name}: {done:,}/{total:,} ({time.perf_counter() - started:.0f} s)", end="", file=sys.stderr, flush=True)

    demo.generate(engine, requests=requests, days=DAYS, seed=SEED, now=NOW, progress=progress, workers=min(4, os.cpu_count() or 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    if not quiet:
        print(file=sys.stderr)
    partial.rename(path)
    return path


def _median_ms(fn, runs: int = RUNS, *, first: dict | None = None, name: str = "") -> float:
    """The median of `runs` calls; the first call's time also goes into `first[name]` when given (the view that
    makes what the cache then keeps for the hour: core.storage.cache.scoped, `summed`)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    if first is not None:
        first[name] = round(times[0], 1)
    return round(statistics.median(times), 1)


def measure(path: Path, started: float) -> dict:
    """Runs inside a fresh process: cold start to the first dashboard, then warm page views, each the
    page model the app renders (core.present), at a `now` that is not on the hour (two cut hours)."""
    import resource

    os.environ["CLIENTELE_CACHE_DIR"] = "off"  # the cold start measured is the full load (no snapshot: cache.snapshot)
    from core.domain.scope import Scope
    from core.domain.timewindow import window
    from core.present.customers import customers_page
    from core.present.error_groups import error_groups_page
    from core.present.home import home_page
    from core.present.my_dashboard import my_dashboard
    from core.present.profile import profile_page
    from core.present.usage import usage_table
    from core.storage import cache, models
    from core.storage.request_log import HistoryQuery, request_history

    engine = models.make_engine(f"sqlite:///{path}")
    admin = Scope.workspace()
    win = window("30d", PAGE_NOW)
    apis = cache.visible_apis(engine, admin)
    busiest = max(apis, key=lambda a: int(cache.facts_frame(engine, admin, win, api_id=a["api_id"]).get_column("requests").sum()))["api_id"]

    def dashboard():
        return customers_page(engine, admin, busiest, win, quiet_min_requests=20)

    shown = time.perf_counter()
    listed = dashboard().customers
    cold_dashboard_ms = (time.perf_counter() - shown) * 1000
    cold_start_s = round(time.perf_counter() - started, 2)
    ids = listed.get_column("customer_id")
    picks = {"busiest": ids[0], "median": ids[ids.len() // 2]}

    def profile(customer_id):
        return lambda: profile_page(engine, admin, customer_id, win)

    def customer_view(customer_id):
        return lambda: my_dashboard(engine, Scope.customer(customer_id), None, win)

    first: dict[str, float] = {"customer_dashboard": round(cold_dashboard_ms, 1)}  # the first view of each page
    page_view_ms = {
        "customer_dashboard": _median_ms(dashboard),
        "customer_profile": _median_ms(profile(picks["busiest"]), first=first, name="customer_profile"),
        "customer_view": _median_ms(customer_view(picks["busiest"]), first=first, name="customer_view"),
        "customer_profile_median_customer": _median_ms(profile(picks["median"]), first=first, name="customer_profile_median_customer"),
        "customer_view_median_customer": _median_ms(customer_view(picks["median"]), first=first, name="customer_view_median_customer"),
        # The Errors page's groups: every API's newest failed requests of the window, read from SQL each time.
        "errors_all_apis": _median_ms(lambda: error_groups_page(engine, admin, win)),
    }
    peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # as measured before the pages below
    # Home of every API; the Requests page's first page of every API (its exact total from the rollups); the Usage
    # page's month of every API (the month the window ends in).
    page_view_ms |= {
        "home_all_apis": _median_ms(lambda: home_page(engine, admin, win), first=first, name="home_all_apis"),
        "requests_all_apis": _median_ms(lambda: request_history(engine, admin, HistoryQuery(window=win))),
        "usage_month_all_apis": _median_ms(lambda: usage_table(engine, admin, f"{PAGE_NOW:%Y-%m}")),
    }
    info = cache.stats(engine)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM requests").scalar()
        rollup_rows = conn.exec_driver_sql("SELECT count(*) FROM rollup_hours").scalar()
        bin_rows = conn.exec_driver_sql("SELECT count(*) FROM rollup_load_bins").scalar()
    storage_bytes = sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file())
    return {
        "raw_requests": stored,
        "rollup_rows": rollup_rows,
        "rollup_bin_rows": bin_rows,
        "cold_start_s": cold_start_s,
        "page_view_ms": page_view_ms,
        "page_first_view_ms": first,
        "peak_rss_mb": peak_rss_mb,
        "peak_rss_mb_with_workspace_pages": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cache_mb": info["estimated_mb"],
        "cached_rollup_rows": info["rollup_rows"],
        "storage_mb": round(storage_bytes / 2**20, 1),
        "busiest_api_requests_30d": int(listed.get_column("requests").sum()),
        "busiest_customer_requests_30d": int(listed.get_column("requests")[0]),
    }


def _run_child(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench", "--measure", str(path)], cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"measuring {path.name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def run_size(requests: int, *, quiet: bool) -> dict:
    path = build(requests, quiet=quiet)
    result = _run_child(path)
    result["requests"] = requests
    result["bytes_per_request"] = round(result["storage_mb"] * 2**20 / requests) if requests else None
    return result


def _table(results: list[dict]) -> str:
    head = (f"{'requests':>12} {'cold start':>11} {'dashboard':>10} {'profile':>9} {'cust view':>10}"
            f" {'profile*':>9} {'view*':>7} {'errors':>9} {'peak RSS':>9} {'storage':>10} {'B/request':>10} {'rollup rows':>12}")
    lines = [head, "-" * len(head)]
    for r in results:
        p = r["page_view_ms"]
        lines.append(
            f"{r['requests']:>12,} {r['cold_start_s']:>9.2f} s {p['customer_dashboard']:>7.1f} ms"
            f" {p['customer_profile']:>6.1f} ms {p['customer_view']:>7.1f} ms {p['customer_profile_median_customer']:>6.1f} ms"
            f" {p['customer_view_median_customer']:>4.1f} ms {p['errors_all_apis']:>6.0f} ms"
            f" {r['peak_rss_mb']:>6} MB {r['storage_mb']:>7.1f} MB {r['bytes_per_request']:>10,}"
            f" {r['rollup_rows']:>12,}"
        )
    lines.append("cold start: new process to the first Customers page model (rollups of settled hours read from SQLite).")
    lines.append(f"page views: median of {RUNS} warm runs of the page models (core.present), 30D window at {PAGE_NOW:%H:%M} UTC, busiest API;")
    lines.append("profile/view: busiest customer, *: median customer; errors: the Errors page's groups, all APIs (read from SQL).")
    lines.append("--json also has page_view_ms.home_all_apis, requests_all_apis (first page, 30D), usage_month_all_apis, and the")
    lines.append("peak RSS after them (peak_rss_mb_with_workspace_pages), and page_first_view_ms: the first view of each page")
    lines.append("(the dashboard's is in the cold start), which makes the sums of settled hours the others reuse that hour.")
    lines.append("storage: the SQLite file with its WAL.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", default="1000000", help="comma-separated database sizes, e.g. 1000000,10000000")
    parser.add_argument("--build-only", action="store_true", help="only build the demo databases")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # internal: one fresh process per measurement
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), started)))
        return 0
    try:
        sizes = [int(s.replace("_", "")) for s in args.requests.split(",") if s.strip()]
    except ValueError:
        parser.error("--requests takes whole numbers separated by commas, e.g. 1000000,10000000")
    if args.build_only:
        for n in sizes:
            build(n, quiet=args.json)
        return 0
    results = [run_size(n, quiet=args.json) for n in sizes]
    print(json.dumps({"results": results}, indent=2) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
