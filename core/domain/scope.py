"""Scope: who is looking, and the one place that narrows request data to a customer.

Every read of request data takes a Scope. A Customer scope sees exactly one customer ID; workspace
scopes (Admin, Member) see everything. Workspace aggregates call `require_workspace` first.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from core.domain.errors import ClienteleError

WORKSPACE_ROLES = ("admin", "member")
ROLES = ("admin", "member", "customer")


class ScopeError(ClienteleError, PermissionError):
    """The viewer may not see this; the message is safe to show (it names nothing of others)."""


@dataclass(frozen=True)
class Scope:
    role: str
    customer_id: str | None = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ScopeError(f"Unknown role {self.role!r}.")
        if self.role == "customer" and not self.customer_id:
            raise ScopeError("This customer account is not bound to a customer ID; ask an admin to fix it.")
        if self.role != "customer" and self.customer_id is not None:
            raise ScopeError("Workspace scopes are not bound to a customer.")

    @classmethod
    def workspace(cls, role: str = "admin") -> "Scope":
        return cls(role=role)

    @classmethod
    def customer(cls, customer_id: str) -> "Scope":
        return cls(role="customer", customer_id=customer_id)

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"

    # The single filter, in its two forms (SQL and Polars).
    def where(self, column: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """SQL condition restricting `column` (a customer_id column) to this scope."""
        return column == self.customer_id if self.is_customer else sa.true()

    def filter(self, frame: pl.DataFrame | pl.LazyFrame, column: str = "customer_id"):
        """The frame restricted to this scope."""
        if not self.is_customer:
            return frame
        if isinstance(frame, pl.DataFrame) and column in frame.columns:
            mine = (frame.get_column(column) == self.customer_id).fill_null(False)
            return frame if mine.all() else frame.filter(mine)  # all theirs already: the frame itself, not a copy
        return frame.filter(pl.col(column) == self.customer_id)

    def check(self, frame: pl.DataFrame, column: str = "customer_id") -> pl.DataFrame:
        """Assert a materialised frame holds only this scope's rows (defence in depth); returns it."""
        if self.is_customer and frame.height and column in frame.columns:
            ids = frame.get_column(column)
            # Compare categoricals as they are: casting a million codes to strings costs ~30 ms a check.
            if not (ids.dtype == pl.String or isinstance(ids.dtype, pl.Categorical)):
                ids = ids.cast(pl.String)
            if ids.null_count() or (ids != self.customer_id).any():
                raise ScopeError("Refused: the data requested is outside your account.")
        return frame


def scope_for(role: str, customer_id: str | None) -> Scope:
    """The Scope of a logged-in user (role and customer ID as read from the database)."""
    if role == "customer":
        return Scope.customer(customer_id or "")
    return Scope.workspace(role)


def require_workspace(scope: Scope, what: str = "Workspace totals") -> None:
    """Workspace aggregates (totals, shares, customer counts, other customers) refuse Customer scopes."""
    if scope.is_customer:
        raise ScopeError(f"{what} are not available to customer accounts.")
