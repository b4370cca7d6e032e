"""API documentation: OpenAPI specs uploaded by an Admin (validated), or inferred from stored traffic.

Inferred specs are built from per-operation samples of recent requests and cached per (database, API,
workspace) and (database, API, customer, ID); a refresh reads only the requests stored since the last
build. A Customer's spec documents every operation of the API (operations, parameters and schemas from
all its traffic), but every value in it (examples, servers, counts) comes from their own requests or is
generated from the schema, so it never shows another customer's data.
"""
from __future__ import annotations

import datetime as dt
import functools
import http
import itertools
import json
import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
import yaml
from genson import SchemaBuilder
from genson.schema.strategies import SchemaStrategy
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from referencing.exceptions import PointerToNowhere, Unresolvable

from core.domain.scope import Scope, ScopeError
from core.storage.models import Api, CustomerApi, Request, RequestDetail, utcnow
from core.storage.store import NotFound

MAX_SPEC_BYTES = 2 * 1024 * 1024
MAX_SPEC_NODES = 500_000  # YAML aliases can expand a small file into a huge tree
MAX_SPEC_DEPTH = 200
CACHE_TTL = dt.timedelta(minutes=10)
CACHE_GROWTH = 0.01
CACHE_ENTRIES = 256
MAX_OPERATIONS = 500
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MASK_SCHEMA = {"type": "string", "format": "password", "description": "Masked in stored traffic."}
_MASKED_KEY = "x-clientele-masked"
_EXAMPLE_KEY = "x-clientele-example"
_EXAMPLE_HEADERS = ("content-type", "accept")
# Version-like and "api" prefixes would make every tag the same.
_NOT_A_TAG = re.compile(r"^(api|v\d+(\.\d+)?|rest)$", re.I)


class SpecError(ValueError):
    """An uploaded spec was refused; the message says why, in words for the person who uploaded it."""


@dataclass(frozen=True)
class DocSpec:
    """The spec to show for an API. `spec` is shared with the cache: read it, do not modify it."""

    spec: dict
    source: str  # "uploaded" | "inferred"
    updated_at: dt.datetime


# ---------------------------------------------------------------- uploaded specs


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


def upload_spec(engine: sa.Engine, api_id: int, text: str | bytes, filename: str = "") -> dict:
    """Validate and store an API's spec, replacing the previous one. Returns the parsed spec.

    On any error (SpecError, NotFound) nothing is replaced.
    """
    spec = parse_spec(text, filename)
    with engine.begin() as conn:
        done = conn.execute(
            sa.update(Api).where(Api.id == api_id).values(openapi_spec=json.dumps(spec, ensure_ascii=False), openapi_uploaded_at=utcnow())
        )
        if done.rowcount == 0:
            raise NotFound(f"No API with id {api_id}.")
    return spec


def remove_spec(engine: sa.Engine, api_id: int) -> None:
    """Forget an API's uploaded spec; its docs are inferred from traffic again."""
    with engine.begin() as conn:
        done = conn.execute(sa.update(Api).where(Api.id == api_id).values(openapi_spec=None, openapi_uploaded_at=None))
        if done.rowcount == 0:
            raise NotFound(f"No API with id {api_id}.")


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


# ---------------------------------------------------------------- access


def docs_apis(engine: sa.Engine, scope: Scope) -> list[dict]:
    """APIs whose docs the scope may read: [{api_id, name, has_uploaded_spec, uploaded_at}] by name."""
    query = sa.select(Api.id, Api.name, Api.openapi_uploaded_at).order_by(Api.name)
    if scope.is_customer:
        query = query.join(CustomerApi, CustomerApi.api_id == Api.id).where(CustomerApi.customer_id == scope.customer_id)
    with engine.connect() as conn:
        return [
            {"api_id": r.id, "name": r.name, "has_uploaded_spec": r.openapi_uploaded_at is not None, "uploaded_at": r.openapi_uploaded_at}
            for r in conn.execute(query)
        ]


def _api_row(conn: sa.Connection, scope: Scope, api_id: int):
    """The API's id, name and upload time, after checking the scope may read its docs."""
    if scope.is_customer:
        seen = conn.scalar(sa.select(CustomerApi.api_id).where(CustomerApi.customer_id == scope.customer_id, CustomerApi.api_id == api_id))
        if seen is None:
            raise ScopeError("Documentation for this API is not available to your account.")
    row = conn.execute(sa.select(Api.id, Api.name, Api.openapi_uploaded_at).where(Api.id == api_id)).first()
    if row is None:
        raise NotFound(f"No API with id {api_id}.")
    return row


