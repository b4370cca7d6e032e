"""Import of payload files: .json (one payload or a list), .ndjson, either optionally gzipped."""
from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import sqlalchemy as sa

from core.ingest.errors import PayloadError
from core.ingest.pipeline import Batch, prepare
from core.ingest.timestamps import TIMESTAMP_MODES
from core.storage import store

MAX_FILE_BYTES = 1 << 30


@dataclass
class Rejection:
    source: str  # "file:line" or "file[index]"
    reason: str


@dataclass
class ImportReport:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


def _open_bytes(name: str, data: bytes) -> bytes:
    if name.endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise PayloadError("file", f"not a readable gzip file ({exc})") from None
    return data


def iter_payloads(name: str, data: bytes) -> Iterator[tuple[str, object | PayloadError, bytes]]:
    """(source, parsed payload or the error, raw bytes) for each payload in a file's contents."""
    try:
        data = _open_bytes(name, data)
    except PayloadError as exc:
        yield name, exc, data[:4096]
        return
    base = name[:-3] if name.endswith(".gz") else name
    stripped = data.lstrip()
    if base.endswith(".ndjson") or base.endswith(".jsonl") or (not base.endswith(".json") and not stripped.startswith(b"[")):
        for lineno, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"{name}:{lineno}", orjson.loads(line), line
            except orjson.JSONDecodeError as exc:
                yield f"{name}:{lineno}", PayloadError("line", f"not valid JSON ({exc})"), line
        return
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield name, PayloadError("file", f"not valid JSON ({exc}); for one payload per line use .ndjson"), data
        return
    if isinstance(parsed, list):
        for index, item in enumerate(parsed):
            yield f"{name}[{index}]", item, orjson.dumps(item)
    else:
        yield name, parsed, data


def import_bytes(
    engine: sa.Engine,
    files: list[tuple[str, bytes]],
    api_key: str | None = None,
    progress: Callable[[int], None] | None = None,
    timestamps: str = "auto",
) -> ImportReport:
    """Import already-read files (CLI and upload share this). Good payloads are kept even when others fail.
    timestamps: "auto" reads each SDK's timestamp in the zone that SDK writes it in; "utc" or "local"
    (in the payload's data.server.timezone) read every timestamp that way."""
    if timestamps not in TIMESTAMP_MODES:
        raise PayloadError("--timestamps", f"choose one of {', '.join(TIMESTAMP_MODES)}, not {timestamps!r}")
    report = ImportReport()
    api_ids = store.api_keys(engine)
    if api_key is not None and api_key not in api_ids:
        raise PayloadError("--api-key", f"no API with key {api_key!r}; list them with `python -m core apis list`")
    batch = Batch(engine)
    for name, data in files:
        for source, payload, raw in iter_payloads(name, data):
            try:
                if isinstance(payload, PayloadError):
                    raise payload
                batch.add(prepare(payload, api_ids, api_key, timestamps=timestamps))
                report.accepted += 1
            except PayloadError as exc:
                report.rejected.append(Rejection(source, str(exc)))
                batch.reject(f"file {source}", str(exc), raw)
            if progress and (report.accepted + len(report.rejected)) % 1000 == 0:
                progress(report.accepted + len(report.rejected))
    batch.flush()
    return report


def import_paths(engine: sa.Engine, paths: list[str], api_key: str | None = None, progress=None,
                 timestamps: str = "auto") -> ImportReport:
    files = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"{p}: no such file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise PayloadError(p, "file is larger than 1 GiB; split it")
        files.append((path.name if len(paths) == 1 else str(path), path.read_bytes()))
    return import_bytes(engine, files, api_key, progress, timestamps)
