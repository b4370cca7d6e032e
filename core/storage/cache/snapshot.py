"""The settled rollups on disk, so that a process that starts again loads in a second or two instead of reading
every rollup row from the database (about 20–35 s at 10 million requests).

A bulk load's child process (reader.bulk_facts) writes the facts and their customer index as Parquet; instead of
dropping them, the Entry that loaded them publishes them here with the rollup epoch and the settled boundary they
hold. A later first load of the same database (a restart, another app process) takes them when they are still
true: the same epoch (nothing rewrote settled hours since: an import, a prune, a rebuild move it), the same number
of rollup rows before their boundary in the database (a backup restored in between, or another database at the
same address, differ), and a boundary at most MAX_GAP old; the hours settled since are read from SQL and appended,
as a running process does. Anything else, or a file that cannot be read, is a full load, which publishes anew.

One directory per database under CLIENTELE_CACHE_DIR (default data/cache; "off" keeps none), named by a hash of
its address without the password, private to the owner (0700): the files hold every customer's aggregates, as the
database does. Each snapshot is a directory of its own, published by renaming a pointer file, so that a reader
never sees half of one; older ones are removed.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from core.domain import config
from core.storage.cache.index import Main
from core.storage.cache.reader import bind_time, read_rollups

log = logging.getLogger(__name__)

# Hours settled after a snapshot are read from SQL row by row: past this, a full load is as quick.
MAX_GAP = dt.timedelta(days=2)
FILES = ("facts.parquet", "rows.parquet")
STAGING_KEPT_S = 24 * 3600  # a staged directory this old belongs to no load still running
_POINTER = "current"
_FORMAT = 1


def directory(engine: sa.Engine) -> Path | None:
    """This database's snapshot directory (not created), or None when snapshots are off."""
    base = config.settings().cache_dir
    if base is None:
        return None
    address = engine.url.render_as_string(hide_password=True)
    return base / hashlib.sha256(address.encode()).hexdigest()[:16]


@contextlib.contextmanager
def staging(engine: sa.Engine) -> Iterator[Path | None]:
    """A private directory for a bulk load to write its files into (None when snapshots are off or the directory
    cannot be made); removed afterwards unless publish() took it."""
    home = directory(engine)
    if home is None:
        yield None
        return
    try:
        config.private_dir(home)
        place = home / f"new-{uuid.uuid4().hex}"
        place.mkdir(mode=0o700)
    except OSError as exc:
        log.warning("no cache snapshot: %s", exc)
        yield None
        return
    try:
        yield place
    finally:
        shutil.rmtree(place, ignore_errors=True)


def publish(place: Path, epoch: int, settled: dt.datetime, rows: int) -> None:
    """Make the staged files the database's snapshot of `rows` rollup rows before `settled` at `epoch`."""
    home = place.parent
    if not all((place / name).is_file() for name in FILES):
        return
    try:
        (place / "meta.json").write_text(json.dumps({"format": _FORMAT, "epoch": epoch, "settled": settled.isoformat(),
                                                     "rows": rows}))
        final = home / f"{epoch}-{settled:%Y%m%dT%H}-{uuid.uuid4().hex[:8]}"
        place.rename(final)
        pointer = home / f".{_POINTER}-{uuid.uuid4().hex}"
        pointer.write_text(final.name)
        os.replace(pointer, home / _POINTER)  # atomic: a reader sees the old snapshot or the new one
    except OSError as exc:
        log.warning("cache snapshot not kept: %s", exc)
        return
    stale = dt.datetime.now().timestamp() - STAGING_KEPT_S
    for old in home.iterdir():
        # Older snapshots, and what a load stopped half-way (a killed process) left staged.
        if old.is_dir() and old.name != final.name and (not old.name.startswith("new-") or old.stat().st_mtime < stale):
            shutil.rmtree(old, ignore_errors=True)


def load(engine: sa.Engine, epoch: int, settled: dt.datetime) -> Main | None:
    """The settled rollups before `settled` from this database's snapshot and the hours settled since, or None when
    there is no snapshot still true of the database (then the caller loads in full)."""
    home = directory(engine)
    if home is None:
        return None
    try:
        place = home / (home / _POINTER).read_text().strip()
        meta = json.loads((place / "meta.json").read_text())
        taken = dt.datetime.fromisoformat(meta["settled"])
        if (meta.get("format") != _FORMAT or meta["epoch"] != epoch or taken > settled or settled - taken > MAX_GAP
                or _rows_before(engine, taken) != meta["rows"]):
            return None
        facts, rows = (pl.read_parquet(place / name) for name in FILES)
        if facts.height != meta["rows"]:
            return None
        main = Main.build(facts, rows)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError) as exc:
        log.warning("cache snapshot not used: %s", exc)
        return None
    return main.append(read_rollups(engine, start=taken, end=settled)) if taken < settled else main


def _rows_before(engine: sa.Engine, end: dt.datetime) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM rollup_hours WHERE hour < :end"), {"end": bind_time(engine, end)}).scalar_one()
