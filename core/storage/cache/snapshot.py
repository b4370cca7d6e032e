"""The cache's snapshot on disk: a restart reads one Arrow file instead of the whole table, after checking
it against the database (bounds, sampled rows)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from core.domain import config
from core.storage.cache.index import Main
from core.storage.cache.layout import REQUEST_SCHEMA
from core.storage.cache.reader import Reader

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 2


def snapshot_path(engine: sa.Engine) -> Path:
    override = os.environ.get("CLIENTELE_CACHE_DIR")
    url = engine.url
    digest = hashlib.sha256(url.render_as_string(hide_password=False).encode()).hexdigest()[:16]
    if override:
        return Path(override) / f"requests-{digest}.arrow"
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # Beside the database file: it goes wherever the database goes (and .gitignore covers *.db-*).
        return Path(url.database + "-columns.arrow")
    return config.DATA_DIR / "cache" / f"requests-{digest}.arrow"


def _sample_ids(frame: pl.DataFrame, k: int = 16) -> list[int]:
    ids = frame.get_column("id").sort()
    picks = {ids[int(i * (ids.len() - 1) / (k - 1))] for i in range(k)} if ids.len() else set()
    return sorted(int(i) for i in picks)


def _snapshot_parts(path: Path) -> dict[str, Path]:
    return {"rows": path, "index": path.with_name(path.name + ".index"), "first": path.with_name(path.name + ".first"),
            "meta": path.with_name(path.name + ".json")}


def write_snapshot(path: Path, main: Main, first_seen_frame: pl.DataFrame, watermark: int, min_id: int) -> None:
    """The sorted rows, the customer index and first-seen frame, and what to check them against.
    Files are as private as the database they copy; each is renamed into place when complete."""
    parts = _snapshot_parts(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"version": SNAPSHOT_VERSION, "watermark": watermark, "min_id": min_id, "rows": main.frame.height,
            "sample": _sample_ids(main.frame)}
    parts["meta"].unlink(missing_ok=True)  # no meta, no snapshot: a half-written set is never used
    for key, frame in (("rows", main.frame), ("index", main.customer_index), ("first", first_seen_frame)):
        tmp = parts[key].with_name(parts[key].name + ".tmp")
        frame.write_ipc(tmp)
        os.chmod(tmp, 0o600)
        tmp.replace(parts[key])
    tmp = parts["meta"].with_name(parts["meta"].name + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.chmod(tmp, 0o600)
    tmp.replace(parts["meta"])


@dataclass(frozen=True)
class Snapshot:
    frame: pl.DataFrame
    index: pl.DataFrame
    first_seen: pl.DataFrame
    watermark: int


def read_snapshot(path: Path, reader: Reader, lo: int, hi: int) -> Snapshot | None:
    """The snapshot when it matches the database (bounds, sampled rows), else None. The row count
    is checked by the caller (in the background for big tables)."""
    parts = _snapshot_parts(path)
    if not all(p.exists() for p in parts.values()):
        return None
    try:
        meta = json.loads(parts["meta"].read_text())
        if meta.get("version") != SNAPSHOT_VERSION or meta["min_id"] != lo or meta["watermark"] > hi:
            return None
        frame = pl.read_ipc(parts["rows"])
        if frame.height != meta["rows"] or list(frame.schema.items()) != list(REQUEST_SCHEMA.items()):
            return None
        sample = meta["sample"]
        stored = frame.filter(pl.col("id").is_in(sample)).sort("id")
        if not stored.equals(reader.read_ids(sample)):
            return None
        return Snapshot(frame, pl.read_ipc(parts["index"]), pl.read_ipc(parts["first"]), int(meta["watermark"]))
    except Exception as exc:  # a damaged or foreign file is only a missed shortcut
        log.warning("requests cache: ignoring snapshot %s (%s)", path, exc)
        return None
