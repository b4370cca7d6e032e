"""Alerts (#13): alert_rules (a metric of an API, customer or segment over a window, against a threshold,
with its state) and alert_deliveries (each notification of a change of state, with its attempts).

Like 0003, a table that a build using create_all already made is left as it is.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'alert_rules' not in existing:
        op.create_table('alert_rules',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('name', sa.String(length=200), nullable=False),
            sa.Column('api_id', sa.Integer(), nullable=False),
            sa.Column('customer_id', sa.String(length=255), nullable=True),
            sa.Column('segment_key', sa.String(length=100), nullable=True),
            sa.Column('segment_value', sa.String(length=255), nullable=True),
            sa.Column('metric', sa.String(length=32), nullable=False),
            sa.Column('comparison', sa.String(length=8), nullable=False),
            sa.Column('threshold', sa.Float(), nullable=False),
            sa.Column('window', sa.String(length=8), nullable=False),
            sa.Column('notify', sa.JSON(), nullable=False),
            sa.Column('muted', sa.Boolean(), nullable=False),
            sa.Column('created_by', sa.String(length=320), nullable=False),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('owner_user_id', sa.Integer(), nullable=True),
            sa.Column('state', sa.String(length=8), nullable=False),
            sa.Column('state_changed_at', sa.DateTime(), nullable=True),
            sa.Column('last_value', sa.Float(), nullable=True),
            sa.Column('last_evaluated_at', sa.DateTime(), nullable=True),
            sa.ForeignKeyConstraint(['api_id'], ['apis.id'], ondelete='CASCADE'),
            sa.ForeignKeyConstraint(['owner_user_id'], ['users.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_alert_rules_api', 'alert_rules', ['api_id'], unique=False)
        op.create_index('ix_alert_rules_owner', 'alert_rules', ['owner_user_id'], unique=False)
    if 'alert_deliveries' not in existing:
        op.create_table('alert_deliveries',
            sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
            sa.Column('rule_id', sa.Integer(), nullable=False),
            sa.Column('state', sa.String(length=8), nullable=False),
            sa.Column('payload', sa.Text(), nullable=False),
            sa.Column('destination', sa.String(length=2048), nullable=False),
            sa.Column('attempts', sa.Integer(), nullable=False),
            sa.Column('status', sa.String(length=8), nullable=False),
            sa.Column('last_error', sa.Text(), nullable=True),
            sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
            sa.Column('created_at', sa.DateTime(), nullable=False),
            sa.Column('sent_at', sa.DateTime(), nullable=True),
            sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_alert_deliveries_due', 'alert_deliveries', ['status', 'next_attempt_at'], unique=False)
        op.create_index('ix_alert_deliveries_rule', 'alert_deliveries', ['rule_id', 'created_at'], unique=False)


def downgrade() -> None:
    raise RuntimeError("Clientele migrations go forward only; restore a backup to return to an older version.")
