"""The child process of reader._adbc_read_in_child (`python -m core.storage.cache.child URL OUT`): reads the
id ranges given as JSON on stdin through ADBC, with its own SQLite library, and writes the rows to OUT
as an Arrow file. A module of its own so that `-m` never runs a module the package has already imported."""
from __future__ import annotations

import json
import sys

import sqlalchemy as sa

from core.storage.cache.reader import adbc_read_ranges

if __name__ == "__main__":
    _frame = adbc_read_ranges(sa.engine.make_url(sys.argv[1]), [tuple(r) for r in json.loads(sys.stdin.read())])
    _frame.write_ipc(sys.argv[2])