# ---------------------------------------------------------------- specs to show

_cache_lock = threading.Lock()
_inferred: OrderedDict[tuple, "_Entry"] = OrderedDict()
_uploaded: OrderedDict[tuple, dict] = OrderedDict()
_WORKSPACE = Scope.workspace()


@dataclass
class _Entry:
    inference: "_Inference"
    watermark: int = 0
    built_at: dt.datetime | None = None
    spec: dict | None = None
    based_on: tuple | None = None  # a customer's spec: the workspace build its structure came from
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cache_key(db: str, api_id: int, scope: Scope) -> tuple:
    """Typed by scope: no customer ID (not even "*") can name the workspace's entry or another's."""
    return (db, api_id, "customer", scope.customer_id) if scope.is_customer else (db, api_id, "workspace")


def _entry(db: str, api_id: int, scope: Scope) -> _Entry:
    key = _cache_key(db, api_id, scope)
    with _cache_lock:
        entry = _inferred.get(key)
        if entry is None:
            entry = _inferred[key] = _Entry(_Inference(api_id, scope))
            while len(_inferred) > CACHE_ENTRIES:
                _inferred.popitem(last=False)
        _inferred.move_to_end(key)
    return entry


def _refresh(entry: _Entry, conn: sa.Connection, api_id: int, scope: Scope, top: int, now: dt.datetime) -> None:
    """Read the requests stored since the entry's last build, when it is due (the caller holds entry.lock)."""
    if top < entry.watermark:  # the table shrank or was recreated: start over
        entry.inference, entry.watermark, entry.spec, entry.built_at = _Inference(api_id, scope), 0, None, None
    grown = top - entry.watermark > CACHE_GROWTH * max(entry.watermark, 1)
    expired = entry.built_at is None or now - entry.built_at >= CACHE_TTL or now < entry.built_at
    if not (grown or expired):
        return
    if top > entry.watermark:
        try:
            entry.inference.update(conn, after_id=entry.watermark, upto_id=top)
        except BaseException:
            # A half-applied update would count some requests twice next time: start over.
            entry.inference, entry.watermark, entry.spec, entry.built_at = _Inference(api_id, scope), 0, None, None
            raise
    entry.watermark, entry.built_at, entry.spec = top, now, None


def spec_for(engine: sa.Engine, scope: Scope, api_id: int, *, now: dt.datetime | None = None) -> DocSpec:
    """The spec a scope sees for an API: the uploaded one if any, else one inferred from its traffic.

    Inferred specs are cached and refreshed (reading only newer requests) once the requests table has
    grown by more than 1% or after 10 minutes. A Customer's spec documents every operation of the API
    (structure from the workspace's inference), with examples only from their own requests.
    """
    now = now or utcnow()
    db = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        api = _api_row(conn, scope, api_id)
        if api.openapi_uploaded_at is not None:
            return DocSpec(_uploaded_spec(conn, db, api), "uploaded", api.openapi_uploaded_at)
        top = conn.scalar(sa.select(sa.func.max(Request.id))) or 0
        workspace = _entry(db, api_id, _WORKSPACE)
        if not scope.is_customer:
            with workspace.lock:
                _refresh(workspace, conn, api_id, _WORKSPACE, top, now)
                if workspace.spec is None:
                    workspace.spec = workspace.inference.to_spec(api.name, now)
                return DocSpec(workspace.spec, "inferred", workspace.built_at)
        own = _entry(db, api_id, scope)
        # Always the customer's lock before the workspace's: no two callers wait on each other.
        with own.lock:
            _refresh(own, conn, api_id, scope, top, now)
            with workspace.lock:
                _refresh(workspace, conn, api_id, _WORKSPACE, top, now)
                based_on = (id(workspace.inference), workspace.watermark, workspace.built_at)
                if own.spec is None or own.based_on != based_on:
                    own.spec = workspace.inference.to_spec(api.name, now, own=own.inference)
                    own.based_on = based_on
            return DocSpec(own.spec, "inferred", max(own.built_at, workspace.built_at))


def _uploaded_spec(conn: sa.Connection, db: str, api) -> dict:
    key = (db, api.id, api.openapi_uploaded_at)
    with _cache_lock:
        spec = _uploaded.get(key)
    if spec is None:
        text = conn.scalar(sa.select(Api.openapi_spec).where(Api.id == api.id))
        spec = json.loads(text)
        with _cache_lock:
            _uploaded[key] = spec
            while len(_uploaded) > 32:
                _uploaded.popitem(last=False)
    return spec


