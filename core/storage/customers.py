"""Customer profiles and per-user customer preferences: notes, favorites, dashboard widgets, pickers.

Notes and pickers are workspace features (they refuse a Customer scope); a Customer may read only
their own profile, and asking for anyone else's looks exactly like asking for an unknown ID.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.domain.scope import Scope, require_workspace
from core.storage.dialect import insert as _insert
from core.storage.models import Api, Customer, CustomerApi, DashboardPref, Favorite, User, utcnow
from core.storage.request_log import like_pattern
from core.storage.store import NotFound

MAX_DESCRIPTION_CHARS = 5000
MAX_PICKER_LIMIT = 1000

# Customer Dashboard widgets, in display order: (key, title).
WIDGETS: list[tuple[str, str]] = [
    ("new_customers", "New Customers"),
    ("active_customers", "Active Customers"),
    ("top_customer", "Top Customer"),
    ("avg_requests_per_customer", "Average Requests per Customer"),
    ("recent_customers", "Customers List"),
    ("favorite_customers", "Favorite Customers"),
    ("top_customers_list", "Top Customers List"),
]
_WIDGET_KEYS = [key for key, _title in WIDGETS]
# dashboard_prefs rows are shared with other preferences; widget switches carry this prefix.
_WIDGET_PREFIX = "widget."


def _unknown_customer(customer_id) -> NotFound:
    return NotFound(f"No customer with ID {customer_id!r}.")


def _require_user(conn: sa.Connection, user_id: int) -> None:
    if conn.scalar(sa.select(User.id).where(User.id == user_id)) is None:
        raise NotFound(f"No user with id {user_id}.")


# ---------------------------------------------------------------- profile and notes


def customer_info(engine: sa.Engine, scope: Scope, customer_id: str) -> dict:
    """A customer's profile: display_name, attributes, description with who/when, first/last seen, APIs.

    A Customer scope gets its own profile only, without the workspace's notes (description fields
    are None); any other ID raises the same NotFound as an unknown one.
    """
    if scope.is_customer and customer_id != scope.customer_id:
        raise _unknown_customer(customer_id)
    with engine.connect() as conn:
        row = conn.execute(sa.select(Customer.__table__).where(Customer.customer_id == customer_id, scope.where(Customer.customer_id))).first()
        if row is None:
            raise _unknown_customer(customer_id)
        apis = conn.execute(
            sa.select(CustomerApi.api_id, Api.name, CustomerApi.first_seen, CustomerApi.last_seen)
            .join(Api, Api.id == CustomerApi.api_id)
            .where(CustomerApi.customer_id == customer_id)
            .order_by(Api.name, CustomerApi.api_id)
        ).all()
    notes_visible = not scope.is_customer
    return {
        "customer_id": row.customer_id,
        "display_name": row.display_name,
        "name": row.display_name or row.customer_id,
        "attributes": dict(row.attributes or {}),
        "description": row.description if notes_visible else None,
        "description_updated_by": row.description_updated_by if notes_visible else None,
        "description_updated_at": row.description_updated_at if notes_visible else None,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "apis": [{"api_id": a.api_id, "name": a.name, "first_seen": a.first_seen, "last_seen": a.last_seen} for a in apis],
    }


def set_description(engine: sa.Engine, scope: Scope, customer_id: str, text: str | None, by_email: str,
                    *, now: dt.datetime | None = None) -> dict:
    """Save the workspace's notes on a customer (blank text clears them). Returns description, by, at."""
    require_workspace(scope, "Customer notes")
    text = text or ""
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise ValueError(f"Notes are limited to {MAX_DESCRIPTION_CHARS:,} characters; this text has {len(text):,}.")
    values = {
        "description": text if text.strip() else None,
        "description_updated_by": by_email,
        "description_updated_at": now or utcnow(),
    }
    with engine.begin() as conn:
        done = conn.execute(sa.update(Customer).where(Customer.customer_id == customer_id).values(**values))
        if done.rowcount == 0:
            raise _unknown_customer(customer_id)
    return {"description": values["description"], "by": by_email, "at": values["description_updated_at"]}


def known_customers(engine: sa.Engine, scope: Scope, search: str = "", limit: int = 50) -> list[dict]:
    """Customers whose ID or display name contains `search`, most recently active first (for pickers).

    Each item: customer_id, display_name, last_seen.
    """
    require_workspace(scope, "Customer lists")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PICKER_LIMIT:
        raise ValueError(f"A customer list shows between 1 and {MAX_PICKER_LIMIT} customers.")
    stmt = sa.select(Customer.customer_id, Customer.display_name, Customer.last_seen)
    search = (search or "").strip()
    if search:
        pattern = like_pattern(search)
        stmt = stmt.where(sa.or_(Customer.customer_id.ilike(pattern, escape="\\"), Customer.display_name.ilike(pattern, escape="\\")))
    stmt = stmt.order_by(Customer.last_seen.desc().nulls_last(), Customer.customer_id).limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


# ---------------------------------------------------------------- favorites


def set_favorite(engine: sa.Engine, user_id: int, customer_id: str, on: bool) -> None:
    """Mark (on=True) or unmark a customer as one of the user's favorites; repeating is harmless."""
    with engine.begin() as conn:
        _require_user(conn, user_id)
        if conn.scalar(sa.select(Customer.customer_id).where(Customer.customer_id == customer_id)) is None:
            raise _unknown_customer(customer_id)
        if on:
            stmt = _insert(conn, Favorite).values(user_id=user_id, customer_id=customer_id, created_at=utcnow())
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "customer_id"]))
        else:
            conn.execute(sa.delete(Favorite).where(Favorite.user_id == user_id, Favorite.customer_id == customer_id))


def favorites(engine: sa.Engine, user_id: int) -> list[str]:
    """The user's favorite customer IDs, in the order they were marked."""
    with engine.connect() as conn:
        stmt = sa.select(Favorite.customer_id).where(Favorite.user_id == user_id).order_by(Favorite.created_at, Favorite.customer_id)
        return list(conn.execute(stmt).scalars())


# ---------------------------------------------------------------- dashboard widgets


def get_widget_prefs(engine: sa.Engine, user_id: int) -> dict[str, bool]:
    """{widget key: shown}, in WIDGETS order; widgets the user never switched are shown."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(DashboardPref.key, DashboardPref.value)
            .where(DashboardPref.user_id == user_id, DashboardPref.key.startswith(_WIDGET_PREFIX, autoescape=True))
        ).all()
    stored = {key.removeprefix(_WIDGET_PREFIX): value for key, value in rows}
    return {key: stored.get(key) is not False for key in _WIDGET_KEYS}


def set_widget_prefs(engine: sa.Engine, user_id: int, prefs: dict[str, bool]) -> dict[str, bool]:
    """Remember which widgets the user shows (keys not given keep their setting). Returns all prefs."""
    unknown = [key for key in prefs if key not in _WIDGET_KEYS]
    if unknown:
        raise ValueError(f"Unknown dashboard widget {unknown[0]!r}; the widgets are {', '.join(_WIDGET_KEYS)}.")
    for key, shown in prefs.items():
        if not isinstance(shown, bool):
            raise ValueError(f"The widget {key!r} can only be switched on (True) or off (False).")
    with engine.begin() as conn:
        _require_user(conn, user_id)
        for key, shown in prefs.items():
            stmt = _insert(conn, DashboardPref).values(user_id=user_id, key=_WIDGET_PREFIX + key, value=shown)
            conn.execute(stmt.on_conflict_do_update(index_elements=["user_id", "key"], set_={"value": stmt.excluded.value}))
    return get_widget_prefs(engine, user_id)
