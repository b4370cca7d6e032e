"""The child process of reader.bulk_read on SQLite (`python -m core.storage.cache.child URL OUT_DIR`): runs the
SQL statements given as a JSON list on stdin through ADBC, with its own SQLite library, and writes each result
to OUT_DIR/<n>.arrow. A module of its own so that `-m` never runs a module the package has already imported."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import sqlalchemy as sa

from core.storage.cache.reader import adbc_read

if __name__ == "__main__":
    _url, _out = sa.engine.make_url(sys.argv[1]), Path(sys.argv[2])
    for _n, _sql in enumerate(json.loads(sys.stdin.read())):
        adbc_read(_url, _sql).write_ipc(_out / f"{_n}.arrow")