def infer_spec(engine: sa.Engine, scope: Scope, api_id: int, *, sample_per_operation: int = 50, now: dt.datetime | None = None) -> dict:
    """An OpenAPI 3.1 document inferred from the API's stored requests, as the scope sees it (not cached).

    Reads at most `sample_per_operation` recent request/response bodies per endpoint and method. For a
    Customer, operations, parameters and schemas come from all of the API's traffic, example values only
    from the customer's own requests (or generated from the schema).
    """
    now = now or utcnow()
    with engine.connect() as conn:
        api = _api_row(conn, scope, api_id)
        top = conn.scalar(sa.select(sa.func.max(Request.id))) or 0
        structure = _Inference(api_id, _WORKSPACE, sample_per_operation)
        structure.update(conn, after_id=0, upto_id=top)
        own = None
        if scope.is_customer:
            own = _Inference(api_id, scope, sample_per_operation)
            own.update(conn, after_id=0, upto_id=top)
    return structure.to_spec(api.name, now, own=own)


def clear_cache() -> None:
    """Forget cached specs (tests, and after bulk deletes)."""
    with _cache_lock:
        _inferred.clear()
        _uploaded.clear()


# ---------------------------------------------------------------- inference: values


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


def _has_body(body: Any) -> bool:
    if body is None or body == "" or body == {} or body == []:
        return False
    return not (isinstance(body, dict) and "_clientele_note" in body)  # truncated preview, not the body


