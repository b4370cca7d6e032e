"""Page render times under concurrency: `python -m bench.sessions [--requests 1000000] [--sessions 10] [--rounds 3]`.

Runs N AppTest sessions at once in threads (alternating Admin and Customer, logged in through the real
login form) on the demo database that `python -m bench` builds; each visits every page of its role
`rounds` times. Prints the median and p95 render time per page and the wall time of all the visits.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import threading
import time

from bench.__main__ import NOW, ROOT, build
from bench.pages import USERS, _ensure_users, submit_login

_LOGIN_LOCK = threading.Lock()


def _share_runtime() -> None:
    """AppTest is not thread-safe: every run installs its own mock Runtime singleton and clears it when
    done, which breaks runs still going in other threads. Keep the last installed one visible instead;
    the app code itself (caches, engine, locks) then runs concurrently as on a server."""
    from streamlit.runtime import Runtime

    last: dict = {}

    def instance(cls):
        if cls._instance is not None:
            last["runtime"] = cls._instance
        if "runtime" not in last:
            raise RuntimeError("Runtime hasn't been created!")
        return last["runtime"]

    def exists(cls) -> bool:
        return cls._instance is not None or "runtime" in last

    Runtime.instance = classmethod(instance)
    Runtime.exists = classmethod(exists)
    # Likewise each run sets global.appTest for its duration only; one run ending must not unset it for the others.
    from streamlit import config
    from streamlit.testing.v1 import app_test

    config.set_option("global.appTest", True)
    app_test.patch_config_options = lambda options: contextlib.nullcontext()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _session(role: str, busiest: str, rounds: int, start: threading.Barrier, out: list[tuple[str, str, float]],
             failures: list[str]) -> None:
    from streamlit.testing.v1 import AppTest

    from ui import nav
    from ui.guard import IDENTITY_KEY

    try:
        # Logins one at a time, all before any page visit: a login run alongside other runs in AppTest
        # sometimes ends with no session and no error. Logins are not what is measured.
        with _LOGIN_LOCK:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
            at.run()
            submit_login(at, USERS[role])
            at.run()
        if at.exception or IDENTITY_KEY not in at.session_state:
            failures.append(f"login as {role} failed: {[e.value for e in at.exception] or [e.value for e in at.error]}"
                            f" {[t.value for t in at.title]}")
            start.abort()
            return
        start.wait()
        for _ in range(rounds):
            for spec in nav.specs_for(role):
                if spec.path.endswith("customer_profile.py"):
                    at.query_params["customer"] = busiest
                started = time.perf_counter()
                at.switch_page(str(ROOT / spec.path)).run()
                elapsed = time.perf_counter() - started
                if at.exception or not at.title:  # a run that rendered no page must not count as a fast one
                    shown = [e.value for e in at.exception] or [e.value for e in at.error]
                    failures.append(f"{spec.path} as {role} failed: {shown}")
                    return
                out.append((role, spec.title, elapsed))
    except threading.BrokenBarrierError:
        return  # another session's login failed; that failure is reported
    except Exception as exc:  # a failing session must not hang the others' join; report it instead
        start.abort()
        failures.append(f"{role} session: {exc!r}")


def measure(requests: int, sessions: int, rounds: int) -> tuple[list[dict], float]:
    path = build(requests)
    db_url = f"sqlite:///{path}"
    os.environ.update(DATABASE_URL=db_url, CLIENTELE_NOW=NOW.isoformat(),
                      CLIENTELE_COOKIE_KEY=os.environ.get("CLIENTELE_COOKIE_KEY") or secrets.token_urlsafe(48))
    busiest = _ensure_users(db_url)
    _share_runtime()
    samples: list[tuple[str, str, float]] = []
    failures: list[str] = []
    roles = ["admin" if i % 2 == 0 else "customer" for i in range(sessions)]
    # The last session to log in releases all of them at once and starts the clock.
    clock: dict[str, float] = {}
    start = threading.Barrier(sessions, action=lambda: clock.setdefault("start", time.perf_counter()))
    threads = [threading.Thread(target=_session, args=(role, busiest, rounds, start, samples, failures))
               for role in roles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall_s = time.perf_counter() - clock.get("start", time.perf_counter())
    if failures:
        raise SystemExit("\n".join(failures))
    grouped: dict[tuple[str, str], list[float]] = {}
    for role, page, seconds in samples:
        grouped.setdefault((role, page), []).append(seconds)
    rows = [{"role": role, "page": page, "n": len(v), "median_s": statistics.median(v), "p95_s": _p95(v)}
            for (role, page), v in sorted(grouped.items(), key=lambda kv: kv[0][0])]
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
    print(f"wall time of the page visits {wall_s:.1f} s (all sessions logged in first, one at a time; "
          "first visits include the cache's cold start)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
