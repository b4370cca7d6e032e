"""Page render times under concurrency: `python -m bench.sessions [--requests 1000000] [--sessions 10] [--rounds 3]`.

Runs N AppTest sessions at once in threads (alternating Admin and Customer, logged in through the real
login form) on the demo database that `python -m bench` builds; each visits every page of its role
`rounds` times. Prints the median and p95 render time per page and the total wall time.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import threading
import time

from bench.__main__ import NOW, ROOT, build
from bench.pages import PASSWORD, USERS, _ensure_users


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _session(role: str, busiest: str, rounds: int, out: list[tuple[str, str, float]], failures: list[str]) -> None:
    from streamlit.testing.v1 import AppTest

    from ui import nav

    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.run()
        fields = {t.label: t for t in at.text_input}
        fields["Email"].input(USERS[role])
        fields["Password"].input(PASSWORD)
        next(b for b in at.button if b.label == "Log in").click()
        at.run()
        if at.exception or not at.sidebar:
            failures.append(f"login as {role} failed: {[e.value for e in at.exception] or [e.value for e in at.error]}")
            return
        for _ in range(rounds):
            for spec in nav.specs_for(role):
                if spec.path.endswith("customer_profile.py"):
                    at.query_params["customer"] = busiest
                started = time.perf_counter()
                at.switch_page(str(ROOT / spec.path)).run()
                elapsed = time.perf_counter() - started
                if at.exception:
                    failures.append(f"{spec.path} as {role} raised: {[e.value for e in at.exception]}")
                    return
                out.append((role, spec.title, elapsed))
    except Exception as exc:  # a failing session must not hang the others' join; report it instead
        failures.append(f"{role} session: {exc!r}")


def measure(requests: int, sessions: int, rounds: int) -> tuple[list[dict], float]:
    path = build(requests)
    db_url = f"sqlite:///{path}"
    os.environ.update(DATABASE_URL=db_url, CLIENTELE_NOW=NOW.isoformat(),
                      CLIENTELE_COOKIE_KEY=os.environ.get("CLIENTELE_COOKIE_KEY") or secrets.token_urlsafe(48))
    busiest = _ensure_users(db_url)
    samples: list[tuple[str, str, float]] = []
    failures: list[str] = []
    roles = ["admin" if i % 2 == 0 else "customer" for i in range(sessions)]
    threads = [threading.Thread(target=_session, args=(role, busiest, rounds, samples, failures)) for role in roles]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall_s = time.perf_counter() - started
    if failures:
        raise SystemExit("\n".join(failures))
    grouped: dict[tuple[str, str], list[float]] = {}
    for role, page, seconds in samples:
        grouped.setdefault((role, page), []).append(seconds)
    rows = [{"role": role, "page": page, "n": len(v), "median_s": statistics.median(v), "p95_s": _p95(v)}
            for (role, page), v in grouped.items()]
    return rows, wall_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.rounds < 1:
        parser.error("--sessions and --rounds must be at least 1")
    rows, wall_s = measure(args.requests, args.sessions, args.rounds)
    print(f"page render times with {args.sessions} concurrent sessions × {args.rounds} rounds on the "
          f"{args.requests:,}-request demo database (AppTest in threads, 7D default window)")
    print(f"{'role':<10}{'page':<20}{'visits':>8}{'median':>12}{'p95':>12}")
    for r in rows:
        print(f"{r['role']:<10}{r['page']:<20}{r['n']:>8}{r['median_s']:>10.2f} s{r['p95_s']:>10.2f} s")
    print(f"total wall time {wall_s:.1f} s (logins included); first visits include the cache's cold start")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
