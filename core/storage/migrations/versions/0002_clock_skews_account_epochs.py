"""Trust under real traffic (#10): clock_skews; users.session_epoch, random for every existing account;
invitations.user_id (a reset link's account); rejected_payloads.source_ip, and raw nullable (401s keep none).

Builds between the first release and this revision created new tables and columns at start, so a database
they wrote may already hold some of these changes: each step checks the schema before it applies.
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table("clock_skews"):
        op.create_table('clock_skews',
            sa.Column('api_id', sa.Integer(), nullable=False),
            sa.Column('sdk', sa.String(length=64), nullable=False),
            sa.Column('fault', sa.String(length=8), nullable=False),
            sa.Column('fallbacks', sa.BigInteger(), nullable=False),
            sa.Column('skew_sum_s', sa.Float(), nullable=False),
            sa.Column('min_skew_s', sa.Float(), nullable=False),
            sa.Column('max_skew_s', sa.Float(), nullable=False),
            sa.Column('last_skew_s', sa.Float(), nullable=False),
            sa.Column('last_seen', sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(['api_id'], ['apis.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('api_id', 'sdk', 'fault'),
        )

    if "session_epoch" not in _columns(inspector, "users"):
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("session_epoch", sa.String(length=32), nullable=True))
    _give_every_account_an_epoch(bind)

    if "user_id" not in _columns(inspector, "invitations"):
        with op.batch_alter_table("invitations") as batch_op:
            batch_op.add_column(sa.Column("user_id", sa.Integer(), sa.ForeignKey(
                "users.id", ondelete="SET NULL", name="invitations_user_id_fkey"), nullable=True))

    rejected = _columns(inspector, "rejected_payloads")
    if "source_ip" not in rejected or not rejected["raw"]["nullable"]:
        with op.batch_alter_table("rejected_payloads") as batch_op:
            if "source_ip" not in rejected:
                batch_op.add_column(sa.Column("source_ip", sa.String(length=64), nullable=True))
            if not rejected["raw"]["nullable"]:
                batch_op.alter_column("raw", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    raise RuntimeError("Schema downgrades are not supported by design: restore a backup instead.")


def _columns(inspector, table: str) -> dict[str, dict]:
    return {c["name"]: c for c in inspector.get_columns(table)}


def _give_every_account_an_epoch(bind) -> None:
    """Random per account, as core.auth gives each new account: its cookies and sessions carry it, so an
    account removed and invited again under the same email is one they do not reach."""
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_epoch", sa.String))
    ids = bind.scalars(sa.select(users.c.id).where(users.c.session_epoch.is_(None))).all()
    if ids:
        bind.execute(
            sa.update(users).where(users.c.id == sa.bindparam("user_id")).values(session_epoch=sa.bindparam("epoch")),
            [{"user_id": user_id, "epoch": secrets.token_hex(16)} for user_id in ids],
        )
