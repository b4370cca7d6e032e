"""The People page's tables: users and pending links, as plain rows in, display frames out."""
from __future__ import annotations

import polars as pl

from core.present.tables import fill_missing_text

_USERS_SCHEMA = {"Email": pl.String, "Name": pl.String, "Role": pl.String, "Customer ID": pl.String, "Group": pl.String,
                 "Last login": pl.Datetime("us", "UTC"), "Locked until": pl.Datetime("us", "UTC")}
_INVITES_SCHEMA = {"Email": pl.String, "Kind": pl.String, "Role": pl.String, "Customer ID": pl.String, "Group": pl.String,
                   "Invited by": pl.String, "Expires": pl.Datetime("us", "UTC")}


def role_label(role: str | None) -> str:
    """A stored role as people read it: "admin" → "Admin" (the stored value stays lowercase)."""
    return (role or "").capitalize()


def users_table(users: list[dict], tz: str) -> pl.DataFrame:
    """One row per user, as the People page shows it (times in the viewer's time zone)."""
    rows = [(u["email"], u["name"], role_label(u["role"]), u["customer_id"], u["group"], u["last_login_at"], u["locked_until"]) for u in users]
    frame = pl.DataFrame(rows, schema=_USERS_SCHEMA, orient="row")
    return fill_missing_text(frame.with_columns(pl.col("Last login", "Locked until").dt.convert_time_zone(tz)))


def invites_table(invites: list[dict], tz: str) -> pl.DataFrame:
    """One row per pending invitation or reset link (times in the viewer's time zone)."""
    rows = [(i["email"], "password reset" if i["purpose"] == "reset" else "invitation", role_label(i["role"]), i["customer_id"],
             i["group"], i["invited_by"], i["expires_at"]) for i in invites]
    frame = pl.DataFrame(rows, schema=_INVITES_SCHEMA, orient="row")
    return fill_missing_text(frame.with_columns(pl.col("Expires").dt.convert_time_zone(tz)))
