"""Storing the demo: the demo APIs, then the traffic in batches through the real ingest path
(prepare → write_requests), in one process or in forked workers that write strictly in order."""
from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy import event

from core.demo.catalogue import APIS, api_credentials
from core.demo.traffic import World, bucket_payloads, make_world
from core.domain.errors import ClienteleError
from core.ingest import enrich
from core.ingest.pipeline import prepare
from core.storage import models, store
from core.storage.models import Api, Request

BATCH_SIZE = 10_000


class DemoError(ClienteleError):
    """The demo cannot run as asked; the message says why and what to do."""


def _ensure_apis(engine: sa.Engine) -> dict[str, tuple[int, str, str]]:
    """slug → (api_id, api_key, sdk_token); creates the demo APIs that are missing."""
    out = {}
    with engine.connect() as conn:
        existing = {name: (i, k) for i, name, k in conn.execute(sa.select(Api.id, Api.name, Api.api_key))}
    for api in APIS:
        key, token = api_credentials(api.slug)
        if api.name in existing:
            api_id, stored_key = existing[api.name]
            out[api.slug] = (api_id, stored_key, token)
        else:
            created = store.create_api(engine, api.name, api_key=key, sdk_token=token)
            out[api.slug] = (created["api_id"], key, token)
    return out


def existing_demo_requests(engine: sa.Engine) -> int:
    """How many requests the demo APIs (by name) already hold."""
    names = [a.name for a in APIS]
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(sa.func.count()).select_from(Request).join(Api, Api.id == Request.api_id).where(Api.name.in_(names))
        ) or 0


def _chunks_of_buckets(world: World, size: int, buckets: Sequence[int] | None = None) -> list[list[int]]:
    """Consecutive buckets (all, or these) grouped into write batches of about `size` requests."""
    chunks, current, count = [], [], 0
    for b in range(len(world.buckets)) if buckets is None else buckets:
        current.append(b)
        count += world.counts[b] + len(world.forced.get(b, ()))
        if count >= size:
            chunks.append(current)
            current, count = [], 0
    if current:
        chunks.append(current)
    return chunks


def _prepared(world: World, chunk: list[int], dialect: str) -> store.RequestRows:
    """A batch through the ingest path up to its rows (normalise, mask, enrich, rows and rollup increments):
    everything but the statements, so that worker processes do it in parallel."""
    items = [prepare(payload, world.api_ids) for b in chunk for payload in bucket_payloads(world, b)]
    # The batch's last request time stands in for "received": deterministic, unlike the wall clock.
    return store.request_rows(items, dialect, received_at=items[-1][1].timestamp if items else None)


def _bulk_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    for pragma in _BULK_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


# The demo writes a SQLite file through connections of its own, set for one bulk load: no waiting for the disk
# at each commit (a crash can cost the demo, never data an SDK sent) and a page cache for its indexes.
_BULK_PRAGMAS = ("PRAGMA synchronous=OFF", "PRAGMA cache_size=-65536")


