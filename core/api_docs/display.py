"""API documentation as the docs page shows it: operations grouped by tag, parameter and response tables,
authentication schemes and a line saying where the spec comes from (on top of core.api_docs)."""
from __future__ import annotations

import json
from typing import Any

import polars as pl

from core.api_docs.operations import operations
from core.api_docs.spec import DocSpec
from core.present import fmt

UNGROUPED = "Other"


def _text(value: Any) -> str:
    """A value as one line of text for a table cell ("" for nothing, JSON for structures)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def grouped_operations(spec: dict, search: str = "") -> list[tuple[str, list[dict]]]:
    """[(group, operations)] in spec order: an operation's first tag (UNGROUPED without one), each
    operation a row of core.api_docs.operations. `search` keeps operations whose method, path,
    summary or tags contain it (case-insensitive)."""
    needle = search.strip().lower()
    groups: dict[str, list[dict]] = {}
    for op in operations(spec):
        haystack = " ".join([op["method"], op["path"], op["summary"] or "", *op["tags"]]).lower()
        if needle and needle not in haystack:
            continue
        groups.setdefault(op["tags"][0] if op["tags"] else UNGROUPED, []).append(op)
    ordered = [g for g in groups if g != UNGROUPED] + ([UNGROUPED] if UNGROUPED in groups else [])
    return [(g, groups[g]) for g in ordered]


def operation_count(groups: list[tuple[str, list[dict]]]) -> int:
    return sum(len(ops) for _, ops in groups)


def parameters_table(op: dict) -> pl.DataFrame:
    """One row per parameter: Name, In (path, query, header, cookie), Required, Type, Description, Example."""
    params = op["parameters"]
    return pl.DataFrame(
        {
            "Name": [_text(p["name"]) for p in params],
            "In": [_text(p["in"]) for p in params],
            "Required": ["yes" if p["required"] else "no" for p in params],
            "Type": [_text(p["type"]) for p in params],
            "Description": [_text(p["description"]) for p in params],
            "Example": [_text(p["example"]) for p in params],
        },
        schema={c: pl.String for c in ("Name", "In", "Required", "Type", "Description", "Example")},
    )


def responses_table(op: dict) -> pl.DataFrame:
    """One row per documented response, by status code: Status, Description, Content type."""
    codes = sorted(op["responses"], key=lambda c: (not c.isdigit(), c))
    return pl.DataFrame(
        {
            "Status": codes,
            "Description": [_text(op["responses"][c]["description"]) for c in codes],
            "Content type": [_text(op["responses"][c]["content_type"]) for c in codes],
        },
        schema={"Status": pl.String, "Description": pl.String, "Content type": pl.String},
    )


def auth_text(op: dict) -> str:
    """How to authenticate for this operation, in words."""
    if not op["security"]:
        return "No authentication documented."
    schemes = "; or ".join(s["description"] for s in op["security"])
    return f"{schemes} (optional)" if op["auth_optional"] else schemes


def schemes_table(spec: dict) -> pl.DataFrame:
    """One row per authentication scheme the operations use: Scheme, How (first use first)."""
    described: dict[str, str] = {}
    for op in operations(spec):
        for scheme in op["security"]:
            described.setdefault(scheme["name"], scheme["description"])
    return pl.DataFrame({"Scheme": list(described), "How": list(described.values())},
                        schema={"Scheme": pl.String, "How": pl.String})


def source_line(doc: DocSpec, tz: str) -> str:
    """Where the shown spec comes from: "Uploaded OpenAPI spec, uploaded 2026-11-25 13:05 (Europe/Berlin)"
    or "Inferred from traffic, last inferred …"."""
    when = f"{fmt.local_time(doc.updated_at, tz)} ({fmt.zone_name(tz)})"
    if doc.source == "uploaded":
        return f"Uploaded OpenAPI spec, uploaded {when}."
    return f"Inferred from recorded traffic, last inferred {when}."


def spec_title(spec: dict) -> tuple[str, str]:
    """(title, version) from the spec's info block."""
    info = spec.get("info") or {}
    return _text(info.get("title")), _text(info.get("version"))
