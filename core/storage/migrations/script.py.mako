"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}. Runs on SQLite and PostgreSQL: change existing tables
inside op.batch_alter_table (SQLite rebuilds the table). A downgrade is not supported.
"""
import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    raise RuntimeError("Schema downgrades are not supported by design: restore a backup instead.")
