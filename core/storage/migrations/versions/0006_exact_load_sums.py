"""rollup_hours.load_sum (a float sum of load times in ms) becomes load_us, the sum in whole microseconds.

Float sums depend on the order of their additions, so SQLite and PostgreSQL (and an incremental rollup and
a rebuild) disagreed in the last digit of an average; integer sums are exact in any order. Existing sums
are converted as they are (rounded to the microsecond); later additions round each request.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    columns = {c["name"] for c in sa.inspect(bind).get_columns("rollup_hours")}
    if "load_sum" in columns:  # else made by create_all with today's models: load_us is there already
        _convert(bind)
    # Rollups that 0004 just created are empty: count the requests stored so far, with the code that counts
    # every later batch (it writes today's columns, so it runs here, after the last change to them).
    if bind.execute(sa.text("SELECT 1 FROM rollup_hours LIMIT 1")).first() is None:
        from core.storage import rollups

        rollups.rebuild_on(bind)


def _convert(bind: sa.Connection) -> None:
    op.add_column("rollup_hours", sa.Column("load_us", sa.BigInteger(), nullable=False, server_default="0"))
    # Loads are never negative: SQLite's CAST truncates, which is floor here; PostgreSQL has FLOOR.
    rounded = "CAST(load_sum * 1000 + 0.5 AS INTEGER)" if bind.dialect.name == "sqlite" else "CAST(FLOOR(load_sum * 1000 + 0.5) AS BIGINT)"
    op.execute(f"UPDATE rollup_hours SET load_us = {rounded}")
    with op.batch_alter_table("rollup_hours") as batch:
        batch.drop_column("load_sum")
        batch.alter_column("load_us", server_default=None)  # the default only filled the existing rows


def downgrade() -> None:
    op.add_column("rollup_hours", sa.Column("load_sum", sa.Float(), nullable=False, server_default="0"))
    op.execute("UPDATE rollup_hours SET load_sum = load_us / 1000.0")
    with op.batch_alter_table("rollup_hours") as batch:
        batch.drop_column("load_us")
        batch.alter_column("load_sum", server_default=None)