def _content_type(headers: Any, body: Any) -> str:
    raw = _header(headers, "content-type")
    ctype = raw.split(";", 1)[0].strip().lower() if isinstance(raw, str) else ""
    if not re.match(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$", ctype):
        ctype = ""
    if isinstance(body, (dict, list)):
        return ctype if ctype and ("json" in ctype or "form" in ctype) else "application/json"
    return ctype or ("text/plain" if isinstance(body, str) else "application/json")


def _header(headers: Any, name: str) -> Any:
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


_API_KEY_HEADERS = re.compile(r"^(x-)?(api[-_]?key|api[-_]?token|auth[-_]?token|access[-_]?token)$", re.I)
_HTTP_SCHEMES = {"bearer": "bearerAuth", "basic": "basicAuth", "digest": "digestAuth"}


def _auth_schemes(headers: Any) -> dict[str, dict]:
    """Security schemes evidenced by a request's headers: names and header names only, never values."""
    found: dict[str, dict] = {}
    if not isinstance(headers, dict):
        return found
    for key, value in headers.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low == "authorization" and isinstance(value, str) and value.strip():
            word = value.strip().split(" ", 1)[0].lower() if " " in value.strip() else ""
            if word in _HTTP_SCHEMES:
                found[_HTTP_SCHEMES[word]] = {"type": "http", "scheme": word}
            else:
                found["authorizationHeader"] = {"type": "apiKey", "in": "header", "name": "Authorization"}
        elif _API_KEY_HEADERS.match(low):
            name = "".join(p.capitalize() for p in re.split(r"[-_]", low) if p)
            found[name[0].lower() + name[1:]] = {"type": "apiKey", "in": "header", "name": key}
    return found


# ---------------------------------------------------------------- inference: paths and names

_PARAM_SEG = re.compile(r"^(?:\{([^{}/]+)\}|:([A-Za-z_][\w-]*)|<(?:[\w]+:)?([A-Za-z_]\w*)>)$")


def _is_param(segment: str) -> bool:
    return bool(_PARAM_SEG.match(segment))


def _openapi_path(endpoint: str) -> tuple[str, dict[int, str], str]:
    """An endpoint template → (OpenAPI path, {segment index: parameter name}, shape shared by equivalent paths).

    Accepts {name}, :name and Django's <conv:name>; repeated names (/orders/{id}/items/{id}) get
    distinct ones, as OpenAPI requires.
    """
    segments = ("/" + endpoint.lstrip("/")).split("/")[1:]
    out, names, shape = [], {}, []
    used: Counter = Counter()
    for i, seg in enumerate(segments):
        m = _PARAM_SEG.match(seg)
        if m:
            name = re.sub(r"[^\w.-]", "_", next(g for g in m.groups() if g)) or "param"
            used[name] += 1
            if used[name] > 1:
                prev = _singular(out[-1]) if out and not out[-1].startswith("{") else ""
                name = f"{prev}_{name}" if prev and f"{prev}_{name}" not in used else f"{name}{used[name]}"
                used[name] += 1
            names[i] = name
            out.append("{" + name + "}")
            shape.append("{}")
        else:
            literal = seg.replace("{", "").replace("}", "")
            out.append(literal)
            shape.append(literal)
    return "/" + "/".join(out), names, "/" + "/".join(shape)


def _path_values(url: str, endpoint: str) -> dict[int, str]:
    """Values of an endpoint's parameters in an observed URL, by template segment index."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return {}
    actual = ("/" + path.lstrip("/")).rstrip("/").split("/")[1:] if path not in ("", "/") else []
    template = ("/" + endpoint.lstrip("/")).rstrip("/").split("/")[1:] if endpoint not in ("", "/") else []
    if len(actual) < len(template):
        return {}
    actual = actual[len(actual) - len(template):]  # the app may be mounted under a prefix
    return {i: actual[i] for i, seg in enumerate(template) if _is_param(seg)}


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(segment: str) -> str:
    return re.sub(r"[-_.]+", " ", segment).strip()


def _summary(method: str, path: str) -> str:
    """'List orders', 'Get order by id', 'Create order'… from the method and the path."""
    segments = [s for s in path.strip("/").split("/") if s]
    literal = [i for i, s in enumerate(segments) if not _is_param(s)]
    verb = method.lower()
    if not literal or verb in ("head", "options", "trace"):
        return f"{method.upper()} {path}"
    last = literal[-1]
    noun = _words(segments[last])
    one = _singular(noun)
    if last == len(segments) - 2:  # /orders/{id}
        param = _words(segments[-1].strip("{}"))
        if param.startswith(one + " "):
            param = param[len(one) + 1:]
        text = {"get": f"get {one}" if param == one else f"get {one} by {param}", "put": f"replace {one}", "patch": f"update {one}",
                "delete": f"delete {one}", "post": f"post to {one}"}[verb]
    elif last == len(segments) - 1:
        plural = one != noun
        if plural:
            text = {"get": f"list {noun}", "post": f"create {one}", "put": f"replace {noun}",
                    "patch": f"update {noun}", "delete": f"delete {noun}"}[verb]
        else:
            text = {"get": f"get {noun}", "post": noun, "put": f"replace {noun}", "patch": f"update {noun}",
                    "delete": f"delete {noun}"}[verb]
    else:
        return f"{method.upper()} {path}"
    return text[:1].upper() + text[1:]


def _operation_id(method: str, path: str, taken: set[str]) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path) if w]
    base = method.lower() + "".join(w[:1].upper() + w[1:] for w in words) if words else method.lower() + "Root"
    op_id, n = base, 2
    while op_id in taken:
        op_id, n = f"{base}{n}", n + 1
    taken.add(op_id)
    return op_id


def _tag(path: str) -> str | None:
    for seg in path.strip("/").split("/"):
        if seg and not _is_param(seg) and not _NOT_A_TAG.match(seg):
            return _words(seg)
    return None


# ---------------------------------------------------------------- inference: accumulation


@dataclass
class _Param:
    present: int = 0
    kinds: Counter = field(default_factory=Counter)
    items: Counter = field(default_factory=Counter)


@dataclass
class _Response:
    builder: _Builder = field(default_factory=_Builder)
    bodies: int = 0
    content_types: Counter = field(default_factory=Counter)


@dataclass
class _Op:
    """Everything observed about one operation (path shape + method)."""

    method: str
    endpoints: Counter = field(default_factory=Counter)  # template → requests (names come from the commonest)
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    samples: int = 0
    query: dict[str, _Param] = field(default_factory=dict)
    path_kinds: dict[int, Counter] = field(default_factory=dict)
    body_builder: _Builder = field(default_factory=_Builder)
    bodies: int = 0
    body_types: Counter = field(default_factory=Counter)
    responses: dict[int, _Response] = field(default_factory=dict)
    auth: Counter = field(default_factory=Counter)
    unauthenticated: int = 0
    example: dict | None = None
    example_rank: tuple = ()


class _Inference:
    """Accumulates observations of one API as seen by one scope; `update` reads only requests after an id."""

    def __init__(self, api_id: int, scope: Scope, sample_per_operation: int = 50):
        self.api_id = api_id
        self.scope = scope
        self.sample_per_operation = max(1, int(sample_per_operation))
        self.ops: dict[tuple[str, str], _Op] = {}
        self.requests = 0
        self.servers: Counter = Counter()
        self.schemes: dict[str, dict] = {}

    def update(self, conn: sa.Connection, *, after_id: int, upto_id: int) -> None:
        base = [Request.api_id == self.api_id, self.scope.where(Request.customer_id), Request.id > after_id, Request.id <= upto_id]
        where = base
        if self.scope.is_customer:
            # Without ANALYZE statistics SQLite would walk every request of the API through an api_id index;
            # `api_id + 0` is not indexable, so the customer's own index is used.
            where = [(Request.api_id + 0) == self.api_id, *base[1:]]
        stats = conn.execute(
            sa.select(Request.endpoint, Request.method, Request.status, sa.func.count(), sa.func.min(Request.id), sa.func.max(Request.id))
            .where(*where)
            .group_by(Request.endpoint, Request.method, Request.status)
        ).all()
        fresh: Counter = Counter()  # (endpoint, method as stored) → new requests
        span: dict[tuple[str, str], tuple[int, int]] = {}
        for endpoint, method, status, n, low, high in stats:
            self.requests += n
            verb = (method or "").lower()
            if verb not in HTTP_METHODS:
                continue
            op = self._op(endpoint, verb)
            op.requests += n
            op.endpoints[endpoint] += n
            op.statuses[int(status)] += n
            fresh[(endpoint, method)] += n
            old = span.get((endpoint, method), (low, high))
            span[(endpoint, method)] = (min(old[0], low), max(old[1], high))
        # Bounded work: the busiest operations first, each reading at most N recent rows.
        for (endpoint, method), _n in fresh.most_common(MAX_OPERATIONS):
            rows = conn.execute(
                sa.select(
                    Request.id, Request.url, Request.status, RequestDetail.request_headers, RequestDetail.query,
                    RequestDetail.request_body, RequestDetail.response_headers, RequestDetail.response_body,
                )
                .outerjoin(RequestDetail, RequestDetail.request_id == Request.id)
                # The id span keeps the index walk short for a customer whose requests are few.
                .where(*base, Request.endpoint == endpoint, Request.method == method, Request.id.between(*span[(endpoint, method)]))
                .order_by(Request.id.desc())
                .limit(self.sample_per_operation)
            ).all()
            op = self._op(endpoint, method.lower())
            for row in reversed(rows):  # oldest first, so the newest sample is the one kept as example
                self._observe(op, endpoint, row)

    def _op(self, endpoint: str, verb: str) -> _Op:
        key = (_openapi_path(endpoint)[2], verb)
        op = self.ops.get(key)
        if op is None:
            op = self.ops[key] = _Op(method=verb)
        return op

    def _observe(self, op: _Op, endpoint: str, row) -> None:
        op.samples += 1
        try:
            parts = urlsplit(row.url)
            if parts.scheme in ("http", "https") and parts.netloc:
                self.servers[f"{parts.scheme}://{parts.netloc}"] += 1
        except ValueError:
            parts = None
        for i, value in _path_values(row.url, endpoint).items():
            op.path_kinds.setdefault(i, Counter())[_kind(value)] += 1
        query = row.query if isinstance(row.query, dict) else {}
        for name, value in query.items():
            param = op.query.setdefault(str(name), _Param())
            param.present += 1
            param.kinds[_kind(value)] += 1
            if isinstance(value, list):
                param.items.update(_kind(v) for v in value)
        schemes = _auth_schemes(row.request_headers)
        self.schemes.update(schemes)
        op.auth.update(schemes.keys())
        if not schemes:
            op.unauthenticated += 1
        if _has_body(row.request_body):
            op.bodies += 1
            op.body_builder.add_object(row.request_body)
            op.body_types[_content_type(row.request_headers, row.request_body)] += 1
        status = int(row.status)
        response = op.responses.setdefault(status, _Response())
        if _has_body(row.response_body):
            response.bodies += 1
            response.builder.add_object(row.response_body)
            response.content_types[_content_type(row.response_headers, row.response_body)] += 1
        rank = (200 <= status < 300, _has_body(row.response_body), row.id)
        if rank > op.example_rank:
            op.example_rank = rank
            op.example = _example(row, op.method, endpoint, parts)

    # ------------------------------------------------------------ the document

    def to_spec(self, api_name: str, now: dt.datetime, *, own: "_Inference | None" = None) -> dict:
        """The OpenAPI document. With `own` (a Customer's inference), this inference gives only the
        structure (operations, parameters, schemas, statuses, auth schemes); every value shown (examples,
        servers, counts) comes from `own`, or examples are generated from the schema."""
        ops = sorted(self.ops.items(), key=lambda item: -item[1].requests)
        documented = [(key, o) for key, o in ops if not set(o.statuses) <= {404, 405}][:MAX_OPERATIONS]
        left_out = len(ops) - len(documented)
        paths: dict[str, dict] = {}
        taken: set[str] = set()
        tags: set[str] = set()
        used_schemes: set[str] = set()
        for key, op in documented:
            endpoint = op.endpoints.most_common(1)[0][0]
            path, names, _shape = _openapi_path(endpoint)
            tag = _tag(path)
            if own is None:
                operation = self._operation(op, path, names, tag, taken, op.example, f"Observed {_times(op.requests)}.")
            else:
                mine = own.ops.get(key)
                called = (f"Called {_times(mine.requests)} from your account." if mine and mine.requests
                          else "Not called from your account yet; its examples are generated from the schema.")
                operation = self._operation(op, path, names, tag, taken, mine.example if mine else None, called,
                                            synthesize=True)
            if tag:
                tags.add(tag)
            for requirement in operation.get("security", []):
                used_schemes.update(requirement)
            paths.setdefault(path, {})[op.method] = operation
        ordered = {
            path: {m: paths[path][m] for m in HTTP_METHODS if m in paths[path]} for path in sorted(paths)
        }
        if own is None:
            description = (
                f"Inferred from {self.requests:,} observed request{'s' if self.requests != 1 else ''} "
                f"on {now:%Y-%m-%d}. Schemas, parameters and examples come from up to "
                f"{self.sample_per_operation} recent requests per operation; masked values stay masked."
            )
            if left_out:
                description += (f" {left_out} operation{'s' if left_out != 1 else ''} that only answered 404/405 "
                                f"or exceeded {MAX_OPERATIONS} operations are left out.")
        else:
            # Workspace totals are not a customer's to see: only their own count.
            description = (
                f"Inferred from the API's recorded traffic on {now:%Y-%m-%d}. Examples come from your own "
                f"{own.requests:,} request{'s' if own.requests != 1 else ''} (up to {own.sample_per_operation} recent "
                f"per operation), or are generated from the schema where you have none; masked values stay masked."
            )
        servers = (own or self).servers
        spec: dict = {
            "openapi": "3.1.0",
            "info": {"title": api_name, "version": f"inferred-{now:%Y-%m-%d}", "description": description},
        }
        if servers:
            spec["servers"] = [{"url": servers.most_common(1)[0][0]}]
        spec["paths"] = ordered
        if used_schemes:
            spec["components"] = {"securitySchemes": {name: self.schemes[name] for name in sorted(used_schemes)}}
        if tags:
            spec["tags"] = [{"name": t} for t in sorted(tags)]
        return spec

    def _operation(self, op: _Op, path: str, names: dict[int, str], tag: str | None, taken: set[str],
                   observed: dict | None, description: str, *, synthesize: bool = False) -> dict:
        """One operation of the document: its structure from `op`, example values only from `observed`
        (one exchange of the viewer's), or, with `synthesize`, generated from the schema where it has none."""
        example = observed or {}
        operation: dict = {"operationId": _operation_id(op.method, path, taken)}
        if tag:
            operation["tags"] = [tag]
        operation["summary"] = _summary(op.method, path)
        operation["description"] = description
        parameters = []
        for i, name in sorted(names.items()):
            param = {"name": name, "in": "path", "required": True, "schema": _kinds_schema(op.path_kinds.get(i, Counter()))}
            if i in example.get("path_values", {}):
                param["example"] = _typed(example["path_values"][i], param["schema"])
            elif synthesize:
                param["example"] = _placeholder(param["schema"])
            parameters.append(param)
        for name in sorted(op.query):
            q = op.query[name]
            param = {"name": name, "in": "query", "required": q.present == op.samples, "schema": _kinds_schema(q.kinds, q.items)}
            if param["schema"]["type"] == "object":
                param.update(style="deepObject", explode=True)
            if name in example.get("query", {}):
                param["example"] = _typed(example["query"][name], param["schema"])
            elif synthesize:
                param["example"] = _placeholder(param["schema"])
            parameters.append(param)
        if parameters:
            operation["parameters"] = parameters
        if op.bodies:
            ctype = op.body_types.most_common(1)[0][0]
            media: dict = {"schema": _schema_of(op.body_builder)}
            if _has_body(example.get("body")):
                media["example"] = example["body"]
            elif synthesize:
                media["example"] = _placeholder(media["schema"])
            operation["requestBody"] = {"required": op.bodies == op.samples, "content": {ctype: media}}
        responses: dict = {}
        for status in sorted(op.statuses):
            if not 100 <= status <= 599:
                continue
            response: dict = {"description": _reason(status)}
            seen = op.responses.get(status)
            if seen and seen.bodies:
                media = {"schema": _schema_of(seen.builder)}
                if example.get("status") == status and _has_body(example.get("response_body")):
                    media["example"] = example["response_body"]
                elif synthesize:
                    media["example"] = _placeholder(media["schema"])
                response["content"] = {seen.content_types.most_common(1)[0][0]: media}
            responses[str(status)] = response
        operation["responses"] = responses or {"default": {"description": "No response with a valid status code observed."}}
        if op.auth:
            security = [{name: []} for name, _n in op.auth.most_common()]
            if op.unauthenticated:
                security.append({})
            operation["security"] = security
        if observed:
            operation[_EXAMPLE_KEY] = {"request": example["request"], "response": example["response"]}
        return operation


def _times(n: int) -> str:
    return f"{n:,} time{'s' if n != 1 else ''}"


_PLACEHOLDER_STRINGS = {"uuid": "00000000-0000-0000-0000-000000000000", "date": "2026-01-31",
                        "date-time": "2026-01-31T12:00:00Z", "password": "****"}


def _placeholder(schema: Any, depth: int = 0) -> Any:
    """An example value made from a schema alone, for a viewer with no request of their own to show."""
    if not isinstance(schema, dict) or depth > MAX_SPEC_DEPTH:
        return None
    branches = schema.get("anyOf")
    if isinstance(branches, list) and branches:
        typed = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
        return _placeholder((typed or branches)[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {name: _placeholder(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items")
        return [_placeholder(items, depth + 1)] if isinstance(items, dict) and items else []
    if kind == "string":
        return _PLACEHOLDER_STRINGS.get(schema.get("format"), "string")
    return {"integer": 0, "number": 0.5, "boolean": True}.get(kind)


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


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _example(row, method: str, endpoint: str, parts) -> dict:
    """One observed exchange as stored (already masked); the URL is rebuilt from the masked query."""
    query = row.query if isinstance(row.query, dict) else {}
    request_headers = row.request_headers if isinstance(row.request_headers, dict) else {}
    path = parts.path if parts is not None and parts.path else "/"
    url = path + ("?" + urlencode(query, doseq=True) if query else "")
    headers = {k: v for k, v in request_headers.items() if isinstance(k, str) and (k.lower() in _EXAMPLE_HEADERS or _auth_schemes({k: v}))}
    response_headers = {k: v for k, v in (row.response_headers if isinstance(row.response_headers, dict) else {}).items()
                        if isinstance(k, str) and k.lower() == "content-type"}
    return {
        "path_values": _path_values(row.url, endpoint),
        "query": query,
        "body": row.request_body,
        "status": int(row.status),
        "response_body": row.response_body,
        "request": {"method": method.upper(), "url": url, "headers": headers, "body": row.request_body if _has_body(row.request_body) else None},
        "response": {"status": int(row.status), "headers": response_headers,
                     "body": row.response_body if _has_body(row.response_body) else None},
    }


# ---------------------------------------------------------------- display and download


def operations(spec: dict) -> list[dict]:
    """One row per operation of a spec (uploaded or inferred), local $refs resolved, for display.

    Row: {path, method, operation_id, summary, description, tags, deprecated, parameters: [{name, in,
    required, type, description, example, schema}], request_body: {required, content_type, schema,
    example} | None, responses: {code: {description, content_type, schema, example}}, security:
    [{name, description}], auth_optional, example_request: {method, url, headers, body} | None,
    example_response: {status, headers, body} | None}.
    """
    resolve = functools.partial(_resolve, spec)
    schemes = resolve((spec.get("components") or {}).get("securitySchemes") or {})
    rows = []
    for path, item in (spec.get("paths") or {}).items():
        item = resolve(item)
        if not isinstance(item, dict):
            continue
        shared = [resolve(p) for p in item.get("parameters") or []]
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params: dict[tuple, dict] = {}
            for p in shared + [resolve(p) for p in op.get("parameters") or []]:
                if isinstance(p, dict) and "name" in p:
                    params[(p.get("name"), p.get("in"))] = p
            body = resolve(op.get("requestBody")) if op.get("requestBody") else None
            request_body = None
            if isinstance(body, dict):
                ctype, media = _first_media(resolve(body.get("content") or {}))
                request_body = {"required": bool(body.get("required")), "content_type": ctype,
                                "schema": media.get("schema"), "example": _media_example(media, resolve)}
            responses = {}
            for code, response in (op.get("responses") or {}).items():
                response = resolve(response)
                if not isinstance(response, dict):
                    continue
                ctype, media = _first_media(resolve(response.get("content") or {}))
                responses[str(code)] = {"description": response.get("description", ""), "content_type": ctype,
                                        "schema": media.get("schema"), "example": _media_example(media, resolve)}
            requirements = op.get("security", spec.get("security")) or []
            names = list(dict.fromkeys(name for req in requirements if isinstance(req, dict) for name in req))
            observed = op.get(_EXAMPLE_KEY) or {}
            example_request = dict(observed["request"], method=method.upper()) if observed.get("request") else None
            example_response = observed.get("response")
            if example_request is None and request_body and request_body["example"] is not None:
                example_request = {"method": method.upper(), "url": path, "headers": {"content-type": request_body["content_type"]},
                                   "body": request_body["example"]}
            if example_response is None:
                for code, response in sorted(responses.items()):
                    if response["example"] is not None:
                        example_response = {"status": code, "headers": {"content-type": response["content_type"]}, "body": response["example"]}
                        break
            rows.append({
                "path": path,
                "method": method.upper(),
                "operation_id": op.get("operationId"),
                "summary": op.get("summary") or f"{method.upper()} {path}",
                "description": op.get("description") or "",
                "tags": list(op.get("tags") or []),
                "deprecated": bool(op.get("deprecated")),
                "parameters": [_param_row(p, resolve) for p in params.values()],
                "request_body": request_body,
                "responses": responses,
                "security": [{"name": n, "description": _scheme_text(resolve(schemes.get(n)))} for n in names],
                "auth_optional": any(req == {} for req in requirements),
                "example_request": example_request,
                "example_response": example_response,
            })
    return rows


def _resolve(spec: dict, value: Any, depth: int = 0) -> Any:
    """Follow a local $ref ('#/components/…'); anything unresolvable is returned as it is."""
    while isinstance(value, dict) and isinstance(value.get("$ref"), str) and value["$ref"].startswith("#/") and depth < 20:
        target: Any = spec
        for part in value["$ref"][2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return value
        value, depth = target, depth + 1
    return value


def _first_media(content: dict) -> tuple[str | None, dict]:
    if not isinstance(content, dict) or not content:
        return None, {}
    ctype = next((c for c in content if "json" in c), next(iter(content)))
    media = content[ctype]
    return ctype, media if isinstance(media, dict) else {}


def _media_example(media: dict, resolve) -> Any:
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, dict):
        for ex in examples.values():
            ex = resolve(ex)
            if isinstance(ex, dict) and "value" in ex:
                return ex["value"]
    return None


def _param_row(p: dict, resolve) -> dict:
    schema = resolve(p.get("schema")) or {}
    kind = schema.get("type", "") if isinstance(schema, dict) else ""
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if isinstance(schema, dict) and schema.get("format"):
        kind = f"{kind} ({schema['format']})" if kind else schema["format"]
    example = p.get("example")
    if example is None and isinstance(schema, dict):
        example = schema.get("example")
    return {"name": p.get("name"), "in": p.get("in"), "required": bool(p.get("required")), "type": kind or "any",
            "description": p.get("description") or "", "example": example, "schema": schema}


def _scheme_text(scheme: Any) -> str:
    if not isinstance(scheme, dict):
        return "Unknown scheme"
    kind = scheme.get("type")
    if kind == "http":
        word = str(scheme.get("scheme", "")).lower()
        return {"bearer": "HTTP bearer token (Authorization: Bearer …)", "basic": "HTTP basic (Authorization: Basic …)"}.get(
            word, f"HTTP {word} authentication")
    if kind == "apiKey":
        return f"API key in {scheme.get('in', 'header')} {scheme.get('name', '')}".rstrip()
    if kind == "oauth2":
        return "OAuth 2"
    if kind == "openIdConnect":
        return "OpenID Connect"
    if kind == "mutualTLS":
        return "Mutual TLS"
    return str(kind or "Unknown scheme")


def to_json(spec: dict) -> str:
    """The spec as indented JSON, for download."""
    return json.dumps(spec, indent=2, ensure_ascii=False)


class _YamlDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """Writes a value seen twice (an example reused in two places) in full, not as an &id001 alias."""

    def ignore_aliases(self, data):
        return True


def to_yaml(spec: dict) -> str:
    """The spec as YAML (keys in document order), for download."""
    return yaml.dump(spec, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True, width=120)
