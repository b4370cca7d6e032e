"""The spec to show for an API: the uploaded one, else one inferred from traffic and cached.

Inferred specs are cached per (database, API, workspace) and (database, API, customer, ID); a refresh
reads only the requests stored since the last build.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import sqlalchemy as sa

from core.api_docs.access import _api_row
from core.api_docs.infer import _WORKSPACE, _Inference
from core.api_docs.spec import DocSpec
from core.domain.scope import Scope
from core.storage.models import Api, Request, utcnow

CACHE_TTL = dt.timedelta(minutes=10)
CACHE_GROWTH = 0.01
CACHE_ENTRIES = 256

_cache_lock = threading.Lock()
_inferred: OrderedDict[tuple, "_Entry"] = OrderedDict()
_uploaded: OrderedDict[tuple, dict] = OrderedDict()


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


def clear_cache() -> None:
    """Forget cached specs (tests, and after bulk deletes)."""
    with _cache_lock:
        _inferred.clear()
        _uploaded.clear()
