"""request_details.problem: what a failed response's body says went wrong when the SDK reported no error,
written at ingest (core.ingest.enrich.problem_of), so that error groups read one short column instead of
unpacking every failed request's body. Rows stored before keep NULL there and are unpacked as they were."""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("request_details")}
    if "problem" not in columns:  # else made by create_all with today's models
        op.add_column("request_details", sa.Column("problem", sa.Text(), nullable=True))


def downgrade() -> None:
    raise RuntimeError("Clientele migrations go forward only; restore a backup to return to an older version.")
