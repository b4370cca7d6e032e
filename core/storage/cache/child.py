"""The child process of reader.bulk_facts (`python -m core.storage.cache.child URL END OUT_DIR`): reads the
rollups of the hours before END through ADBC, with its own SQLite library, and writes their facts to
OUT_DIR/facts.parquet. A module of its own so that `-m` never runs a module the package has already imported."""
from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from core.storage.cache.reader import rollup_facts

if __name__ == "__main__":
    _url, _end, _out = sa.engine.make_url(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    _facts = rollup_facts(_url, _end).rechunk()
    # One row group: the app process reads it back as one contiguous frame, without a copy to join chunks.
    _facts.write_parquet(_out / "facts.parquet", compression="lz4", row_group_size=max(_facts.height, 1))
