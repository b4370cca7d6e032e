"""request_details.timestamp, and on PostgreSQL `requests` and `request_details` partitioned by month
(core.storage.partitions): the rows are copied into the partitioned tables, so on a large PostgreSQL database
this upgrade takes about as long as copying both tables. SQLite only gains the (NULL) column."""
import sqlalchemy as sa
from alembic import op

from core.storage import partitions

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    columns = {c["name"] for c in sa.inspect(bind).get_columns("request_details")}
    if "timestamp" not in columns:  # else made by create_all with today's models
        op.add_column("request_details", sa.Column("timestamp", sa.DateTime(), nullable=True))
    partitions.adopt(bind)


def downgrade() -> None:
    raise RuntimeError("Clientele migrations go forward only; restore a backup to return to an older version.")
