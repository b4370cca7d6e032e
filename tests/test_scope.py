"""core.domain.scope: the single customer filter (SQL and Polars), its assertion, and the workspace guard."""
from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa

from core.domain.scope import Scope, ScopeError, require_workspace, scope_for

FRAME = pl.DataFrame({"customer_id": ["a", "b", None, "a"], "n": [1, 2, 3, 4]})


def test_a_customer_scope_keeps_only_its_rows():
    assert Scope.customer("a").filter(FRAME).get_column("n").to_list() == [1, 4]


def test_a_workspace_scope_keeps_every_row_including_unattributed():
    assert Scope.workspace().filter(FRAME).height == 4


def test_the_filter_works_on_lazy_frames_and_categoricals():
    lazy = FRAME.with_columns(pl.col("customer_id").cast(pl.Categorical)).lazy()
    assert Scope.customer("b").filter(lazy).collect().get_column("n").to_list() == [2]


def test_a_frame_of_only_the_customers_rows_is_returned_as_it_is_and_any_other_row_still_goes():
    """The filter skips the copy when every row is theirs already; one unattributed or foreign row, even among
    categoricals, and it filters as before."""
    mine = FRAME.filter(pl.col("customer_id") == "a")
    assert Scope.customer("a").filter(mine) is mine
    for other in (None, "b"):
        mixed = pl.concat([mine, pl.DataFrame({"customer_id": [other], "n": [9]}, schema=FRAME.schema)])
        for frame in (mixed, mixed.with_columns(pl.col("customer_id").cast(pl.Categorical))):
            assert Scope.customer("a").filter(frame).get_column("n").to_list() == [1, 4]
    assert Scope.customer("a").filter(FRAME.clear()).height == 0


def test_check_refuses_a_frame_with_another_customers_row():
    with pytest.raises(ScopeError, match="outside your account"):
        Scope.customer("a").check(FRAME)


def test_check_refuses_unattributed_rows_for_a_customer():
    with pytest.raises(ScopeError):
        Scope.customer("a").check(FRAME.filter(pl.col("n") != 2))


def test_check_passes_a_frame_of_only_the_customers_rows():
    mine = FRAME.filter(pl.col("customer_id") == "a")
    assert Scope.customer("a").check(mine) is mine


def test_the_sql_condition_names_the_customer():
    col = sa.column("customer_id")
    compiled = Scope.customer("a").where(col).compile(compile_kwargs={"literal_binds": True})
    assert str(compiled) == "customer_id = 'a'"


def test_the_workspace_sql_condition_is_true():
    assert str(Scope.workspace().where(sa.column("customer_id")).compile()) == "true"


def test_require_workspace_refuses_customers_with_a_safe_message():
    with pytest.raises(ScopeError, match="^Customer counts are not available to customer accounts.$"):
        require_workspace(Scope.customer("a"), "Customer counts")


def test_require_workspace_lets_members_through():
    assert require_workspace(Scope.workspace("member")) is None


def test_a_customer_account_without_an_id_is_refused():
    with pytest.raises(ScopeError, match="not bound to a customer ID"):
        scope_for("customer", None)


def test_scope_for_a_member_is_a_workspace_scope():
    assert scope_for("member", "ignored") == Scope(role="member")


def test_an_unknown_role_is_refused():
    with pytest.raises(ScopeError, match="Unknown role"):
        Scope(role="owner")


def test_check_compares_categoricals_by_value():
    frame = FRAME.with_columns(pl.col("customer_id").cast(pl.Categorical))
    with pytest.raises(ScopeError):
        Scope.customer("a").check(frame.filter(pl.col("n") != 3))


def test_check_refuses_a_categorical_frame_for_an_id_never_seen():
    frame = FRAME.with_columns(pl.col("customer_id").cast(pl.Categorical)).filter(pl.col("n") == 1)
    with pytest.raises(ScopeError):
        Scope.customer("never-seen-id-42").check(frame)
