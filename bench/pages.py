"""Page render times: `python -m bench.pages [--requests 1000000] [--runs 5]`.

Logs in through the real login form (Streamlit's AppTest, no browser) on the demo database that
`python -m bench` builds, opens every page of an Admin and of a Customer (the busiest customer), and
prints the first render and the median warm rerun of each page. Adds two bench users to that database.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time

import sqlalchemy as sa

from bench.__main__ import NOW, ROOT, build

PASSWORD = "bench pages passphrase"
USERS = {"admin": "bench-admin@example.com", "customer": "bench-customer@example.com"}


def _ensure_users(db_url: str) -> str:
    """Creates the bench users if missing; returns the busiest customer ID (the Customer's, and the profile shown)."""
    from core.auth import users
    from core.storage import models

    engine = models.make_engine(db_url)
    models.init_db(engine)
    with engine.connect() as conn:
        busiest = conn.execute(sa.text(
            "SELECT customer_id FROM requests WHERE customer_id IS NOT NULL GROUP BY customer_id ORDER BY count(*) DESC LIMIT 1"
        )).scalar_one()
    for role, email in USERS.items():
        if users.get_user_by_email(engine, email) is None:
            users.create_user(engine, email=email, name=f"Bench {role}", password=PASSWORD, role=role,
                             customer_id=busiest if role == "customer" else None)
    engine.dispose()
    return busiest


def submit_login(at, email: str) -> None:
    """Fill in and submit the real login form of an AppTest that has run once; the next run logs in."""
    fields = {t.label: t for t in at.text_input}
    fields["Email"].input(email)
    fields["Password"].input(PASSWORD)
    next(b for b in at.button if b.label == "Log in").click()


def measure(requests: int, runs: int) -> list[dict]:
    path = build(requests)
    db_url = f"sqlite:///{path}"
    os.environ.update(DATABASE_URL=db_url, CLIENTELE_NOW=NOW.isoformat(),
                      CLIENTELE_COOKIE_KEY=os.environ.get("CLIENTELE_COOKIE_KEY") or secrets.token_urlsafe(48))
    busiest = _ensure_users(db_url)
    from streamlit.testing.v1 import AppTest

    from ui import nav

    rows = []
    for role, email in USERS.items():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        submit_login(at, email)
        started = time.perf_counter()
        at.run()
        login_s = time.perf_counter() - started
        if at.exception or not at.sidebar:
            raise SystemExit(f"login as {role} failed: {[e.value for e in at.exception] or [e.value for e in at.error]}")
        for spec in nav.specs_for(role):
            if spec.path.endswith("customer_profile.py"):
                at.query_params["customer"] = busiest
            started = time.perf_counter()
            at.switch_page(str(ROOT / spec.path)).run()
            first_s = time.perf_counter() - started
            if at.exception:
                raise SystemExit(f"{spec.path} as {role} raised: {[e.value for e in at.exception]}")
            warm = []
            for _ in range(runs):
                started = time.perf_counter()
                at.run()
                warm.append((time.perf_counter() - started) * 1000)
            rows.append({"role": role, "page": spec.title, "first_s": first_s, "warm_ms": statistics.median(warm), "login_s": login_s})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    rows = measure(args.requests, args.runs)
    print(f"page render times on the {args.requests:,}-request demo database (AppTest, 7D default window)")
    print(f"{'role':<10}{'page':<20}{'first render':>14}{'warm rerun':>14}")
    for r in rows:
        print(f"{r['role']:<10}{r['page']:<20}{r['first_s']:>12.2f} s{r['warm_ms']:>11.0f} ms")
    print("first render of the first page happens at login (first run, including the cache's cold start): "
          f"{rows[0]['login_s']:.2f} s; the customer profile is the busiest customer's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
