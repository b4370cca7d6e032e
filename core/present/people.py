"""The People page's tables: users and pending links, as plain rows in, display frames out."""
from __future__ import annotations

import polars as pl

from core.present.fmt import local_time
from core.present.tables import fill_missing_text

# Times are text in the viewer's zone, to the minute, and "–" when there is none (a never-set date would show
# as a grey "None" in a date column).
_USERS_SCHEMA = {"Email": pl.String, "Name": pl.String, "Role": pl.String, "Customer ID": pl.String, "Group": pl.String,
                 "Last login": pl.String, "Locked until": pl.String}
_INVITES_SCHEMA = {"Email": pl.String, "Kind": pl.String, "Role": pl.String, "Customer ID": pl.String, "Group": pl.String,
                   "Invited by": pl.String, "Expires": pl.String}


def picked_customer(known: str | None, typed: str | None) -> str | None:
    """The customer ID of the invite and role forms: a known customer picked from the list, or an ID typed in the
    box beside it, never both (which one was meant cannot be guessed). A separate box, not a list that accepts new
    entries: such a list offers the text being typed first, and Enter would take half an ID as a new one.
    ValueError with the message to show when both differ."""
    typed = (typed or "").strip() or None
    if known and typed and typed != known:
        raise ValueError("Pick a known customer or type a new customer ID, not both.")
    return known or typed


def role_label(role: str | None) -> str:
    """A stored role as people read it: "admin" → "Admin" (the stored value stays lowercase)."""
    return (role or "").capitalize()


# What each role sees, in words short enough for the login screen's demo accounts table (DEMO_ACCOUNT_WIDTHS).
_ROLE_SEES = {"admin": "Everything", "member": "All customers"}
# Display widths (px) of that table: together they fit the login panel at 1366 px (590 px).
DEMO_ACCOUNT_WIDTHS = {"Email": 200, "Password": 170, "Role": 75, "Sees": 140}


def demo_accounts_table(accounts: list[dict]) -> pl.DataFrame:
    """The login screen's demo accounts (core.demo.accounts.DEMO_ACCOUNTS): Email, Password, Role, and what the
    account sees: "Everything" (Admin), "All customers" (Member), its customer's name (Customer)."""
    rows = [(a["email"], a["password"], role_label(a["role"]),
             _ROLE_SEES.get(a["role"]) or a.get("customer_name") or a.get("customer_id")) for a in accounts]
    return pl.DataFrame(rows, schema={"Email": pl.String, "Password": pl.String, "Role": pl.String, "Sees": pl.String},
                        orient="row")


def users_table(users: list[dict], tz: str) -> pl.DataFrame:
    """One row per user, as the People page shows it (times in the viewer's time zone)."""
    rows = [(u["email"], u["name"], role_label(u["role"]), u["customer_id"], u["group"], local_time(u["last_login_at"], tz),
             local_time(u["locked_until"], tz)) for u in users]
    return fill_missing_text(pl.DataFrame(rows, schema=_USERS_SCHEMA, orient="row"))


def invites_table(invites: list[dict], tz: str) -> pl.DataFrame:
    """One row per pending invitation or reset link (times in the viewer's time zone)."""
    rows = [(i["email"], "password reset" if i["purpose"] == "reset" else "invitation", role_label(i["role"]), i["customer_id"],
             i["group"], i["invited_by"], local_time(i["expires_at"], tz)) for i in invites]
    return fill_missing_text(pl.DataFrame(rows, schema=_INVITES_SCHEMA, orient="row"))
