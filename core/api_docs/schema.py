"""Schemas from observed values: genson with a strategy for masked strings ('****'), the kind of a
query or path value ('17' is an integer), and an observed string typed by its schema."""
from __future__ import annotations

import re
from collections import Counter
from typing import Any

from genson import SchemaBuilder
from genson.schema.strategies import SchemaStrategy

_MASK_SCHEMA = {"type": "string", "format": "password", "description": "Masked in stored traffic."}
_MASKED_KEY = "x-clientele-masked"


def _is_masked(value: Any) -> bool:
    """A value masked at capture or ingest: '****', or 'Bearer ****' (scheme word kept)."""
    if not isinstance(value, str) or "*" not in value:
        return False
    credential = value.split(" ", 1)[1] if " " in value.strip() else value
    return bool(credential) and set(credential.strip()) == {"*"}


class _Masked(SchemaStrategy):
    """genson strategy for masked strings, so '****' does not turn an integer field into a string one."""

    KEYWORDS = ("type", _MASKED_KEY)

    @classmethod
    def match_schema(cls, schema):
        return schema.get(_MASKED_KEY) is True

    @classmethod
    def match_object(cls, obj):
        return _is_masked(obj)

    def to_schema(self):
        return {_MASKED_KEY: True}


class _Builder(SchemaBuilder):
    EXTRA_STRATEGIES = (_Masked,)


def _schema_of(builder: _Builder) -> dict:
    return _unmask_schema(builder.to_schema())


def _unmask_schema(schema: Any) -> Any:
    """Drop the masked marker where real values told the type; describe it where only masks were seen."""
    if isinstance(schema, list):
        return [_unmask_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get(_MASKED_KEY) is True:
        return dict(_MASK_SCHEMA)
    out = {k: (v if k in ("required", "type") else _unmask_schema(v)) for k, v in schema.items() if k != "$schema"}
    if "properties" in schema:
        out["properties"] = {name: _unmask_schema(s) for name, s in schema["properties"].items()}
    branches = schema.get("anyOf")
    if isinstance(branches, list) and any(isinstance(b, dict) and b.get(_MASKED_KEY) is True for b in branches):
        real = [_unmask_schema(b) for b in branches if not (isinstance(b, dict) and b.get(_MASKED_KEY) is True)]
        del out["anyOf"]
        if len(real) == 1 and real[0].get("type") == "null":
            out.update(_MASK_SCHEMA, type=["string", "null"])
        elif len(real) == 1:
            out.update(real[0])
        else:
            out["anyOf"] = real
    return out


_INT = re.compile(r"^-?\d{1,18}$")
_NUM = re.compile(r"^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _kind(value: Any) -> str:
    """The type a query or path value looks like (values arrive as strings from most SDKs)."""
    if _is_masked(value):
        return "masked"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "string"
    text = str(value)
    if _INT.match(text):
        return "integer"
    if _NUM.match(text):
        return "number"
    if text.lower() in ("true", "false"):
        return "boolean"
    if _UUID.match(text):
        return "uuid"
    if _DATE.match(text):
        return "date"
    if _DATETIME.match(text):
        return "date-time"
    return "string"


def _kinds_schema(kinds: Counter, items: Counter | None = None) -> dict:
    """One parameter schema from the kinds of its observed values."""
    seen = {k for k in kinds if k != "masked"}
    if not seen:
        return dict(_MASK_SCHEMA) if kinds else {"type": "string"}
    if seen == {"array"}:
        return {"type": "array", "items": _kinds_schema(items or Counter())}
    if seen == {"object"}:
        return {"type": "object"}
    if seen == {"integer"}:
        return {"type": "integer"}
    if seen <= {"integer", "number"}:
        return {"type": "number"}
    if seen == {"boolean"}:
        return {"type": "boolean"}
    if len(seen) == 1 and seen & {"uuid", "date", "date-time"}:
        return {"type": "string", "format": next(iter(seen))}
    return {"type": "string"}


def _typed(value: Any, schema: dict) -> Any:
    """An observed string value as the type its schema says ('17' → 17 for an integer)."""
    if not isinstance(value, str):
        return value
    kind = schema.get("type")
    if kind == "integer" and _INT.match(value):
        return int(value)
    if kind == "number" and _NUM.match(value):
        return float(value) if not _INT.match(value) else int(value)
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
