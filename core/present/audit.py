"""The audit log as the Audit log page and `python -m core audit list` show it: filters in the viewer's
words (whole days in their time zone), one page of entries newest first, and the same rows for CSV."""
from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.present import fmt
from core.storage import audit
from core.storage.audit import AuditError, AuditQuery

PAGE_SIZE = 50
# A CSV holds at most this many entries (the newest matching ones); narrow the filters for older ones.
MAX_EXPORT_ROWS = 50_000
_SCHEMA = {"Time": pl.Datetime("us", "UTC"), "User": pl.String, "User ID": pl.Int64, "From": pl.String,
           "Action": pl.String, "Target": pl.String, "Details": pl.String}
# The page's columns and their widths (px): they fit a 1366 px screen (core.present.tables.TABLE_WIDTH_PX; this
# table has no selection boxes), Details taking what is left. The user's ID is in the CSV only.
WIDTHS = {"Time": 165, "User": 175, "From": 110, "Action": 135, "Target": 170, "Details": 140}
DETAILS_SEPARATOR = " · "


def query_for(*, action: str | None = None, user: str | None = None, from_date: dt.date | None = None,
              to_date: dt.date | None = None, tz: str | None = None) -> AuditQuery:
    """The entries of one action and one user (None: any), from the start of from_date to the end of to_date
    (whole days in the viewer's zone tz, both included; None: open-ended). AuditError for an inverted range."""
    if from_date is not None and to_date is not None and to_date < from_date:
        raise AuditError("The end date is before the start date.")
    start = _day_start(from_date, tz) if from_date is not None else None
    end = _day_start(to_date + dt.timedelta(days=1), tz) if to_date is not None else None
    return AuditQuery(action=action or None, actor=user or None, start=start, end=end)


def _day_start(day: dt.date, tz: str | None) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), fmt.zone(tz)).astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class FilterChoices:
    actions: list[str]
    users: list[str]


def filter_choices(engine: sa.Engine) -> FilterChoices:
    """The actions and users the log holds: the options of the page's filters."""
    return FilterChoices(actions=audit.actions(engine), users=audit.actors(engine))


def entries_table(rows: list[dict], tz: str | None, details: Callable[[dict], str] | None = None) -> pl.DataFrame:
    """One row per entry as the CSV holds it: time in the viewer's zone, details as JSON text (or as
    `details(detail)` writes them: the page's details_text)."""
    write = details or _details_json
    data = [(r["at"], r["actor_name"], r["actor_user_id"], r["source"], r["action"], r["target"],
             write(r["detail"]) if r["detail"] else None) for r in rows]
    frame = pl.DataFrame(data, schema=_SCHEMA, orient="row")
    return frame.with_columns(pl.col("Time").dt.convert_time_zone(fmt.zone_name(tz)))


def _details_json(detail: dict) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)


def details_text(detail: dict) -> str:
    """An entry's details as people read them in a narrow cell: `method: password · remember: yes`, by name (as
    stored), leaving out what is empty (`group: null`); a nested value as compact JSON."""
    def value(v) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return DETAILS_SEPARATOR.join(f"{k.replace('_', ' ')}: {value(v)}" for k, v in detail.items() if v is not None)


@dataclass(frozen=True)
class AuditPage:
    table: pl.DataFrame
    total: int
    page: int  # 1-based, within 1..pages
    pages: int
    page_size: int

    @property
    def caption(self) -> str:
        """"Entries 51–100 of 1,234, newest first" (or that nothing matches)."""
        if not self.total:
            return "No entries match these filters."
        first = (self.page - 1) * self.page_size + 1
        last = first + self.table.height - 1
        return f"Entries {fmt.count(first)}–{fmt.count(last)} of {fmt.count(self.total)}, newest first"


def audit_page(engine: sa.Engine, query: AuditQuery, tz: str | None, page: int = 1, page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of the matching entries, newest first; a page past the last shows the last."""
    total = audit.count(engine, query)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, int(page)), pages)
    rows = audit.entries(engine, query, limit=page_size, offset=(page - 1) * page_size)
    table = entries_table(rows, tz, details_text).select(list(WIDTHS))
    return AuditPage(table=table, total=total, page=page, pages=pages, page_size=page_size)


def export_table(engine: sa.Engine, query: AuditQuery, tz: str | None, limit: int = MAX_EXPORT_ROWS) -> pl.DataFrame:
    """The newest `limit` matching entries, shaped like the page's table (for CSV)."""
    return entries_table(audit.entries(engine, query, limit=limit), tz)


def entries_json(rows: list[dict]) -> list[dict]:
    """Entries for `audit list --json`: times as ISO 8601 UTC, details as objects."""
    return [{"id": r["id"], "at": r["at"].isoformat(), "user_id": r["actor_user_id"], "user": r["actor_name"],
             "source": r["source"], "action": r["action"], "target": r["target"], "detail": r["detail"]} for r in rows]


def entries_text(rows: list[dict]) -> list[str]:
    """Entries for `audit list` in a terminal: one line each, time in UTC."""
    return [" ".join([r["at"].strftime("%Y-%m-%dT%H:%M:%SZ"), r["actor_name"], r["source"], r["action"], r["target"] or fmt.MISSING,
                      json.dumps(r["detail"], ensure_ascii=False, sort_keys=True) if r["detail"] else ""]).rstrip() for r in rows]
