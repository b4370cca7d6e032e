"""request_details.packed: a request's headers, query, bodies and server facts as one zstd frame compressed with a
shipped dictionary (core.storage.details), instead of six JSON columns (several times smaller; README,
Performance). Rows stored before keep their JSON columns, which stay for them; nothing is rewritten, so the
upgrade of a large database is one ADD COLUMN."""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("request_details")}
    if "packed" not in columns:  # else made by create_all with today's models
        op.add_column("request_details", sa.Column("packed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    raise RuntimeError("Clientele migrations go forward only; restore a backup to return to an older version.")
