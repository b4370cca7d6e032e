"""The cache of one database (Entry) and the process-wide registry of them.

An Entry holds the rollups of settled hours (core.storage.rollups: hours the collector no longer writes)
and the small tables. When the settled boundary moves on (once an hour) it reads the newly settled hour;
when the rollup epoch changes (an import, the demo, a rebuild or a prune wrote into settled hours) it
reloads them all; everything newer is read from SQL by each query (a few hours of rollups, indexed). Its size grows with customers × endpoints ×
hours, not with requests. Frames are replaced, never mutated.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl
import sqlalchemy as sa

from core.domain import config
from core.storage import models, rollups
from core.storage.cache.index import Main
from core.storage.cache.layout import empty_facts
from core.storage.cache.reader import read_all_rollups, read_raw, read_rollups, read_small_tables, read_state
from core.storage.cache.snapshot import load as load_snapshot
from core.storage.cache.snapshot import publish, staging

log = logging.getLogger(__name__)

# The state check (two index look-ups) runs at most this often; the APIs are re-read with it, the customers
# when new requests came in.
CHECK_INTERVAL_S = 2.0
# Raw rows of settled cut hours kept per database, at most: a window's edge hour 30 days ago is read once, not
# at every page (about 9,000 rows an hour for every API at 10 million requests in 45 days).
SETTLED_RAW_ROWS = 200_000
MAX_BLOCKS_MB = 64
_BLOCKS_LOCK = threading.Lock()
MAX_SPANS = 10_000  # Held.span entries: a customer's or an API's first and last time, two datetimes each


class SettledRaw:
    """The raw rows (as facts) of time ranges inside settled hours, least recently used dropped first. Rows of a
    settled hour change only with the rollup epoch (an import, a prune: the collector never writes there), and
    an Entry starts a new SettledRaw when the epoch moves, so what is kept is what SQL would return."""

    def __init__(self) -> None:
        self._frames: OrderedDict[tuple, pl.DataFrame] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def read(self, engine: sa.Engine, ranges: Sequence[tuple[dt.datetime, dt.datetime]], settled: dt.datetime | None, *,
             api_ids: Sequence[int], customer_id: str | None, histograms: bool) -> pl.DataFrame:
        """read_raw(engine, ranges, …), the ranges that end by `settled` from memory when read before."""
        where = (tuple(api_ids), customer_id, histograms)
        parts, fresh = [], []
        for start, end in ranges:
            if settled is None or end > settled:
                fresh.append((start, end))
                continue
            key = (start, end, *where)
            with self._lock:
                kept = self._frames.get(key)
                if kept is not None:
                    self._frames.move_to_end(key)
            if kept is None:
                kept = read_raw(engine, [(start, end)], api_ids=api_ids, customer_id=customer_id, histograms=histograms)
                self._keep(key, kept)
            parts.append(kept)
        if fresh or not parts:
            parts.append(read_raw(engine, fresh, api_ids=api_ids, customer_id=customer_id, histograms=histograms))
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical_relaxed")

    def _keep(self, key: tuple, frame: pl.DataFrame) -> None:
        if frame.height > SETTLED_RAW_ROWS:
            return
        with self._lock:
            if key not in self._frames:
                self._frames[key] = frame
                self._rows += frame.height
            while self._rows > SETTLED_RAW_ROWS:
                self._rows -= self._frames.popitem(last=False)[1].height


@dataclass(frozen=True)
class Held:
    """What a page reads of an Entry besides the small tables: the settled rollups in memory, where they end,
    where the raw rows start, and the settled raw rows kept. Replaced together, in one assignment, so that a
    page reading them while an hour settles or a reload ends gets all from before or all from after (never an
    hour in neither, nor the rollups of before a prune with its raw rows of after)."""

    main: Main | None = None
    settled: dt.datetime | None = None  # main holds the rollup hours before this
    raw_since: dt.datetime | None = None  # the raw rows start here (rollup_state.raw_since; None: all kept)
    settled_raw: SettledRaw = field(default_factory=SettledRaw)  # of main's epoch
    # (customer or None, API or None) → the first and last request time main holds for them (scoped.data_span):
    # fixed for this snapshot, and worked out from all of their rows (all of them, for the workspace).
    spans: dict = field(default_factory=dict, compare=False, repr=False)
    epoch: int = -1  # the rollup epoch main was read at (rollup_state.epoch)
    # The settled hours of a window and its previous period summed once more (scoped.facts_frame's `summed`), by what
    # they sum: the same for an hour of page views, each of which would otherwise sum them again.
    blocks: dict = field(default_factory=dict, compare=False, repr=False)

    def block(self, key: tuple, compute) -> pl.DataFrame:
        """blocks[key], computed once; the oldest dropped beyond MAX_BLOCKS_MB in all (the busiest API's month by day
        is 15 MB at 10M requests, a customer's a few at most)."""
        found = self.blocks.get(key)
        if found is None:
            found = compute()
            with _BLOCKS_LOCK:  # pages of other sessions may be adding theirs
                self.blocks[key] = found
                while len(self.blocks) > 1 and sum(f.estimated_size("mb") for f in self.blocks.values()) > MAX_BLOCKS_MB:
                    del self.blocks[next(iter(self.blocks))]
        return found

    def span(self, who: str | None, api_id: int | None, compute) -> tuple:
        """spans[(who, api_id)], computed once (at most MAX_SPANS kept)."""
        key = (who, api_id)
        found = self.spans.get(key)
        if found is None:
            if len(self.spans) >= MAX_SPANS:
                self.spans.clear()
            found = self.spans[key] = compute()
        return found


@dataclass
class Entry:
    engine: sa.Engine
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: Held = field(default_factory=Held)
    epoch: int = -1
    newest_id: int = 0
    apis: pl.DataFrame | None = None
    customers: pl.DataFrame | None = None
    customer_apis: pl.DataFrame | None = None
    checked_at: float = 0.0
    loads: int = 0
    appends: int = 0
    snapshots: int = 0  # loads taken from a snapshot on disk (core.storage.cache.snapshot)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.held.main is not None and not force and now - self.checked_at < CHECK_INTERVAL_S:
            return
        epoch, raw_since, newest_id = read_state(self.engine)
        # Customers change only with newly stored requests (a new id) or a rewrite of the rollups (the epoch).
        customers_changed = self.customers is None or (epoch, newest_id) != (self.epoch, self.newest_id)
        settled = rollups.settled_before()
        held = self.held
        if held.main is None or epoch != self.epoch or held.settled is None:
            main = load_snapshot(self.engine, epoch, settled)
            if main is None:
                with staging(self.engine) as place:
                    frame, rows = read_all_rollups(self.engine, settled, place)
                    main = Main.build(frame, rows)
                    if place is not None and rows is not None:  # the bulk path wrote its files there
                        publish(place, epoch, settled, frame.height)
            else:
                self.snapshots += 1
            self.held = Held(main, settled, raw_since, epoch=epoch)
            self.epoch = epoch
            self.loads += 1
        elif settled > held.settled:
            # An hour settled: only its rollups are new to this copy (nothing older changed: same epoch).
            main = held.main.append(read_rollups(self.engine, start=held.settled, end=settled))
            self.held = Held(main, settled, raw_since, held.settled_raw, epoch=epoch)
            self.appends += 1
        # raw_since moves only with the epoch (rollups.set_raw_since bumps it in the same transaction): a reload.
        self.newest_id = newest_id
        apis, customers, customer_apis = read_small_tables(self.engine, customers=customers_changed)
        self.apis = apis
        if customers_changed:
            self.customers, self.customer_apis = customers, customer_apis
        self.checked_at = time.monotonic()


_entries: dict[str, Entry] = {}
_entries_lock = threading.Lock()


def _key(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _read_engine(engine: sa.Engine) -> sa.Engine:
    """Where this database's dashboard reads go: CLIENTELE_READ_DATABASE_URL (a PostgreSQL read replica)
    for the configured DATABASE_URL, else the database itself. Never migrated from here: a replica follows
    its primary."""
    settings = config.settings()
    if settings.read_database_url and _key(engine) == sa.make_url(settings.database_url).render_as_string(hide_password=False):
        return models.read_engine_for(settings.read_database_url)
    return engine


def entry_for(engine: sa.Engine) -> Entry:
    """This database's entry, created empty on first use (not refreshed)."""
    key = _key(engine)
    with _entries_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = Entry(engine=_read_engine(engine))
    return entry


def refreshed(engine: sa.Engine) -> Entry:
    """This database's entry, refreshed first when its check is due (CHECK_INTERVAL_S).

    While another thread refreshes it, the entry is returned as it stands, without waiting: a reload after an
    import or a prune takes seconds at millions of requests (about 20 s at 10 million), and the other pages
    serve the copy from before it meanwhile. Only the thread that found the change waits for it, and every
    thread waits for the first refresh to finish (checked_at is set last), when there is nothing whole to serve."""
    entry = entry_for(engine)
    if entry.lock.acquire(blocking=not entry.checked_at):
        try:
            entry.refresh()
        finally:
            entry.lock.release()
    return entry


def reload_due(engine: sa.Engine) -> str | None:
    """What the next read of this database will wait for, so that a page can say so first: "load" before this
    process's first load, "reload" when the rollup epoch moved since (an import, a prune, a rebuild, the demo's
    loader: every settled rollup is read again, about 20 s at 10 million requests), else None. Two index
    look-ups, only once the check interval has passed (as refreshed() does)."""
    entry = entry_for(engine)
    if not entry.checked_at:
        return "load"
    if time.monotonic() - entry.checked_at < CHECK_INTERVAL_S:
        return None
    return "reload" if read_state(entry.engine)[0] != entry.epoch else None


def refresh(engine: sa.Engine) -> None:
    """Bring the cache up to date now, ignoring the check interval (a reload only if the epoch moved)."""
    entry = entry_for(engine)
    with entry.lock:
        entry.refresh(force=True)


def invalidate(engine: sa.Engine | None = None) -> None:
    """Forget the cache of one database (or all): the next read loads again."""
    with _entries_lock:
        if engine is None:
            _entries.clear()
        else:
            _entries.pop(_key(engine), None)


def stats(engine: sa.Engine) -> dict:
    """How the cache of this database was built (for the benchmark and tests)."""
    entry = refreshed(engine)
    held = entry.held
    frame = held.main.frame if held.main else empty_facts()
    return {
        "rollup_rows": frame.height,
        "settled": held.settled,
        "epoch": entry.epoch,
        "newest_id": entry.newest_id,
        "loads": entry.loads,
        "appends": entry.appends,
        "snapshots": entry.snapshots,
        "estimated_mb": round(frame.estimated_size("mb"), 1),
    }
