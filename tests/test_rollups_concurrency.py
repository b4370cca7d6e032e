"""Two processes writing requests with the same rollup keys at the same time (several collectors on one
database): every committed request is counted exactly once, and the increments equal a rebuild. Slow
(two Python processes, 4,000 requests): run in the full suite."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from core.domain.timewindow import floor_hour
from core.storage import rollups, store
from core.storage.models import Request
from tests.test_rollups import assert_same_rollups, rollup_tables

UTC = dt.timezone.utc
ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent("""
    import datetime as dt, random, sys
    from core.storage import models, store
    from tests.factories import make_request

    url, seed, api_id, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    top = dt.datetime.fromisoformat(sys.argv[6])
    rng = random.Random(seed)
    # Few keys, shared by both writers: the same API, three customers and none, two endpoints, two methods,
    # three recent hours and one settled hour (which also bumps the epoch); in this writer's own order.
    # Every other batch is unattributed: it locks no customer rows, so the two writers' rollup increments
    # run side by side rather than one after the other.
    hours = [top, top - dt.timedelta(hours=1), top - dt.timedelta(hours=2), top - dt.timedelta(days=3)]
    items = [(api_id, make_request(
        customer_id=None if (i // batch) % 2 == 0 else rng.choice(["c1", "c2", "c3", None]), endpoint=rng.choice(["/a", "/b"]),
        method=rng.choice(["GET", "POST"]), timestamp=rng.choice(hours) + dt.timedelta(seconds=rng.randrange(3600)),
        status=rng.choice([200, 404, 500]), load_time_ms=rng.choice([0.0, 3.0, 40.0, 900.0]), response_size=rng.randrange(5000)))
        for i in range(n)]
    engine = models.make_engine(url)
    print("ready", flush=True)
    sys.stdin.readline()  # go: both writers start together
    for i in range(0, n, batch):
        store.write_requests(engine, items[i:i + batch])
    engine.dispose()
    print("done", flush=True)
""")


def _error(stderr: str) -> str:
    """The exception of a failed writer: its last line and the database's message (SQLAlchemy puts it first)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return "\n".join([line for line in lines if "Error" in line or "DETAIL" in line or "CONTEXT" in line][-6:]) or stderr[-2000:]


def test_two_processes_writing_the_same_keys_at_once_count_every_request_once(engine, db_url):
    api = store.create_api(engine, "Shared API")["api_id"]
    top = floor_hour(dt.datetime.now(UTC)).isoformat()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(seed), str(api), "2000", "50", top], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for seed in (1, 2)]
    try:
        assert [w.stdout.readline().strip() for w in writers] == ["ready", "ready"]
        for w in writers:
            w.stdin.write("go\n")
            w.stdin.flush()
        results = [w.communicate(timeout=120) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [(w.returncode, out.strip()) for w, (out, _) in zip(writers, results)] == [(0, "done")] * 2, [_error(err) for _, err in results]
    incremental = rollup_tables(engine)
    with engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(Request))
    assert (incremental[0].get_column("requests").sum(), count) == (4000, 4000)
    rollups.rebuild(engine)
    assert_same_rollups(incremental, rollup_tables(engine))
