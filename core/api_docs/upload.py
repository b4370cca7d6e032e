"""Uploaded specs: an OpenAPI 3.0/3.1 document (JSON or YAML) parsed, validated and stored for an API,
or removed so its docs are inferred from traffic again. Both are written to the audit log."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from typing import Any

import sqlalchemy as sa
import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from referencing.exceptions import PointerToNowhere, Unresolvable

from core.api_docs.spec import MAX_SPEC_DEPTH, SpecError
from core.storage import audit
from core.storage.audit import Actor
from core.storage.models import Api, utcnow
from core.storage.store import NotFound

MAX_SPEC_BYTES = 2 * 1024 * 1024
MAX_SPEC_NODES = 500_000  # YAML aliases can expand a small file into a huge tree


def parse_spec(text: str | bytes, filename: str = "") -> dict:
    """An uploaded OpenAPI 3.0/3.1 document (JSON or YAML) as a dict, validated; SpecError otherwise."""
    if isinstance(text, bytes):
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"The file is {_human_bytes(len(text))}; specs are limited to {_human_bytes(MAX_SPEC_BYTES)}.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SpecError("The file is not UTF-8 text; save the spec as UTF-8 JSON or YAML.") from exc
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"The file is {_human_bytes(size)}; specs are limited to {_human_bytes(MAX_SPEC_BYTES)}.")
    if not text.strip():
        raise SpecError("The file is empty.")
    spec = _plain(_load(text, filename))
    if not isinstance(spec, dict):
        raise SpecError("An OpenAPI spec must be a JSON or YAML object (a mapping at the top level).")
    version = spec.get("openapi")
    if version is None:
        if "swagger" in spec:
            raise SpecError("This is a Swagger 2.0 spec; upload OpenAPI 3.0 or 3.1 (convert it first, e.g. with swagger2openapi).")
        raise SpecError('The spec has no "openapi" field; OpenAPI 3.0 and 3.1 documents start with e.g. openapi: 3.1.0.')
    if not isinstance(version, str) or not re.match(r"^3\.[01]\.\d+$", version):
        raise SpecError(f'The "openapi" field is {version!r}; only OpenAPI 3.0.x and 3.1.x (as a string, e.g. "3.1.0") are supported.')
    external = _external_ref(spec)
    if external is not None:
        raise SpecError(f"The spec refers to {external!r} outside itself; upload a single self-contained file (bundle it first).")
    problem = _validation_problem(spec)
    if problem:
        raise SpecError(f"The spec is not valid OpenAPI {version}: {problem}")
    return spec


def upload_spec(engine: sa.Engine, api_id: int, text: str | bytes, filename: str = "", *,
                actor: Actor | None = None) -> dict:
    """Validate and store an API's spec, replacing the previous one. Returns the parsed spec.

    On any error (SpecError, NotFound) nothing is replaced. `actor`: who uploads it (audit log).
    """
    spec = parse_spec(text, filename)
    with engine.begin() as conn:
        name = conn.execute(
            sa.update(Api).where(Api.id == api_id).values(openapi_spec=json.dumps(spec, ensure_ascii=False), openapi_uploaded_at=utcnow())
            .returning(Api.name)
        ).scalar()
        if name is None:
            raise NotFound(f"No API with id {api_id}.")
        info = spec.get("info") if isinstance(spec.get("info"), dict) else {}
        audit.record(conn, "openapi.upload", actor=actor, target=f"api:{api_id}", detail={
            "api": name, "filename": filename[:200], "bytes": len(text.encode("utf-8") if isinstance(text, str) else text),
            "openapi": spec["openapi"], "title": str(info.get("title", ""))[:200]})
    return spec


def remove_spec(engine: sa.Engine, api_id: int, *, actor: Actor | None = None) -> None:
    """Forget an API's uploaded spec; its docs are inferred from traffic again. `actor`: who removes it (audit log)."""
    with engine.begin() as conn:
        name = conn.execute(
            sa.update(Api).where(Api.id == api_id).values(openapi_spec=None, openapi_uploaded_at=None).returning(Api.name)
        ).scalar()
        if name is None:
            raise NotFound(f"No API with id {api_id}.")
        audit.record(conn, "openapi.remove", actor=actor, target=f"api:{api_id}", detail={"api": name})


def _human_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def _load(text: str, filename: str) -> Any:
    looks_json = filename.lower().endswith(".json") or text.lstrip().startswith(("{", "["))
    if looks_json:
        try:
            return json.loads(text)
        except RecursionError:
            # json recurses once per [ or {: a hostile file would end in a RecursionError, not a message.
            raise SpecError(_TOO_DEEP) from None
        except json.JSONDecodeError as exc:
            if filename.lower().endswith(".json"):
                raise SpecError(f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from exc
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise SpecError(_TOO_DEEP) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"The file is neither valid JSON nor valid YAML: {problem}{where}.") from exc


_TOO_DEEP = f"The file is not a valid spec: it is nested more than {MAX_SPEC_DEPTH} levels deep."


def _plain(value: Any) -> Any:
    """YAML values made JSON-shaped: string keys (`200:` loads as an int), dates as ISO strings."""
    budget = [MAX_SPEC_NODES]

    def walk(v: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise SpecError("The spec is too large once expanded (YAML aliases?); upload a plain JSON or YAML file.")
        if depth > MAX_SPEC_DEPTH:
            raise SpecError(_TOO_DEEP)
        if isinstance(v, dict):
            return {str(k).lower() if isinstance(k, bool) else str(k): walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if isinstance(v, float) and v != v:
            return None
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        return str(v)

    return walk(value, 0)


def _external_ref(spec: Any) -> str | None:
    """The first $ref pointing outside the document: the validator would fetch files or URLs."""
    stack = [spec]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            ref = v.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return ref
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


def _validation_problem(spec: dict) -> str | None:
    """The validator's first complaint, made readable, or None when the spec is valid."""
    cls = OpenAPIV31SpecValidator if spec["openapi"].startswith("3.1") else OpenAPIV30SpecValidator
    try:
        errors = list(itertools.islice(cls(spec).iter_errors(), 1))
    except PointerToNowhere as exc:
        return f"the reference #{exc.ref} points to nothing in the spec."
    except Unresolvable as exc:
        return f"a reference cannot be resolved ({_trim(str(exc), 200)})."
    except RecursionError:
        return "its references loop without end, or it is nested too deeply to check."
    finally:
        # The validator memoises every instance it has validated (lru_cache on a method): drop it.
        cls.iter_errors.__wrapped__.cache_clear()
    if not errors:
        return None
    err = _deepest(errors[0])
    message = err.message
    instance = repr(err.instance) if err.instance is not None else ""
    if len(instance) > 60 and message.startswith(instance):
        message = "this value" + message[len(instance):]
    where = " › ".join(str(p) for p in err.absolute_path)
    return f"at {where}: {_trim(message, 400)}" if where else _trim(message, 400)


def _deepest(err):
    """In oneOf/anyOf failures, the sub-error that got furthest into the document says most."""
    while err.context:
        best = max(err.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) <= len(err.absolute_path):
            break
        err = best
    return err


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
