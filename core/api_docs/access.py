"""Which APIs' docs a scope may read: a Customer only those their ID has called."""
from __future__ import annotations

import sqlalchemy as sa

from core.domain.scope import Scope, ScopeError
from core.storage.models import Api, CustomerApi
from core.storage.store import NotFound


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
