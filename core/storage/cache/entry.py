"""The cache of one database (Entry) and the process-wide registry of them: loads, refreshes by id
watermark, and the checks that find deleted or late rows. Frames are replaced, never mutated."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from core.storage.cache.index import Main, View
from core.storage.cache.layout import BY_CUSTOMER_COLUMNS, empty_first_seen, empty_requests
from core.storage.cache.layout import first_seen as first_seen_of
from core.storage.cache.reader import Reader, read_small_tables
from core.storage.cache.snapshot import read_snapshot, snapshot_path, write_snapshot

log = logging.getLogger(__name__)

# The cheap check (max/min id, both index look-ups) runs at most this often. The count check finds
# rows deleted in the middle and ids that a slow transaction committed below the watermark; it scans,
# so it runs less often.
CHECK_INTERVAL_S = 2.0
COUNT_INTERVAL_S = 30.0
# Appended rows stay in a small unsorted tail until it outgrows this share of the main frame.
TAIL_MERGE_ROWS = 50_000
TAIL_MERGE_SHARE = 0.02
# A snapshot on disk makes a restart read one Arrow file instead of the whole table (validated
# against the database before use). Small tables reload faster than the snapshot is worth.
SNAPSHOT_MIN_ROWS = 200_000
# Tables this big are counted in a background thread (a count scans: seconds at 10M rows).
BACKGROUND_COUNT_MIN_ROWS = 1_000_000


@dataclass
class Entry:
    """Everything cached for one database URL. Frames are replaced, never mutated, so a reader
    holding a reference keeps a consistent view while a refresh builds the next one."""

    reader: Reader
    snapshot: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    main: Main | None = None
    tail: pl.DataFrame = field(default_factory=empty_requests)
    first_seen: pl.DataFrame = field(default_factory=empty_first_seen)
    apis: pl.DataFrame | None = None
    customers: pl.DataFrame | None = None
    customer_apis: pl.DataFrame | None = None
    watermark: int = 0
    min_id: int = 0
    checked_at: float = 0.0
    counted_at: float = 0.0
    stale: bool = False
    view: View | None = None
    small_at: float = 0.0
    full_loads: int = 0
    snapshot_loads: int = 0
    incremental_loads: int = 0

    @property
    def height(self) -> int:
        return (self.main.frame.height if self.main else 0) + self.tail.height

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.main is not None and not force and not self.stale and now - self.checked_at < CHECK_INTERVAL_S:
            return
        lo, hi = self.reader.bounds()
        changed = False
        if self.stale or self.main is None or hi < self.watermark or (self.height and lo != self.min_id) or (hi and not self.height):
            # First load, or rows went away (pruned, deleted, or the database was replaced).
            self._load(lo, hi, use_snapshot=not self.stale)
            changed = True
        elif hi > self.watermark:
            self._append(self.reader.read(self.watermark, hi))
            changed = True
        if force or now - self.counted_at >= COUNT_INTERVAL_S:
            self.counted_at = now
            if self._verify(force):
                self._load(*self.reader.bounds(), use_snapshot=False)
                changed = True
        if changed or force or self.apis is None or now - self.small_at >= CHECK_INTERVAL_S:
            # Names, attributes and API discovery change with new requests; new APIs must appear promptly.
            self.apis, self.customers, self.customer_apis = read_small_tables(self.reader.engine)
            self.small_at = now
        self.checked_at = time.monotonic()
        if self.view is None or self.view.main is not self.main or self.view.tail is not self.tail:
            self.view = View(self.main, self.tail)

    def _verify(self, synchronous: bool) -> bool:
        """True when the database holds a different number of rows up to the watermark (rows deleted
        in the middle, or committed late below it). Big tables are counted in the background, so no
        page waits for the scan; a mismatch found there reloads on the next read."""
        watermark, height = self.watermark, self.height
        if synchronous or height < BACKGROUND_COUNT_MIN_ROWS:
            differs = self.reader.count(watermark) != height
            if differs:
                log.info("requests cache: row count differs from the database; reloading")
            return differs

        def count_later() -> None:
            try:
                if self.reader.count(watermark) != height and self.watermark == watermark:
                    log.info("requests cache: row count differs from the database; reloading")
                    self.stale = True
            except Exception as exc:  # the next check tries again
                log.warning("requests cache: background count failed (%s)", exc)

        threading.Thread(target=count_later, name="clientele-cache-count", daemon=True).start()
        return False

    def _load(self, lo: int, hi: int, use_snapshot: bool = True) -> None:
        self.stale = False
        snap = read_snapshot(self.snapshot, self.reader, lo, hi) if use_snapshot and hi else None
        if snap is not None:
            self.main = Main.build(snap.frame, presorted=True, index=snap.index)
            self.first_seen = snap.first_seen
            watermark = snap.watermark
            self.snapshot_loads += 1
        else:
            self.main = Main.build(self.reader.read(max(lo - 1, 0), hi))
            self.first_seen = first_seen_of(self.main.frame)
            watermark = hi
            self.full_loads += 1
            if self.main.frame.height >= SNAPSHOT_MIN_ROWS:
                try:
                    write_snapshot(self.snapshot, self.main, self.first_seen, watermark, lo)
                except OSError as exc:
                    log.warning("requests cache: could not write snapshot %s (%s)", self.snapshot, exc)
        self.tail = empty_requests()
        self.watermark = watermark
        self.min_id = int(self.main.frame.get_column("id").min()) if self.main.frame.height else 0
        self.counted_at = time.monotonic()
        if snap is not None:
            self.counted_at = 0.0  # count at the end of this refresh (in the background when big)
        if watermark < hi:
            self._append(self.reader.read(watermark, hi))

    def _append(self, new: pl.DataFrame) -> None:
        if new.height == 0:
            return
        if not self.height:
            self.min_id = int(new.get_column("id").min())
        self.watermark = max(self.watermark, int(new.get_column("id").max()))
        self.first_seen = (
            pl.concat([self.first_seen, first_seen_of(new)])
            .group_by("customer_id", "api_id")
            .agg(pl.col("first_seen").min())
            .sort("customer_id", "api_id")
        )
        tail = pl.concat([self.tail, new], rechunk=False)
        main_rows = self.main.frame.height if self.main else 0
        if tail.height > max(TAIL_MERGE_ROWS, TAIL_MERGE_SHARE * main_rows):
            frames = [self.main.frame, tail] if self.main else [tail]
            self.main = Main.build(pl.concat(frames, rechunk=False))
            self.tail = empty_requests()
        else:
            self.tail = tail.rechunk() if tail.n_chunks() > 16 else tail
        self.incremental_loads += 1


_entries: dict[str, Entry] = {}
_entries_lock = threading.Lock()


def _key(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def entry_for(engine: sa.Engine) -> Entry:
    """This database's entry, created empty on first use (not refreshed)."""
    key = _key(engine)
    with _entries_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = Entry(reader=Reader(engine), snapshot=snapshot_path(engine))
    return entry


def refreshed(engine: sa.Engine) -> Entry:
    """This database's entry, refreshed first when its check is due (CHECK_INTERVAL_S)."""
    entry = entry_for(engine)
    with entry.lock:
        entry.refresh()
    return entry


def refresh(engine: sa.Engine) -> None:
    """Bring the cache up to date now (new rows, deleted rows), ignoring the check intervals."""
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
    main = entry.main.frame if entry.main else empty_requests()
    by_customer = entry.main.by_customer if entry.main else empty_requests().select(BY_CUSTOMER_COLUMNS)
    return {
        "rows": entry.height,
        "tail_rows": entry.tail.height,
        "watermark": entry.watermark,
        "full_loads": entry.full_loads,
        "snapshot_loads": entry.snapshot_loads,
        "incremental_loads": entry.incremental_loads,
        "estimated_mb": round(main.estimated_size("mb") + by_customer.estimated_size("mb") + entry.tail.estimated_size("mb"), 1),
    }
