"""Specs inferred from stored traffic: observations of one API as one scope sees it, accumulated from
per-operation samples of recent requests, and the OpenAPI 3.1 document made from them.

A Customer's spec documents every operation of the API (operations, parameters and schemas from all its
traffic), but every value in it (examples, servers, counts) comes from their own requests or is generated
from the schema, so it never shows another customer's data.
"""
from __future__ import annotations

import datetime as dt
import http
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from core.api_docs.access import _api_row
from core.api_docs.examples import _example, _placeholder
from core.api_docs.exchange import _auth_schemes, _content_type, _has_body
from core.api_docs.paths import _openapi_path, _operation_id, _path_values, _summary, _tag
from core.api_docs.schema import _Builder, _kind, _kinds_schema, _schema_of, _typed
from core.api_docs.spec import _EXAMPLE_KEY, HTTP_METHODS
from core.domain.scope import Scope
from core.storage import details
from core.storage.models import Request, RequestDetail, utcnow

MAX_OPERATIONS = 500
_WORKSPACE = Scope.workspace()


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


@dataclass(frozen=True)
class _Sample:
    """One sampled request, its details unpacked (core.storage.details)."""

    id: int
    url: str
    status: int
    request_headers: Any
    request_body: Any
    query: Any
    response_headers: Any
    response_body: Any
    server: Any = None


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
        if self.scope.is_customer or after_id:
            # `api_id + 0` is not indexable. A Customer's requests are counted through their own index (without ANALYZE
            # statistics SQLite would walk every request of the API); a refresh reads only the ids stored since the last
            # one, a range of the primary key, instead of every index entry of the API.
            where = [(Request.api_id + 0) == self.api_id, *base[1:]]
        # The workspace's first count reads ix_requests_api_operation alone: (endpoint, method, status) are its columns.
        stats = conn.execute(
            sa.select(Request.endpoint, Request.method, Request.status, sa.func.count(), sa.func.min(Request.id), sa.func.max(Request.id))
            .where(*where)
            .group_by(Request.endpoint, Request.method, Request.status)
        ).all()
        fresh: Counter = Counter()  # (endpoint, method as stored) → new requests
        span: dict[tuple[str, str], tuple[int, int]] = {}
        statuses: dict[tuple[str, str], list[int]] = {}
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
            statuses.setdefault((endpoint, method), []).append(status)
        # Bounded work: the busiest operations first, each reading at most N recent rows.
        for (endpoint, method), _n in fresh.most_common(MAX_OPERATIONS):
            ids = self._newest_ids(conn, base, endpoint, method, statuses[(endpoint, method)], span[(endpoint, method)])
            rows = conn.execute(
                sa.select(
                    Request.id, Request.url, Request.status, RequestDetail.packed, RequestDetail.request_headers,
                    RequestDetail.query, RequestDetail.request_body, RequestDetail.response_headers, RequestDetail.response_body,
                )
                .outerjoin(RequestDetail, RequestDetail.request_id == Request.id)
                # The ids were chosen under `base`; its API and scope are repeated here in forms no index serves
                # (`api_id + 0`, the scope on coalesce(customer_id, '')), so that SQLite reads the ids through the
                # primary key rather than walking the whole API, or the customer's every request, through an index.
                .where(Request.id.in_(ids), (Request.api_id + 0) == self.api_id,
                       self.scope.where(sa.func.coalesce(Request.customer_id, "")))
                .order_by(Request.id.desc())
            ).all() if ids else []
            op = self._op(endpoint, method.lower())
            for row in reversed(rows):  # oldest first, so the newest sample is the one kept as example
                self._observe(op, endpoint, _Sample(row.id, row.url, row.status, **details.unpacked_masked(row._mapping)))

    def _newest_ids(self, conn: sa.Connection, base: list, endpoint: str, method: str, statuses: list[int],
                    span: tuple[int, int]) -> list[int]:
        """The ids of an operation's newest N requests: the newest N of each status, each a seek of
        ix_requests_api_operation (the id span keeps the walk short for a customer whose requests are few), merged."""
        n = self.sample_per_operation
        tops = [
            sa.select(Request.id).where(*base, Request.endpoint == endpoint, Request.method == method, Request.status == status,
                                        Request.id.between(*span)).order_by(Request.id.desc()).limit(n).subquery()
            for status in statuses
        ]
        merged = sa.union_all(*(sa.select(t.c.id) for t in tops)).subquery()
        return list(conn.execute(sa.select(merged.c.id).order_by(merged.c.id.desc()).limit(n)).scalars())

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


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


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
