"""`python -m bench.details_dictionary ID OUT`: trains a zstd dictionary for packing request details
(core.storage.details) with dictionary id ID, into the new file OUT, on 20,000 details of the 1M-request bench
database (demo traffic, built by `python -m bench --requests 1000000`) and on every captured real SDK payload in
tests/fixtures, each weighted 20 times. core/storage/details.zdict (id 1) was made with `1 core/storage/details.zdict`.

Stored rows name the dictionary they were packed with, and are read with the shipped dictionary of that id: a new
dictionary needs a new id (and a place beside the old one in core.storage.details), never the old file's."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import sqlalchemy as sa
import zstandard

from bench.__main__ import build
from core.ingest.normalize import normalize
from core.storage import details, models
from core.storage.models import RequestDetail

ROOT = Path(__file__).resolve().parent.parent


def samples() -> list[bytes]:
    engine = models.make_engine(f"sqlite:///{build(1_000_000)}")
    models.init_db(engine)  # a database built before packing gets the packed column (its rows keep their JSON)
    table = RequestDetail.__table__
    with engine.connect() as conn:  # packed rows, or rows stored before packing: details.unpacked reads both
        rows = conn.execute(sa.select(table).where(table.c.request_id % 50 == 0).limit(20_000)).mappings().all()
    engine.dispose()
    out = [details._json_bytes(details.unpacked(row)) for row in rows]
    for path in sorted((ROOT / "tests" / "fixtures" / "treblle-payloads").glob("*.json")):
        try:
            request = normalize(json.loads(path.read_text()))
        except Exception:  # noqa: BLE001 - the folder also holds transport headers, not payloads
            continue
        out += [details._json_bytes({n: getattr(request, n) for n in details.PACKED_FIELDS})] * 20
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        raise SystemExit("usage: python -m bench.details_dictionary ID OUT (a new dictionary id, a new file)")
    dict_id, out = int(sys.argv[1]), Path(sys.argv[2])
    if out.exists():
        raise SystemExit(f"{out} exists: rows packed with it would no longer read; write a new file with a new id")
    trained = zstandard.train_dictionary(16384, samples(), dict_id=dict_id, level=details.LEVEL)
    out.write_bytes(trained.as_bytes())
    print(f"{out}: {len(trained.as_bytes()):,} bytes, dictionary id {trained.dict_id()}")
