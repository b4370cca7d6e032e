"""The child process of reader.bulk_facts (`python -m core.storage.cache.child`, given {"url", "end", "out"} as JSON
on stdin): reads the rollups of the hours before `end` through ADBC, with its own SQLite library, and writes their
facts to `out`/facts.parquet and each customer's row numbers in them (index.customer_rows) to `out`/rows.parquet.
A module of its own so that `-m` never runs a module the package has already imported."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import sqlalchemy as sa

from core.storage.cache.index import customer_rows
from core.storage.cache.reader import rollup_facts

if __name__ == "__main__":
    _job = json.loads(sys.stdin.read())
    _facts = rollup_facts(sa.engine.make_url(_job["url"]), _job["end"]).rechunk()
    # One row group: the app process reads it back as one contiguous frame, without a copy to join chunks.
    _facts.write_parquet(Path(_job["out"]) / "facts.parquet", compression="lz4", row_group_size=max(_facts.height, 1))
    # Each customer's row numbers too: building them is a group-by whose memory the app process would keep.
    customer_rows(_facts).write_parquet(Path(_job["out"]) / "rows.parquet", compression="lz4")
