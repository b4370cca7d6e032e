"""What the Data page (Admin) shows and does: APIs and rejected payloads as tables, and file imports
with a per-file progress report (on top of core.store and core.ingest.files)."""
from __future__ import annotations

from collections.abc import Callable

import polars as pl
import sqlalchemy as sa

from core import fmt, store
from core.ingest.files import ImportReport, import_bytes

IMPORT_TYPES = ("json", "ndjson", "jsonl", "gz")


def apis_table(engine: sa.Engine, tz: str) -> pl.DataFrame:
    """One row per API: Name, API ID, API key, Created (viewer time), Docs (uploaded spec or inferred)."""
    apis = store.list_apis(engine)
    return pl.DataFrame(
        {
            "Name": [a["name"] for a in apis],
            "API ID": [a["id"] for a in apis],
            "API key": [a["api_key"] for a in apis],
            "Created": [fmt.local_time(a["created_at"], tz) for a in apis],
            "Docs": [f"uploaded OpenAPI spec ({fmt.local_time(a['openapi_uploaded_at'], tz)})"
                     if a["openapi_uploaded_at"] else "inferred from traffic" for a in apis],
        },
        schema={"Name": pl.String, "API ID": pl.Int64, "API key": pl.String, "Created": pl.String, "Docs": pl.String},
    )


def rejected_table(rows: list[dict], tz: str) -> pl.DataFrame:
    """One row per rejected payload (store.rejected_payloads, newest first): ID, Received, Source,
    Reason, Size. The raw text is not in the table (it is shown on its own, as text)."""
    return pl.DataFrame(
        {
            "ID": [r["id"] for r in rows],
            "Received": [fmt.local_time(r["received_at"], tz) for r in rows],
            "Source": [r["source"] for r in rows],
            "Reason": [r["reason"] for r in rows],
            "Size": [fmt.size(r["raw_size"]) for r in rows],
        },
        schema={"ID": pl.Int64, "Received": pl.String, "Source": pl.String, "Reason": pl.String, "Size": pl.String},
    )


def import_files(engine: sa.Engine, files: list[tuple[str, bytes]], api_key: str | None = None,
                 on_file: Callable[[int, str], None] | None = None) -> ImportReport:
    """Import uploaded files one after the other (core.ingest.files.import_bytes), calling
    on_file(files done, next file name) before each; one report for all. A file that cannot be read
    at all is reported as rejected; the others are still imported."""
    total = ImportReport()
    for done, (name, data) in enumerate(files):
        if on_file:
            on_file(done, name)
        report = import_bytes(engine, [(name, data)], api_key=api_key)
        total.accepted += report.accepted
        total.rejected.extend(report.rejected)
    if on_file:
        on_file(len(files), "")
    return total


def import_summary(report: ImportReport) -> str:
    """The outcome in words for the person who uploaded the files: "12 payloads imported, 2 rejected"."""
    accepted = f"{fmt.count(report.accepted)} payload{'s' if report.accepted != 1 else ''} imported"
    rejected = len(report.rejected)
    return f"{accepted}, {fmt.count(rejected)} rejected" if rejected else accepted


def rejections_table(report: ImportReport) -> pl.DataFrame:
    """One row per rejected payload of an import: Where ("file.ndjson:3" or "file.json[2]"), Reason."""
    return pl.DataFrame({"Where": [r.source for r in report.rejected], "Reason": [r.reason for r in report.rejected]},
                        schema={"Where": pl.String, "Reason": pl.String})

