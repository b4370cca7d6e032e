"""ix_requests_api_failed_ts: each API's failed requests (status 400 or above) by time, a partial index.

The Errors page reads the newest failed requests of a window; through ix_requests_api_ts it stepped over every
request of the window to find them. Building the index reads `requests` once: on a large database this upgrade
takes about as long as one scan of it. On PostgreSQL the index is made on every month partition."""
import sqlalchemy as sa
from alembic import op

from core.domain.record import FAILED_STATUS

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NAME = "ix_requests_api_failed_ts"


def upgrade() -> None:
    bind = op.get_bind()
    if NAME in {ix["name"] for ix in sa.inspect(bind).get_indexes("requests")}:
        return  # made by create_all with today's models
    failed = sa.text(f"status >= {FAILED_STATUS}")
    op.create_index(NAME, "requests", ["api_id", "timestamp"], sqlite_where=failed, postgresql_where=failed)


def downgrade() -> None:
    raise RuntimeError("Clientele migrations go forward only; restore a backup to return to an older version.")
