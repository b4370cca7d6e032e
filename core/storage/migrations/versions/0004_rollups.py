"""Growth (#12): rollup_hours and rollup_load_bins (requests summed per API × hour × customer × method ×
endpoint, with load-time histograms) and rollup_state; filled from the requests already stored."""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

def _key() -> list[sa.Column]:
    return [
        sa.Column('api_id', sa.Integer(), nullable=False),
        sa.Column('hour', sa.DateTime(), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('endpoint', sa.String(length=512), nullable=False),
    ]


def upgrade() -> None:
    # A database created by create_all with today's models (a development build before migrations, see
    # 0002) may hold these tables already; they are then complete, or rebuilt below when empty.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'rollup_hours' not in existing:
        _create_rollup_hours()
    if 'rollup_load_bins' not in existing:
        _create_rollup_load_bins()
    if 'rollup_state' not in existing:
        op.create_table('rollup_state',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('epoch', sa.BigInteger(), nullable=False),
            sa.Column('raw_since', sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint('id'),
        )
    # The requests stored so far are counted by 0006, the newest migration to change rollup_hours: the
    # counting code writes today's columns, which only exist from there on.


def _create_rollup_hours() -> None:
    op.create_table('rollup_hours', *_key(),
        sa.Column('requests', sa.BigInteger(), nullable=False),
        sa.Column('failed', sa.BigInteger(), nullable=False),
        sa.Column('status_4xx', sa.BigInteger(), nullable=False),
        sa.Column('status_5xx', sa.BigInteger(), nullable=False),
        sa.Column('load_sum', sa.Float(), nullable=False),
        sa.Column('size_sum', sa.BigInteger(), nullable=False),
        sa.Column('first_ts', sa.DateTime(), nullable=False),
        sa.Column('last_ts', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_id'], ['apis.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('api_id', 'hour', 'customer_id', 'method', 'endpoint'),
    )
    with op.batch_alter_table('rollup_hours') as batch_op:
        batch_op.create_index('ix_rollup_hours_customer', ['customer_id', 'hour'], unique=False)
        batch_op.create_index('ix_rollup_hours_hour', ['hour'], unique=False)


def _create_rollup_load_bins() -> None:
    op.create_table('rollup_load_bins', *_key(),
        sa.Column('bin', sa.SmallInteger(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['api_id'], ['apis.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('api_id', 'hour', 'customer_id', 'method', 'endpoint', 'bin'),
    )
    with op.batch_alter_table('rollup_load_bins') as batch_op:
        batch_op.create_index('ix_rollup_load_bins_hour', ['hour'], unique=False)


def downgrade() -> None:
    raise RuntimeError("Clientele migrations go forward only; restore a backup to return to an older version.")
