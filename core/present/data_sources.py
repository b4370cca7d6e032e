"""What the Data page (Admin) shows and does: APIs and rejected payloads as tables, file imports
with a per-file progress report, and SDK clocks the collector did not believe (on top of core.storage.store
and core.ingest.files)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.ingest.files import ImportReport, import_bytes
from core.present import fmt
from core.storage import clock_skews, store

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
    Source IP (the collector's client; empty for imports), Reason, Size. The raw text is not in the table
    (it is shown on its own, as text)."""
    return pl.DataFrame(
        {
            "ID": [r["id"] for r in rows],
            "Received": [fmt.local_time(r["received_at"], tz) for r in rows],
            "Source": [r["source"] for r in rows],
            "Source IP": [r.get("source_ip") or "" for r in rows],
            "Reason": [r["reason"] for r in rows],
            "Size": [fmt.size(r["raw_size"]) for r in rows],
        },
        schema={"ID": pl.Int64, "Received": pl.String, "Source": pl.String, "Source IP": pl.String, "Reason": pl.String,
                "Size": pl.String},
    )


def import_files(engine: sa.Engine, files: list[tuple[str, bytes]], api_key: str | None = None,
                 on_file: Callable[[int, str], None] | None = None, timestamps: str = "auto") -> ImportReport:
    """Import uploaded files one after the other (core.ingest.files.import_bytes), calling
    on_file(files done, next file name) before each; one report for all. A file that cannot be read
    at all is reported as rejected; the others are still imported. timestamps: see import_bytes."""
    total = ImportReport()
    for done, (name, data) in enumerate(files):
        if on_file:
            on_file(done, name)
        report = import_bytes(engine, [(name, data)], api_key=api_key, timestamps=timestamps)
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


# ---------------------------------------------------------------- clocks

TIMESTAMP_CHOICES = {"auto": "Per SDK (Django: local time in server.timezone; others: UTC)", "utc": "UTC",
                     "local": "Local time in each payload's server.timezone"}


CLOCK_FAULTS = {
    "clock": "Clock off: receive time stored",
    "zone": "Zone mislabelled: timestamps are UTC (corrected)",
}


def skew_text(seconds: float) -> str:
    """How far a clock is off, in words: "20 min ahead", "5 h 30 min behind", "3 d ahead", "54 years behind"."""
    direction = "ahead" if seconds >= 0 else "behind"
    minutes = round(abs(seconds) / 60)
    if minutes < 60:
        size = f"{minutes} min"
    elif minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        size = f"{hours} h" + (f" {rest} min" if rest else "")
    elif minutes < 365 * 24 * 60:
        size = f"{round(minutes / (24 * 60))} d"
    else:
        size = f"{round(minutes / (365.25 * 24 * 60)):,} years"
    return f"{size} {direction}"


@dataclass(frozen=True)
class ClockReport:
    """SDK clocks the collector did not believe, and requests dated after now (file imports)."""

    skews: pl.DataFrame  # one row per (API, SDK, fault): API, SDK, Problem, Requests, Typical skew, Range, Last seen
    future_requests: int
    future_latest: dt.datetime | None

    def future_text(self, tz: str) -> str | None:
        """The future-dated requests in words, or None when there are none."""
        if not self.future_requests:
            return None
        n = self.future_requests
        return (f"{fmt.count(n)} request{'s are' if n != 1 else ' is'} dated in the future (the latest "
                f"{fmt.local_time(self.future_latest, tz)} {fmt.zone_name(tz)}), from a clock ahead of this server's. "
                f"All Time includes {'them' if n != 1 else 'it'}; the other time windows end now.")


def clock_report(engine: sa.Engine, now: dt.datetime, tz: str) -> ClockReport:
    """Which API's SDK sends timestamps the collector replaced by the receive time (a clock that is
    wrong, or a time zone that is mislabelled), by how much, and how many requests are dated after now."""
    rows = clock_skews.listed(engine)
    skews = pl.DataFrame(
        {
            "API": [r["api_name"] for r in rows],
            "SDK": [r["sdk"] or "(not named)" for r in rows],
            "Problem": [CLOCK_FAULTS.get(r["fault"], r["fault"]) for r in rows],
            "Requests": [r["fallbacks"] for r in rows],
            "Typical skew": [skew_text(r["mean_skew_s"]) for r in rows],
            "Range": [_range_text(r["min_skew_s"], r["max_skew_s"]) for r in rows],
            "Last seen": [fmt.local_time(r["last_seen"], tz) for r in rows],
        },
        schema={"API": pl.String, "SDK": pl.String, "Problem": pl.String, "Requests": pl.Int64, "Typical skew": pl.String,
                "Range": pl.String, "Last seen": pl.String},
    )
    count, latest = store.future_requests(engine, now)
    return ClockReport(skews, count, latest)


def _range_text(low_s: float, high_s: float) -> str:
    low, high = skew_text(low_s), skew_text(high_s)
    return low if low == high else f"{low} to {high}"