def _loading_engine(engine: sa.Engine) -> sa.Engine:
    """The engine the demo stores with: `engine` itself, or on a SQLite file one with _BULK_PRAGMAS."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return engine
    loading = models.make_engine(url.render_as_string(hide_password=False))
    event.listen(loading, "connect", _bulk_pragmas)
    return loading


def _write(engine: sa.Engine, rows: store.RequestRows) -> int:
    if rows.requests:
        store.write_requests(engine, rows)
    return len(rows.requests)


def _worker(world, engine, chunks, index, workers, turn, done, failed, message, cond) -> None:
    """Prepares every `workers`-th chunk in parallel with the others; writes strictly in chunk order."""
    engine.dispose(close=False)  # connections inherited through fork belong to the parent
    # The cyclic garbage collector would scan the inherited world and each batch's million young objects over
    # and over (a fifth of the time) to find next to nothing: a batch holds no reference cycles. Once per batch.
    gc.freeze()
    gc.disable()
    try:
        for c in range(index, len(chunks), workers):
            rows = _prepared(world, chunks[c], engine.dialect.name)
            with cond:
                while turn.value != c and not failed.value:
                    cond.wait(1.0)
                if failed.value:
                    return
            written = _write(engine, rows)
            with cond:
                turn.value = c + 1
                done.value += written
                cond.notify_all()
            del rows  # the written batch, freed before the collection (scanning it would find nothing)
            gc.collect()
    except BaseException as exc:  # the parent turns this into a DemoError
        message.value = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[: len(message) - 1]
        with cond:
            failed.value = 1
            cond.notify_all()
        sys.exit(1)


def _run_parallel(world, engine, chunks, workers, progress, total) -> int:
    enrich.build_user_agent_parser()  # once, inherited by every worker
    ctx = multiprocessing.get_context("fork")
    turn, done, failed = ctx.Value("i", 0), ctx.Value("q", 0), ctx.Value("i", 0)
    message = ctx.Array("c", 2000)
    cond = ctx.Condition()
    procs = [
        ctx.Process(target=_worker, args=(world, engine, chunks, i, workers, turn, done, failed, message, cond), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    reported = -1
    try:
        while any(p.is_alive() for p in procs):
            with cond:
                cond.wait(0.25)
            if progress and done.value != reported:
                reported = done.value
                progress(reported, total)
            if any(p.exitcode not in (None, 0) for p in procs) and not failed.value:
                with cond:
                    failed.value = 1
                    cond.notify_all()
    finally:
        for p in procs:
            p.join()
    if progress and done.value != reported:
        progress(done.value, total)
    if failed.value or any(p.exitcode != 0 for p in procs):
        reason = message.value.decode("utf-8", "replace") or "a worker process stopped unexpectedly"
        raise DemoError(f"Generating demo data failed: {reason}")
    return done.value


def generate(
    engine: sa.Engine,
    *,
    requests: int,
    days: int,
    seed: int,
    now: dt.datetime,
    progress: Callable[[int, int], None] | None = None,
    append: bool = False,
    workers: int = 1,
    since: dt.datetime | None = None,
    before: dt.datetime | None = None,
    newest_first: bool = False,
) -> dict:
    """Generate `requests` demo requests over the `days` before `now` and store them through the real
    ingest path (normalise, enrich, write_requests). Deterministic for (seed, now, requests, days),
    whatever the number of worker processes. Returns {apis, customers, requests, days, seed, now, seconds}.

    `since` / `before` write only the hours that start in [since, before) — the same requests those hours
    hold in the whole demo, so parts written separately add up to it — `newest_first` the newest hours first
    (a first start shows recent days while older ones load); `requests` stays the whole demo's size."""
    if requests < 1:
        raise DemoError("--requests must be at least 1.")
    if days < 1:
        raise DemoError("--days must be at least 1.")
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    now = now.astimezone(dt.timezone.utc)
    started = time.perf_counter()
    if not append:
        existing = existing_demo_requests(engine)
        if existing:
            raise DemoError(
                f"The database already holds {existing:,} requests for the demo APIs. Run with --append to add "
                "more, or point DATABASE_URL at an empty database."
            )
    world = make_world(seed, requests, days, now, _ensure_apis(engine))
    hours = [b for b, (start, _length) in enumerate(world.buckets)
             if (since is None or start >= since) and (before is None or start < before)]
    if newest_first:
        hours.reverse()
    chunks = _chunks_of_buckets(world, BATCH_SIZE, hours)
    total = sum(world.counts[b] + len(world.forced.get(b, ())) for b in hours)
    loading = _loading_engine(engine)
    try:
        if workers > 1 and len(chunks) > 1:
            done = _run_parallel(world, loading, chunks, min(workers, len(chunks)), progress, total)
        else:
            done = 0
            for chunk in chunks:
                done += _write(loading, _prepared(world, chunk, engine.dialect.name))
                if progress:
                    progress(done, total)
    finally:
        if loading is not engine:
            loading.dispose()
    return {
        "apis": len(APIS),
        "customers": len(world.customers),
        "requests": done,
        "days": days,
        "seed": seed,
        "now": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
    }


def now_minute() -> dt.datetime:
    """The current minute in UTC: the default end of the demo's window."""
    return dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
