"""`python -m bench.details_dictionary`: trains core/storage/details.zdict, the zstd dictionary request details are
packed with (core.storage.details), on 20,000 details of the 1M-request bench database (demo traffic, built by
`python -m bench --requests 1000000`) and on every captured real SDK payload in tests/fixtures, each weighted 20
times. Existing rows name the dictionary they were packed with: a new one must get a new DICTIONARY_ID."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import zstandard

from bench.__main__ import build
from core.ingest.normalize import normalize
from core.storage import details

ROOT = Path(__file__).resolve().parent.parent


def samples() -> list[bytes]:
    conn = sqlite3.connect(build(1_000_000))
    columns = ", ".join(details.PACKED_FIELDS)
    rows = conn.execute(f"SELECT packed, {columns} FROM request_details WHERE request_id % 50 = 0").fetchmany(20_000)

    def fields(row: tuple) -> dict:  # a packed row, or one stored before packing (JSON text columns)
        return details.unpack(row[0]) if row[0] is not None else {
            n: None if v is None else json.loads(v) for n, v in zip(details.PACKED_FIELDS, row[1:])}

    out = [details._json_bytes(fields(row)) for row in rows]
    for path in sorted((ROOT / "tests" / "fixtures" / "treblle-payloads").glob("*.json")):
        try:
            request = normalize(json.loads(path.read_text()))
        except Exception:  # noqa: BLE001 - the folder also holds transport headers, not payloads
            continue
        out += [details._json_bytes({n: getattr(request, n) for n in details.PACKED_FIELDS})] * 20
    return out


if __name__ == "__main__":
    trained = zstandard.train_dictionary(16384, samples(), dict_id=details.DICTIONARY_ID, level=details.LEVEL)
    (ROOT / "core" / "storage" / "details.zdict").write_bytes(trained.as_bytes())
    print(f"core/storage/details.zdict: {len(trained.as_bytes()):,} bytes, dictionary id {trained.dict_id()}")
